"""Per-stop state: what happened at each stop and what its customer was told.

Every change is persisted (table `stop_state`) before the tracker hands back what a fix, a
tick or a command produced, so a restart resumes with the same knowledge. The changes of one
input go in one transaction, and only records that really changed are written: each write is
an fsync on the gateway's flash, and writing every remaining stop on every fix (as this did
while a record kept the last P(late)) cost a 150-stop route ~150 fsync'd transactions and
32 ms per fix (19 ms of it CPU) on a desktop-class disk, before any SD card.

The outbox stays the authority on *which* messages exist: on load, any message found in the
outbox counts as sent even if the crash came before this table was written (see
`StopBook.reconcile_with_outbox`).
"""
from __future__ import annotations

import enum
import json
import operator
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field, fields


class StopState(str, enum.Enum):
    PLANNED = "planned"
    NOTIFIED = "notified"
    EN_ROUTE = "en_route"
    APPROACHING = "approaching"
    ARRIVED = "arrived"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    FAILED = "failed"

    @property
    def done(self) -> bool:
        return self in (StopState.COMPLETED, StopState.SKIPPED, StopState.FAILED)

    @property
    def visited(self) -> bool:
        return self in (StopState.ARRIVED, StopState.COMPLETED)


# the same questions as sets, for the per-fix loops over every stop (a property call each is
# most of such a loop's time): done, and still ahead of the truck (neither done nor visited)
DONE = frozenset(s for s in StopState if s.done)
AHEAD = frozenset(s for s in StopState if not s.done and not s.visited)


class Risk(str, enum.Enum):
    OK = "ok"
    AT_RISK = "at_risk"
    LATE = "late"


@dataclass(slots=True)     # slots: a mistyped or retired field is an AttributeError, not a silent new attribute
class StopRecord:
    stop_id: str
    state: StopState = StopState.PLANNED
    risk: Risk = Risk.OK
    arrived_at: float | None = None
    departed_at: float | None = None
    inside_since: float | None = None       # inside the radius and stopped since (arrival candidate)
    outside_since: float | None = None      # after arrival: outside the radius since (departure candidate)
    late_since: float | None = None         # P(late) >= threshold continuously since
    ontime_since: float | None = None       # after a delay message: P(late) low since
    announced: tuple[float, float] | None = None   # the window the customer currently believes (POSIX)
    promised: tuple[float, float] | None = None    # the manifest's window when we last announced it
    sent: dict[str, int] = field(default_factory=dict)  # kind -> how many of that kind decided
    early_flagged: bool = False
    missed_unwarned: bool = False
    expired: bool = False                   # its window ended `expire_hours` ago: customers are not told
    approach_at: float | None = None        # when the approaching message said the truck would come (POSIX)
    held_since: float | None = None         # the ETA has been held_up_minutes past that since

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    def snapshot(self) -> tuple:
        """Every field's value, for telling whether the record changed (under a microsecond,
        where the JSON row takes tens). `sent` is the one mutable field: copied."""
        return _plain_fields(self), tuple(self.sent.items())

    def to_row(self) -> str:
        d = {name: getattr(self, name) for name in _FIELDS}
        d["state"] = self.state.value
        d["risk"] = self.risk.value
        return json.dumps(d)

    @classmethod
    def from_row(cls, text: str) -> "StopRecord":
        """A stored row; fields an older release wrote and this one no longer has are ignored."""
        d = {k: v for k, v in json.loads(text).items() if k in _FIELDS}
        d["state"] = StopState(d["state"])
        d["risk"] = Risk(d["risk"])
        for k in ("announced", "promised"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)


_FIELDS = tuple(f.name for f in fields(StopRecord))
_plain_fields = operator.attrgetter(*(name for name in _FIELDS if name != "sent"))


_STOP_STATE = ("CREATE TABLE IF NOT EXISTS stop_state (route_id TEXT NOT NULL, stop_id TEXT NOT NULL,"
               " record TEXT NOT NULL, PRIMARY KEY (route_id, stop_id))")


def forget_routes(conn: sqlite3.Connection, route_ids: Iterable[str]) -> int:
    """Drop the stop records of routes long finished (see `Outbox.prune`)."""
    ids = sorted(route_ids)
    if not ids:
        return 0
    return conn.execute(f"DELETE FROM stop_state WHERE route_id IN ({','.join('?' * len(ids))})", ids).rowcount


def move_route(conn: sqlite3.Connection, old: str, new: str) -> None:
    """File one route's stop records under another id (see `_routeday.claim_day`)."""
    conn.execute(_STOP_STATE)
    conn.execute("UPDATE stop_state SET route_id=? WHERE route_id=?", (new, old))


class StopBook:
    """All stop records of one route, persisted in the state file.

    `stage` a record after changing it and `flush` once the input is handled: the records
    staged since the last flush that differ from what the file holds are written in one
    transaction.
    """

    def __init__(self, conn: sqlite3.Connection | None, route_id: str, stop_ids: list[str]) -> None:
        self._conn = conn
        self.route_id = route_id
        stored: dict[str, StopRecord] = {}
        if conn is not None:
            conn.execute(_STOP_STATE)
            for sid, rec in conn.execute("SELECT stop_id, record FROM stop_state WHERE route_id=?", (route_id,)):
                stored[sid] = StopRecord.from_row(rec)
        self.records: dict[str, StopRecord] = {sid: stored.get(sid, StopRecord(sid)) for sid in stop_ids}
        self._written: dict[str, tuple] = {sid: rec.snapshot() for sid, rec in stored.items()}
        self._staged: dict[str, StopRecord] = {}

    def __getitem__(self, stop_id: str) -> StopRecord:
        return self.records[stop_id]

    def stage(self, rec: StopRecord) -> None:
        """This record may have changed: the next `flush` writes it if it did."""
        self._staged[rec.stop_id] = rec

    def flush(self) -> int:
        """Write the staged records that changed, in one transaction; how many were written."""
        if self._conn is None:
            self._staged.clear()
            return 0
        rows = []
        for sid, rec in self._staged.items():
            snap = rec.snapshot()
            if self._written.get(sid) != snap:
                rows.append((sid, rec.to_row(), snap))
        if rows:
            conn = self._conn
            conn.execute("BEGIN")
            try:
                conn.executemany(
                    "INSERT INTO stop_state (route_id, stop_id, record) VALUES (?,?,?)"
                    " ON CONFLICT(route_id, stop_id) DO UPDATE SET record=excluded.record",
                    [(self.route_id, sid, row) for sid, row, _ in rows])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise              # still staged: the next flush tries again
        self._staged.clear()
        for sid, _, snap in rows:
            self._written[sid] = snap
        return len(rows)

    def reconcile_with_outbox(self, keys: list[str]) -> None:
        """Count every message the outbox holds for this route as decided (crash-safe dedupe)."""
        for key in keys:
            parts = key.split("/")
            if len(parts) < 4 or parts[0] != self.route_id or parts[1] not in self.records:
                continue
            rec, kind, seq = self.records[parts[1]], parts[2], int(parts[3])
            if rec.sent.get(kind, 0) < seq:
                rec.sent[kind] = seq
                self.stage(rec)
        self.flush()

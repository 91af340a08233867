"""Per-stop state: what happened at each stop and what its customer was told.

The record is persisted after every change (table `stop_state`), so a restart resumes with
the same knowledge. The outbox stays the authority on *which* messages exist: on load, any
message found in the outbox counts as sent even if the crash came before this table was
written (see `StopBook.reconcile_with_outbox`).
"""
from __future__ import annotations

import enum
import json
import sqlite3
from dataclasses import asdict, dataclass, field


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


class Risk(str, enum.Enum):
    OK = "ok"
    AT_RISK = "at_risk"
    LATE = "late"


@dataclass
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
    last_p_late: float = 0.0
    approach_at: float | None = None        # when the approaching message said the truck would come (POSIX)
    held_since: float | None = None         # the ETA has been held_up_minutes past that since

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    def to_row(self) -> str:
        d = asdict(self)
        d["state"] = self.state.value
        d["risk"] = self.risk.value
        return json.dumps(d)

    @classmethod
    def from_row(cls, text: str) -> "StopRecord":
        d = json.loads(text)
        d["state"] = StopState(d["state"])
        d["risk"] = Risk(d["risk"])
        for k in ("announced", "promised"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)


class StopBook:
    """All stop records of one route, persisted in the state file."""

    def __init__(self, conn: sqlite3.Connection | None, route_id: str, stop_ids: list[str]) -> None:
        self._conn = conn
        self.route_id = route_id
        if conn is not None:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS stop_state (route_id TEXT NOT NULL, stop_id TEXT NOT NULL,"
                " record TEXT NOT NULL, PRIMARY KEY (route_id, stop_id))")
        stored: dict[str, StopRecord] = {}
        if conn is not None:
            for sid, rec in conn.execute("SELECT stop_id, record FROM stop_state WHERE route_id=?", (route_id,)):
                stored[sid] = StopRecord.from_row(rec)
        self.records: dict[str, StopRecord] = {sid: stored.get(sid, StopRecord(sid)) for sid in stop_ids}

    def __getitem__(self, stop_id: str) -> StopRecord:
        return self.records[stop_id]

    def save(self, rec: StopRecord) -> None:
        if self._conn is not None:
            self._conn.execute(
                "INSERT INTO stop_state (route_id, stop_id, record) VALUES (?,?,?)"
                " ON CONFLICT(route_id, stop_id) DO UPDATE SET record=excluded.record",
                (self.route_id, rec.stop_id, rec.to_row()))

    def reconcile_with_outbox(self, keys: list[str]) -> None:
        """Count every message the outbox holds for this route as decided (crash-safe dedupe)."""
        for key in keys:
            parts = key.split("/")
            if len(parts) < 4 or parts[0] != self.route_id or parts[1] not in self.records:
                continue
            rec, kind, seq = self.records[parts[1]], parts[2], int(parts[3])
            if rec.sent.get(kind, 0) < seq:
                rec.sent[kind] = seq
                self.save(rec)

"""The notification outbox: every customer message, one SQLite row, from acceptance to its
delivery report.

Why a table and not a queue in memory: the truck loses power at any moment, and the
promise to customers is "at most once, never lost". A row is written (synchronous=FULL)
before anything goes out, its state is moved to `sending` before the provider is called,
and a row found in `sending` after a restart is looked up in the provider's log before
it may be sent again.

States: pending -> sending -> sent (SID) | failed (code, reason); pending -> discarded
(the stop was completed or skipped first, or the message went stale: `not_after`).
`ambiguous` marks a row whose last attempt may have reached the provider without us
hearing back.

Every method is one SQL statement (autocommit), so the connection may be shared with the
other components of the state file without transaction interleaving.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from forewarn.daemon.notify._message import FINAL_CALL, FINAL_SMS, OutgoingMessage

STATES = ("pending", "sending", "sent", "failed", "discarded")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    key             TEXT PRIMARY KEY,
    route_id        TEXT NOT NULL,
    stop_id         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    channel         TEXT NOT NULL,
    to_phone        TEXT NOT NULL,
    text            TEXT NOT NULL,
    locale          TEXT NOT NULL,
    created_at      REAL NOT NULL,
    not_before      REAL NOT NULL,
    voice_fallback  INTEGER NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',
    via             TEXT NOT NULL,             -- channel in use now (sms may fall back to voice)
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt    REAL NOT NULL DEFAULT 0,
    ambiguous       INTEGER NOT NULL DEFAULT 0,
    sid             TEXT,
    code            INTEGER,
    reason          TEXT,
    delivery_status TEXT,
    sent_at         REAL,
    updated_at      REAL NOT NULL,
    not_after       REAL                       -- NULL: never stale (see OutgoingMessage.not_after)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt);
CREATE INDEX IF NOT EXISTS outbox_route ON outbox (route_id, stop_id);
"""

_COLS = ("key, route_id, stop_id, kind, channel, to_phone, text, locale, created_at, not_before, "
         "voice_fallback, state, via, attempts, next_attempt, ambiguous, sid, code, reason, "
         "delivery_status, sent_at, updated_at, not_after")


class OutboxError(Exception):
    """An outbox operation named a row that does not exist or is not in a state that allows it."""


@dataclass(frozen=True)
class OutboxRow:
    """A snapshot of one row. `via` is the channel actually used (after a voice fallback)."""

    msg: OutgoingMessage
    state: str
    via: str
    attempts: int
    next_attempt: float
    ambiguous: bool
    sid: str | None
    code: int | None
    reason: str | None
    delivery_status: str | None
    sent_at: float | None
    updated_at: float

    @property
    def key(self) -> str:
        return self.msg.key

    @property
    def route_id(self) -> str:
        return self.msg.route_id

    @property
    def stop_id(self) -> str:
        return self.msg.stop_id

    @property
    def kind(self) -> str:
        return self.msg.kind

    @property
    def channel(self) -> str:
        return self.msg.channel

    @property
    def to(self) -> str:
        return self.msg.to


def _row(r: tuple) -> OutboxRow:
    msg = OutgoingMessage(key=r[0], route_id=r[1], stop_id=r[2], kind=r[3], channel=r[4], to=r[5],
                          text=r[6], locale=r[7], created_at=r[8], not_before=r[9],
                          voice_fallback=bool(r[10]), not_after=r[22])
    return OutboxRow(msg=msg, state=r[11], via=r[12], attempts=r[13], next_attempt=r[14],
                     ambiguous=bool(r[15]), sid=r[16], code=r[17], reason=r[18],
                     delivery_status=r[19], sent_at=r[20], updated_at=r[21])


class Outbox:
    """SQLite-backed outbox. Safe to call from worker threads (one statement at a time)."""

    def __init__(self, conn: sqlite3.Connection, *, clock=time.time) -> None:
        self._db = conn
        self._clock = clock
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(_SCHEMA)
            # a state file written before `not_after` existed (its rows: never stale)
            if "not_after" not in {c[1] for c in self._db.execute("PRAGMA table_info(outbox)")}:
                self._db.execute("ALTER TABLE outbox ADD COLUMN not_after REAL")

    # -- writing -----------------------------------------------------------------------
    def enqueue(self, msg: OutgoingMessage) -> bool:
        """Accept a message; False if its key exists already (then nothing changes)."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO outbox (key, route_id, stop_id, kind, channel, to_phone, text,"
                " locale, created_at, not_before, voice_fallback, via, next_attempt, updated_at, not_after)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (msg.key, msg.route_id, msg.stop_id, msg.kind, msg.channel, msg.to, msg.text,
                 msg.locale, msg.created_at, msg.not_before, int(msg.voice_fallback), msg.channel,
                 msg.not_before, self._clock(), msg.not_after))
            return cur.rowcount == 1

    def _update(self, key: str, sql: str, args: tuple, from_states: tuple[str, ...]) -> None:
        marks = ",".join("?" * len(from_states))
        with self._lock:
            cur = self._db.execute(
                f"UPDATE outbox SET {sql}, updated_at=? WHERE key=? AND state IN ({marks})",
                (*args, self._clock(), key, *from_states))
        if cur.rowcount != 1:
            raise OutboxError(f"outbox row {key!r} not found in state {from_states}")

    def mark_sending(self, key: str) -> None:
        """Written (and synced) before the provider is called: the crash-recovery marker."""
        self._update(key, "state='sending', attempts=attempts+1", (), ("pending",))

    def mark_sent(self, key: str, sid: str, *, via: str | None = None, status: str | None = None) -> None:
        self._update(key, "state='sent', sid=?, via=COALESCE(?, via), delivery_status=?, sent_at=?,"
                     " ambiguous=0, code=NULL, reason=NULL",
                     (sid, via, status, self._clock()), ("sending", "pending"))

    def mark_failed(self, key: str, code: int | None, reason: str) -> None:
        self._update(key, "state='failed', code=?, reason=?, ambiguous=0", (code, reason),
                     ("sending", "pending"))

    def expire(self, key: str, reason: str) -> None:
        """A pending message past its `not_after`: discarded, with why."""
        self._update(key, "state='discarded', reason=?, ambiguous=0", (reason,), ("pending",))

    def retry_later(self, key: str, at: float, reason: str, *, ambiguous: bool = False,
                    code: int | None = None) -> None:
        """Back to pending until `at`. `ambiguous` rows are looked up before the next send."""
        self._update(key, "state='pending', next_attempt=?, reason=?, code=?, ambiguous=?",
                     (at, reason, code, int(ambiguous)), ("sending", "pending"))

    def set_via(self, key: str, via: str) -> None:
        """Switch the channel of a row still being worked on (SMS 21614 -> voice call)."""
        self._update(key, "via=?", (via,), ("sending", "pending"))

    def set_delivery_status(self, key: str, status: str) -> None:
        self._update(key, "delivery_status=?", (status,), ("sent",))

    def discard_for_stop(self, route_id: str, stop_id: str, kinds: Iterable[str] | None = None) -> int:
        """Cancel still-pending messages for a stop (completed/skipped): nothing goes out
        for it any more. Rows already `sending` are left alone — they may be out."""
        sql = "UPDATE outbox SET state='discarded', updated_at=? WHERE route_id=? AND stop_id=? AND state='pending'"
        args: list = [self._clock(), route_id, stop_id]
        if kinds is not None:
            kinds = list(kinds)
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args += kinds
        with self._lock:
            return self._db.execute(sql, args).rowcount

    def move_route(self, old: str, new: str) -> None:
        """File one route's messages under another id, keys included (see
        `_routeday.claim_day`). A row being sent right now keeps its key: the sender is
        about to mark it by that key."""
        with self._lock:
            self._db.execute("UPDATE outbox SET route_id=?, key=? || substr(key, ?) WHERE route_id=? AND state!='sending'",
                             (new, new, len(old) + 1, old))

    def prune(self, before: float) -> set[str]:
        """Delete finished rows (sent, failed, discarded) last changed before `before`: a
        gateway runs for years, and every status poll and start-up check reads this table.
        Returns the routes left with no row at all (their stop states can go too)."""
        final = "state IN ('sent','failed','discarded') AND updated_at<?"
        with self._lock:
            routes = {r[0] for r in self._db.execute(f"SELECT DISTINCT route_id FROM outbox WHERE {final}", (before,))}
            if not routes:
                return set()
            self._db.execute(f"DELETE FROM outbox WHERE {final}", (before,))
            marks = ",".join("?" * len(routes))
            left = {r[0] for r in self._db.execute(
                f"SELECT DISTINCT route_id FROM outbox WHERE route_id IN ({marks})", tuple(routes))}
        return routes - left

    # -- reading -----------------------------------------------------------------------
    def _select(self, where: str, args: tuple = (), tail: str = "ORDER BY created_at, rowid") -> list[OutboxRow]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLS} FROM outbox WHERE {where} {tail}", args).fetchall()
        return [_row(r) for r in rows]

    def due(self, now: float, limit: int = 50) -> list[OutboxRow]:
        """Pending rows whose hold (quiet hours, backoff) has passed, oldest first."""
        return self._select("state='pending' AND not_before<=? AND next_attempt<=?", (now, now),
                            f"ORDER BY next_attempt, created_at, rowid LIMIT {int(limit)}")

    def next_due_at(self) -> float | None:
        """When the earliest pending row becomes due (for the Sender's sleep)."""
        with self._lock:
            r = self._db.execute("SELECT MIN(MAX(not_before, next_attempt)) FROM outbox"
                                 " WHERE state='pending'").fetchone()
        return r[0]

    def get(self, key: str) -> OutboxRow | None:
        rows = self._select("key=?", (key,))
        return rows[0] if rows else None

    def rows(self, route_id: str | None = None) -> list[OutboxRow]:
        if route_id is None:
            return self._select("1=1")
        return self._select("route_id=?", (route_id,))

    def in_state(self, state: str) -> list[OutboxRow]:
        if state not in STATES:
            raise ValueError(f"unknown outbox state {state!r}")
        return self._select("state=?", (state,))

    def awaiting_status(self, sent_after: float = 0.0) -> list[OutboxRow]:
        """Sent rows (sent after `sent_after`) whose delivery status is not final yet."""
        final = sorted(FINAL_SMS | FINAL_CALL)
        marks = ",".join("?" * len(final))
        return self._select(f"state='sent' AND sid IS NOT NULL AND sent_at>=? AND"
                            f" (delivery_status IS NULL OR delivery_status NOT IN ({marks}))",
                            (sent_after, *final))

    def sids(self) -> frozenset[str]:
        with self._lock:
            return frozenset(r[0] for r in self._db.execute("SELECT sid FROM outbox WHERE sid IS NOT NULL"))

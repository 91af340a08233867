"""The state file, guarded: a gateway whose disk is full or read-only keeps working.

If the file cannot be opened (read-only filesystem, permissions, corrupt), forewarn says so
loudly and runs on an in-memory database: customers are still warned, and the log and the
`status` topic say that a restart would forget what was sent.
"""
from __future__ import annotations

import logging
import sqlite3

from .store import open_db

log = logging.getLogger("forewarn.state")


class StateStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self.error = ""
        try:
            self.conn = open_db(path)
            self.conn.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
            ok = self.conn.execute("PRAGMA quick_check").fetchone()[0]
            if ok != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {ok}")
            self.writable = True
        except (sqlite3.Error, OSError) as e:
            self.error = str(e)
            log.critical("STATE FILE %s UNUSABLE (%s): running on in-memory state; a restart will forget "
                         "which messages were sent", path, e)
            self.conn = open_db(":memory:")
            self.writable = False

    def describe(self) -> dict:
        return {"path": self.path, "ok": self.writable, **({"error": self.error} if self.error else {})}

    def maybe_recover(self) -> None:
        """Hook for the tick: nothing to do while the file is healthy."""

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass


def open_state(path: str) -> StateStore:
    return StateStore(path)

"""The state file, guarded: a gateway whose disk is full or read-only keeps working.

Two ways the file can fail us, one answer: say so loudly (a CRITICAL log line, and
`state_store.ok = false` on the `status` topic) and carry on from memory, so customers are
still warned and nobody is warned twice.

- It cannot be opened at start (read-only filesystem, permissions, corrupt): we run on an
  empty in-memory database. If there was no file yet (a new gateway, or its first start on a
  full disk) nothing can be lost by creating it later, so the store retries like below and
  writes its copy into the file once it can (only into an empty one). An existing file we
  cannot open is left alone for good: overwriting it would destroy its history.
- It stops taking writes while we run (disk full, quota, file-size limit, I/O error): the
  `GuardedConnection` every component holds catches the failed statement, copies the file's
  committed content into memory (sqlite3 `backup`, which only reads), re-runs the
  statement there (and the open transaction's earlier statements, if it failed inside
  one) and from then on serves everything from memory. The tick calls `maybe_recover()`:
  every `RECOVER_EVERY_S` it tries to copy the in-memory database back into the file, in
  one write transaction; when that succeeds the file is authoritative again.

Why one proxy instead of handling errors in each component: the outbox, the stop book, the
MQTT event queue and the learned history all just call `execute()`. A statement that fails
for lack of space has changed nothing (SQLite rolls it back), so re-running it on the copy
is exact, and none of them needs to know the storage moved.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from typing import Any

from .store import open_db

log = logging.getLogger("forewarn.state")

#: How often a degraded store tries to write itself back to the file.
RECOVER_EVERY_S = 2.0

# Primary result codes that mean "the storage refuses writes", not "your SQL is wrong":
# SQLITE_FULL (ENOSPC), SQLITE_IOERR (EFBIG past a file-size limit, EIO, EROFS),
# SQLITE_READONLY (the file or its directory became read-only), SQLITE_CANTOPEN (the WAL).
_STORAGE_CODES = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY,
                            sqlite3.SQLITE_CANTOPEN})


def is_storage_failure(e: sqlite3.Error) -> bool:
    code = getattr(e, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _STORAGE_CODES
    msg = str(e)
    return any(s in msg for s in ("disk is full", "disk I/O error", "readonly database", "unable to open"))


def _verb(sql: str) -> str:
    return sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""


class GuardedConnection:
    """A `sqlite3.Connection` look-alike (execute, executemany, executescript; anything else
    is passed to the database in use) that moves to memory when the file refuses writes.

    Thread-safe in the same sense as the connection it wraps: one statement at a time.
    """

    def __init__(self, path: str, conn: sqlite3.Connection | None, *, error: str = "") -> None:
        """`conn` None: the file could not be created at all (a new state file on a full
        disk); start on memory and create the file when the disk takes writes."""
        self.path = path
        self._file: sqlite3.Connection | None = conn
        self._mem: sqlite3.Connection | None = None if conn is not None else open_db(":memory:")
        # a file we never had must still be empty when we write our copy into it
        self._only_into_empty = conn is None
        self._lock = threading.RLock()
        self._txn: list[tuple[str, str, Any]] | None = None   # statements since BEGIN, for a replay
        self.error = error
        self.failovers = 0
        self.recoveries = 0

    # -- what the components call -------------------------------------------------------------
    @property
    def degraded(self) -> bool:
        return self._mem is not None

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        return self._run("execute", sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> sqlite3.Cursor:
        return self._run("executemany", sql, list(seq_of_parameters))   # a list: it may run twice

    def executescript(self, script: str) -> sqlite3.Cursor:
        return self._run("executescript", script, None)

    def __getattr__(self, name: str) -> Any:   # in_transaction, total_changes, ...
        return getattr(self._db(), name)

    def close(self) -> None:
        with self._lock:
            for c in (self._mem, self._file):
                if c is not None:
                    try:
                        c.close()
                    except sqlite3.Error:
                        pass

    # -- the guard ----------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db = self._mem if self._mem is not None else self._file
        assert db is not None
        return db

    @staticmethod
    def _call(db: sqlite3.Connection, method: str, sql: str, args: Any) -> sqlite3.Cursor:
        if method == "executescript":
            return db.executescript(sql)
        return getattr(db, method)(sql, args)

    def _run(self, method: str, sql: str, args: Any) -> sqlite3.Cursor:
        with self._lock:
            verb = _verb(sql) if method != "executescript" else ""
            try:
                cur = self._call(self._db(), method, sql, args)
            except sqlite3.OperationalError as e:
                if self.degraded or not is_storage_failure(e):
                    raise
                self._fail_over(e)
                cur = self._call(self._db(), method, sql, args)
            self._track(verb, method, sql, args)
            return cur

    def _track(self, verb: str, method: str, sql: str, args: Any) -> None:
        """Remember an explicit transaction's statements: if a later one fails for lack of
        space, the whole transaction is re-run on the copy."""
        if verb == "BEGIN":
            self._txn = [(method, sql, args)]
        elif verb in ("COMMIT", "END", "ROLLBACK"):
            self._txn = None
        elif self._txn is not None:
            self._txn.append((method, sql, args))

    def _fail_over(self, e: sqlite3.Error) -> None:
        assert self._file is not None
        self.error = f"{e} (sqlite {getattr(e, 'sqlite_errorname', '?')})"
        log.critical("STATE FILE %s REFUSES WRITES (%s): running on an in-memory copy; a crash now would forget "
                     "what was sent since; retrying the file every %.0f s", self.path, self.error, RECOVER_EVERY_S)
        if self._file.in_transaction:
            try:
                self._file.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        mem = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        try:
            self._file.backup(mem)   # reads only: the committed state, which the failed statement did not touch
        except sqlite3.Error:
            # the old connection may be stuck in SQLite's error state: read through a fresh one
            fresh = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
            try:
                fresh.backup(mem)
            finally:
                fresh.close()
        mem.execute("PRAGMA foreign_keys=ON")
        try:
            self._file.close()
        except sqlite3.Error:
            pass
        self._file = None
        self._mem = mem
        self.failovers += 1
        for method, sql, args in self._txn or ():   # the transaction the failure interrupted
            self._call(mem, method, sql, args)

    def try_recover(self) -> bool:
        """Copy the in-memory state back into the file; True if the file is in use again."""
        with self._lock:
            if self._mem is None:
                return True
            if self._txn is not None:   # never in the middle of someone's transaction
                return False
            try:
                fresh = open_db(self.path)
            except (sqlite3.Error, OSError) as e:
                log.debug("state file still unusable: %s", e)
                return False
            try:
                if self._only_into_empty and fresh.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
                    fresh.close()
                    log.error("state file %s appeared with content of its own: not overwriting it with the "
                              "in-memory state; staying on memory", self.path)
                    return False
                self._mem.backup(fresh)   # one write transaction: all or nothing
                ok = fresh.execute("PRAGMA quick_check").fetchone()[0]
                if ok != "ok":
                    raise sqlite3.DatabaseError(f"integrity check after copy-back: {ok}")
            except sqlite3.Error as e:
                log.debug("state file still refuses writes: %s", e)
                try:
                    fresh.close()
                except sqlite3.Error:
                    pass
                return False
            self._mem.close()
            self._mem = None
            self._file = fresh
            self._only_into_empty = False
            self.error = ""
            self.recoveries += 1
            log.warning("state file %s takes writes again: in-memory state copied back, running on the file", self.path)
            return True


class StateStore:
    """Owner of the state file's connection; `conn` is what every component uses."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._open_error = ""
        self._next_try = 0.0
        self.guard: GuardedConnection | None = None
        try:
            conn = open_db(path)
            conn.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
            ok = conn.execute("PRAGMA quick_check").fetchone()[0]
            if ok != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {ok}")
            self.guard = GuardedConnection(path, conn)
            self.conn: sqlite3.Connection | GuardedConnection = self.guard
        except (sqlite3.Error, OSError) as e:
            if _absent_or_empty(path):
                # nothing to lose in that file: run on memory, create it when the disk lets us
                log.critical("STATE FILE %s CANNOT BE CREATED (%s): running on in-memory state; retrying the "
                             "file every %.0f s; a restart before then forgets which messages were sent",
                             path, e, RECOVER_EVERY_S)
                self.guard = GuardedConnection(path, None, error=str(e))
                self.conn = self.guard
                return
            self._open_error = str(e)
            log.critical("STATE FILE %s UNUSABLE (%s): running on in-memory state; a restart will forget "
                         "which messages were sent", path, e)
            self.conn = open_db(":memory:")

    @property
    def writable(self) -> bool:
        """True while what we write lands in the file."""
        return self.guard is not None and not self.guard.degraded

    @property
    def error(self) -> str:
        return self._open_error or (self.guard.error if self.guard is not None else "")

    def describe(self) -> dict:
        """The `state_store` part of the `status` topic."""
        return {"path": self.path, "ok": self.writable, "mode": "file" if self.writable else "memory",
                **({"error": self.error} if self.error else {})}

    def maybe_recover(self) -> None:
        """From the tick: a store that fell back to memory mid-run tries the file again."""
        if self.guard is None or not self.guard.degraded or time.monotonic() < self._next_try:
            return
        self._next_try = time.monotonic() + RECOVER_EVERY_S
        self.guard.try_recover()

    def close(self) -> None:
        """On shutdown a degraded store makes one last attempt to write its state back."""
        if self.guard is not None and self.guard.degraded and not self.guard.try_recover():
            log.critical("state file %s still refuses writes at shutdown: what changed since it failed is lost",
                         self.path)
        try:
            self.conn.close()
        except sqlite3.Error:
            pass


def _absent_or_empty(path: str) -> bool:
    """No state file yet, or one SQLite created with no page in it before it failed."""
    try:
        return os.path.getsize(path) == 0
    except OSError:
        return True


def open_state(path: str) -> StateStore:
    return StateStore(path)

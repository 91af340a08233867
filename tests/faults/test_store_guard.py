"""GuardedConnection against a real full disk (a small tmpfs), statement by statement.

The daemon-level test (test_disk_full.py) shows the behaviour customers see; this one pins
the mechanics it relies on: a failed write changes nothing and is re-run on the in-memory
copy, a transaction interrupted by the failure is replayed whole, errors that are not about
storage still reach the caller, and the copy goes back into the file once space returns.
"""
from __future__ import annotations

import sqlite3

import pytest

from forewarn.daemon._store_guard import GuardedConnection, StateStore

from ._disk import TmpfsDisk


@pytest.fixture
def disk(tmp_path):
    d = TmpfsDisk(tmp_path / "disk", size="1m")
    yield d
    d.close()


def _fill_until_sqlite_refuses(db: GuardedConnection, disk: TmpfsDisk) -> None:
    disk.fill(0)
    # the WAL may still have room in pages it already owns: write until the guard moves
    for i in range(10_000):
        db.execute("INSERT INTO t (v) VALUES (?)", (f"fill-{i}" * 50,))
        if db.degraded:
            return
    raise AssertionError("the disk never refused a write")


def test_failed_writes_move_to_memory_and_come_back(disk):
    store = StateStore(str(disk.dir / "state.db"))
    db = store.conn
    assert isinstance(db, GuardedConnection) and store.describe()["ok"] is True
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    db.execute("INSERT INTO t (v) VALUES ('before')")

    _fill_until_sqlite_refuses(db, disk)
    st = store.describe()
    assert st["ok"] is False and st["mode"] == "memory" and "full" in st["error"], st
    rows = db.execute("SELECT COUNT(*) FROM t").fetchone()[0]
    assert db.execute("SELECT v FROM t WHERE id = 1").fetchone()[0] == "before"

    # a transaction that the full disk interrupts is replayed whole on the copy
    db.execute("BEGIN")
    db.executemany("INSERT INTO t (v) VALUES (?)", [("txn-a",), ("txn-b",)])
    db.execute("COMMIT")
    assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == rows + 2
    # SQL mistakes are still the caller's
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        db.execute("SELECT * FROM nope")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO t (id, v) VALUES (1, 'dup')")

    store.maybe_recover()
    assert db.degraded, "no space yet: still on memory"
    disk.free(0)
    assert db.try_recover()
    assert store.describe() == {"path": str(disk.dir / "state.db"), "ok": True, "mode": "file"}
    db.execute("INSERT INTO t (v) VALUES ('after')")
    store.close()

    other = sqlite3.connect(disk.dir / "state.db")
    assert other.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    vs = [v for (v,) in other.execute("SELECT v FROM t ORDER BY id")]
    assert vs[0] == "before" and vs[-3:] == ["txn-a", "txn-b", "after"] and len(vs) == rows + 3
    other.close()


def test_a_transaction_failing_at_commit_is_replayed_on_the_copy(disk):
    db = StateStore(str(disk.dir / "state.db")).conn
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    disk.fill(0)
    big = "x" * 200_000      # more than the WAL's spare pages: the COMMIT cannot be written
    db.execute("BEGIN")
    db.execute("INSERT INTO t (v) VALUES (?)", (big,))
    db.executemany("INSERT INTO t (v) VALUES (?)", [(big,), (big,)])
    db.execute("COMMIT")
    assert db.degraded
    assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 3
    assert not db.in_transaction
    db.close()


def test_a_state_file_that_cannot_be_created_is_created_once_space_returns(disk):
    disk.fill(0)
    store = StateStore(str(disk.dir / "state.db"))
    db = store.conn
    assert store.describe()["ok"] is False and "full" in store.describe()["error"]
    db.execute("CREATE TABLE t (v TEXT)")
    db.execute("INSERT INTO t VALUES ('from memory')")
    store.maybe_recover()
    assert db.degraded
    disk.free(0)
    assert db.try_recover() and store.writable
    store.close()
    other = sqlite3.connect(disk.dir / "state.db")
    assert other.execute("SELECT v FROM t").fetchall() == [("from memory",)]
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()

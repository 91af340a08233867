"""Looking into the daemon's state file from outside, the way an operator would with sqlite3."""
from __future__ import annotations

import sqlite3
from pathlib import Path


def _open(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def integrity(path: Path) -> str:
    """`PRAGMA integrity_check` of the file (and its WAL) as another process sees it."""
    db = _open(path)
    try:
        return "; ".join(r[0] for r in db.execute("PRAGMA integrity_check"))
    finally:
        db.close()


def queued_seqs(path: Path) -> list[int]:
    """The `seq` of every event waiting in the durable MQTT queue."""
    db = _open(path)
    try:
        return [r[0] for r in db.execute("SELECT seq FROM mqtt_queue ORDER BY seq")]
    except sqlite3.OperationalError:   # table not created yet
        return []
    finally:
        db.close()


def outbox(path: Path) -> dict[str, str]:
    """key -> state of every outbox row."""
    db = _open(path)
    try:
        return {k: s for k, s in db.execute("SELECT key, state FROM outbox")}
    finally:
        db.close()

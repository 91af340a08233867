"""The one SQLite file that holds everything forewarn must not lose.

Every component (outbox, MQTT queue, stop states, learned history) keeps its own tables in
this file and creates them itself with CREATE TABLE IF NOT EXISTS. WAL with synchronous=FULL:
with NORMAL a committed row can vanish on power loss, and trucks lose power abruptly
(FIELD-NOTES).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path


def open_db(path: str | Path) -> sqlite3.Connection:
    """Open (creating if needed) the state file with the durability settings we rely on.

    `":memory:"` gives a private in-memory database (tests, demo without `--state`).
    The connection may be used from worker threads (`asyncio.to_thread`), but by one at a time.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn

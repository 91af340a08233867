"""One route id, one service day.

Dispatch systems that name routes rather than number them reuse an id every day ("R-17").
Stop records and outbox keys are kept by route id, so yesterday's completed stops and sent
messages would be today's: no message would go out, every stop would look done. The first
time an id is seen its service day is recorded; when it comes back for another day, the
earlier day's records and messages move under `<id>@<day>` (kept, and pruned like any
finished route) and the new day starts clean. A new version of the same day's route keeps
everything, as before.
"""
from __future__ import annotations

import sqlite3
from zoneinfo import ZoneInfo

from forewarn.daemon.outbox import Outbox
from forewarn.eta import Route

from ._stops import move_route


def service_day(route: Route) -> str:
    """The local date (route's zone) of its earliest window: the day it is driven for."""
    tz = ZoneInfo(route.timezone)
    return min(s.window.start for s in route.stops).astimezone(tz).date().isoformat()


def claim_day(conn: sqlite3.Connection, outbox: Outbox, route: Route) -> str | None:
    """Record `route`'s service day under its id; if the id last served another day, move that
    day's stop records and messages under `<id>@<that day>` first. Returns that day, if any.
    (A state file from before this table: the id's records are taken as this day's.)"""
    conn.execute("CREATE TABLE IF NOT EXISTS route_day (route_id TEXT PRIMARY KEY, day TEXT NOT NULL)")
    day = service_day(route)
    row = conn.execute("SELECT day FROM route_day WHERE route_id=?", (route.route_id,)).fetchone()
    if row is None:
        conn.execute("INSERT INTO route_day (route_id, day) VALUES (?, ?)", (route.route_id, day))
        return None
    if row[0] == day:
        return None
    kept_as = f"{route.route_id}@{row[0]}"
    conn.execute("BEGIN")
    try:
        move_route(conn, route.route_id, kept_as)
        outbox.move_route(route.route_id, kept_as)
        conn.execute("UPDATE route_day SET day=? WHERE route_id=?", (day, route.route_id))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return row[0]

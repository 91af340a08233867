"""The state file does not grow for ever: finished messages and their routes' stop states go
after `[state] keep_days`, by GPS time, never the route in hand, never in a replay."""
from __future__ import annotations

import time

from forewarn.config import load_settings
from forewarn.daemon._runtime import Daemon
from forewarn.daemon._stops import StopBook, StopRecord, StopState
from forewarn.daemon.notify import OutgoingMessage
from forewarn.daemon.outbox import Outbox

from .helpers import write_config

DAY = 86400.0


def _finished_route(conn, route_id: str, at: float) -> None:
    """A route served at `at`: one message sent, one stop record completed."""
    ob = Outbox(conn, clock=lambda: at)
    key = f"{route_id}/S1/delivered/1"
    ob.enqueue(OutgoingMessage(key=key, route_id=route_id, stop_id="S1", kind="delivered", channel="sms",
                               to="+14165550123", text="done", created_at=at))
    ob.mark_sending(key)
    ob.mark_sent(key, "SM" + route_id)
    book = StopBook(conn, route_id, ["S1"])
    book["S1"].state = StopState.COMPLETED
    book.stage(book["S1"])
    book.flush()


def _routes_in(conn, table: str) -> set[str]:
    return {r[0] for r in conn.execute(f"SELECT DISTINCT route_id FROM {table}")}


def test_old_routes_go_recent_ones_and_the_current_one_stay(tmp_path):
    config = write_config(tmp_path, broker_url="mqtt://127.0.0.1:1")
    config.write_text(config.read_text().replace('source = "file"', 'source = "mqtt"'))
    d = Daemon(load_settings(config), config_path=str(config))
    d.scan_routes_dir()                                        # the demo route: the one in hand
    current = d.tracker.route.route_id
    now = time.time()
    _finished_route(d.conn, "LAST-MONTH", now - 45 * DAY)
    _finished_route(d.conn, "LAST-WEEK", now - 7 * DAY)
    _finished_route(d.conn, current, now - 45 * DAY)           # re-sent manifest of an old id: kept while in hand
    d.prune_state()
    assert "LAST-MONTH" in _routes_in(d.conn, "outbox"), "no GPS time yet: nothing is deleted"
    d._last_fix_t, d._gps_offset = now, 0.0                    # a fix: the clock is GPS time now
    d.prune_state()
    assert _routes_in(d.conn, "outbox") == {"LAST-WEEK"}
    assert _routes_in(d.conn, "stop_state") == {"LAST-WEEK", current}
    assert StopRecord.from_row(d.conn.execute("SELECT record FROM stop_state WHERE route_id='LAST-WEEK'")
                               .fetchone()[0]).state is StopState.COMPLETED
    d.state.close()

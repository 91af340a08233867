"""A visit the fixes did not see: the truck stood in a stop's radius, the GPS went quiet (an
underground dock, or the ignition off at the door and the gateway with it) and came back with
the truck elsewhere. The stop was served; without this it was "passed without stopping" when
the truck reached the next one, and its customer never heard "delivered". A gap that a
crawling truck spends driving on (a tunnel) is not a visit."""
from __future__ import annotations

from forewarn.config import AlertSettings
from forewarn.daemon._tracker import RouteTracker
from forewarn.daemon.outbox import Outbox
from forewarn.daemon.store import open_db
from tests.eta.geom import T0, fix, out_and_back, route, stop

S1, S2 = stop("S1", 1500.0, 0.0), stop("S2", 2950.0, 0.0)
ALERTS = AlertSettings(arrival_dwell_s=20)


def _tracker(conn) -> RouteTracker:
    return RouteTracker(route(out_and_back(), [S1, S2]), ALERTS, Outbox(conn), conn=conn)


def _to_s1(t: RouteTracker, arrive_v: float, stand_s: int) -> tuple[list[dict], int]:
    """Drive at 8 m/s to 40 m before S1, then into its radius at `arrive_v`, `stand_s` fixes there."""
    events, k = [], 0
    for k in range(183):                            # 0 .. 1456 m
        events += t.on_fix(fix(k, 8.0 * k, 0.0, 8.0)).events
    x = 8.0 * k
    for j in range(stand_s):
        x += arrive_v
        k += 1
        events += t.on_fix(fix(k, x, 0.0, arrive_v)).events
    return events, k


def _after_gap(t: RouteTracker, t0: float, x0: float, seconds: int = 30) -> list[dict]:
    events = []
    for i in range(seconds):
        events += t.on_fix(fix(t0 + i, x0 + 8.0 * i, 0.0, 8.0)).events
    return events


def _kinds(events: list[dict], stop_id: str) -> list[str]:
    return [e["type"] if e["type"] != "stop_state" else e["state"] for e in events
            if e.get("stop_id") == stop_id and e["type"] in ("arrival", "departure", "stop_state")]


def test_a_stop_served_while_the_gps_was_silent_is_visited_and_delivered():
    conn = open_db(":memory:")
    t = _tracker(conn)
    events, k = _to_s1(t, 0.0, 5)                   # stood 5 s (the arrival needs 20), then nothing
    assert "arrival" not in _kinds(events, "S1")
    events = _after_gap(t, k + 360, 1650.0)          # six minutes later, 200 m on, driving
    arrival = [e for e in events if e["type"] == "arrival" and e["stop_id"] == "S1"]
    assert arrival and arrival[0]["gps_gap"]["to"] > arrival[0]["gps_gap"]["from"]
    assert _kinds(events, "S1") == ["arrival", "arrived", "departure", "completed"]
    rec, back = t.record("S1"), T0.timestamp() + k + 360
    assert rec.arrived_at == T0.timestamp() + k - 4             # where it first stood
    assert rec.arrived_at < rec.departed_at <= back - 150.0 / 5.0 + 0.01   # left before it could be 150 m on


def test_a_restart_across_the_visit_still_sees_it():
    """The ignition off at the door: the gateway goes down with it; the persisted `inside_since`
    is all the new process has."""
    conn = open_db(":memory:")
    t = _tracker(conn)
    _, k = _to_s1(t, 0.0, 5)
    again = _tracker(conn)                          # a new process on the same state file
    events = _after_gap(again, k + 600, 1700.0)
    assert _kinds(events, "S1") == ["arrival", "arrived", "departure", "completed"]


def test_a_crawl_into_a_tunnel_is_not_a_visit():
    """1 m/s through the radius (a queue), 45 s without fixes, back 300 m on at speed: the gap
    was spent driving. S1 stays ahead (and is passed when S2 is served, as without a gap)."""
    conn = open_db(":memory:")
    t = _tracker(conn)
    events, k = _to_s1(t, 1.0, 10)
    x = 1456.0 + 10.0
    events = _after_gap(t, k + 45, x + 300.0)
    assert "arrival" not in _kinds(events, "S1")
    assert t.record("S1").state.value not in ("arrived", "completed")


def test_a_short_standstill_and_a_short_gap_are_not_a_visit():
    """Stopped 5 s in the radius (a give-way), 20 s of dropout, back 60 m on: 5 + 20 - 12 s of
    standing is under a minute."""
    conn = open_db(":memory:")
    t = _tracker(conn)
    events, k = _to_s1(t, 0.0, 5)
    events = _after_gap(t, k + 20, 1516.0 + 60.0)
    assert "arrival" not in _kinds(events, "S1")


def test_a_tracker_that_reports_every_two_minutes_is_not_silent_between_reports():
    """An MQTT-fed tracker on a two-minute cadence: one report standing at a light in S1's
    radius, the next 120 s later 300 m on. That is its pace, not a gap: no visit."""
    conn = open_db(":memory:")
    t = _tracker(conn)
    events = []
    for k in range(12):                                    # 0 .. 1320 m, every 120 s at 1 m/s average
        events += t.on_fix(fix(120.0 * k, 120.0 * k, 0.0, 8.0)).events
    events += t.on_fix(fix(120.0 * 12, 1490.0, 0.0, 0.0)).events    # at the light in S1's radius
    events += t.on_fix(fix(120.0 * 13, 1790.0, 0.0, 8.0)).events
    assert "arrival" not in _kinds(events, "S1")

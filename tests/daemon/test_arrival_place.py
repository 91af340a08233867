"""Arrival detection knows where along the route the truck is: standing at a red light in the
radius of a stop the route reaches only later (an out-and-back passes it on the way out) is
not a visit, while a driver who really serves that stop first is still seen, a little later."""
from __future__ import annotations

from forewarn.config import AlertSettings
from forewarn.daemon._tracker import OUT_OF_PLACE_DWELL_S, RouteTracker
from forewarn.daemon.outbox import Outbox
from forewarn.daemon.store import open_db
from tests.eta.geom import fix, out_and_back, route, stop

V = 8.0
# out east along y=0 to x=3000, back west along y=8: S1 at the far end, S2 on the way back at
# x=1000, 40 m from where the truck passes it on the way out
S1, S2 = stop("S1", 2950.0, 0.0), stop("S2", 1000.0, 30.0)
ALERTS = AlertSettings(arrival_dwell_s=20)


def _tracker() -> RouteTracker:
    conn = open_db(":memory:")
    return RouteTracker(route(out_and_back(), [S1, S2]), ALERTS, Outbox(conn), conn=conn)


def _drive(tracker: RouteTracker, legs: list[tuple[float, float, float]]) -> list[dict]:
    """legs of (x from, x to, seconds standing at the end) along y=0 eastwards or y=8 westwards."""
    events: list[dict] = []
    t = 0
    for x0, x1, stand in legs:
        y = 0.0 if x1 >= x0 else 8.0
        n = int(abs(x1 - x0) / V)
        for i in range(n + 1):
            x = x0 + (x1 - x0) * i / max(n, 1)
            events += tracker.on_fix(fix(t, x, y, V if i < n else 0.0)).events
            t += 1
        for _ in range(int(stand)):
            events += tracker.on_fix(fix(t, x1, y, 0.0)).events
            t += 1
    return events


def _visits(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["type"], e["stop_id"]) for e in events if e["type"] in ("arrival", "departure")] + \
        [("skipped", e["stop_id"]) for e in events if e["type"] == "stop_state" and e.get("state") == "skipped"]


def test_a_red_light_beside_a_later_stop_is_not_a_visit():
    t = _tracker()
    events = _drive(t, [(0.0, 1000.0, 45.0),            # 45 s at a light beside S2, heading out
                        (1000.0, 2950.0, 60.0),         # S1: served
                        (2950.0, 1000.0, 60.0),         # S2 on the way back: served
                        (1000.0, 0.0, 0.0)])
    assert _visits(events) == [("arrival", "S1"), ("departure", "S1"), ("arrival", "S2"), ("departure", "S2")]


def test_a_driver_who_serves_the_later_stop_first_is_still_seen():
    t = _tracker()
    events = _drive(t, [(0.0, 1000.0, OUT_OF_PLACE_DWELL_S + 30.0),   # S2 first, out of order
                        (1000.0, 1500.0, 0.0)])
    visits = _visits(events)
    assert ("arrival", "S2") in visits and ("skipped", "S1") in visits


def test_a_stop_whose_run_has_not_begun_is_not_visited_by_standing_there():
    """Tomorrow's route, installed tonight: the truck stands at its first stop for a minute on
    the way home. That is not the delivery: no arrival, no "delivered", and on the day the stop
    is served as usual."""
    from datetime import timedelta
    from tests.eta.geom import T0, route as make_route
    tomorrow = [stop("S1", 2950.0, 0.0, end_min=24 * 60 + 120.0)]          # window 15:00-16:00Z tomorrow
    conn = open_db(":memory:")
    t = RouteTracker(make_route(out_and_back(), tomorrow), ALERTS, Outbox(conn), conn=conn)
    events = _drive(t, [(0.0, 2950.0, 60.0)])
    assert _visits(events) == [] and t.record("S1").state.value not in ("arrived", "completed")
    day = T0 + timedelta(hours=23)                                           # 13:00Z tomorrow: 2 h before
    for i in range(40):
        events += t.on_fix(fix((day - T0).total_seconds() + i, 2950.0, 0.0, 0.0)).events
    assert ("arrival", "S1") in _visits(events)


def test_no_about_n_min_away_while_the_truck_has_not_set_off():
    """Parked at the depot 1.5 km from the first customer, loading for ten minutes: she must
    not hear "about 3 min away" at the first fix; she does once the truck drives off."""
    from tests.eta.geom import straight
    conn = open_db(":memory:")
    t = RouteTracker(route(straight(), [stop("S1", 1500.0, 0.0)]), ALERTS, Outbox(conn), conn=conn)
    for i in range(600):
        t.on_fix(fix(i, 0.0, 0.0, 0.0))
    assert t.record("S1").state.value in ("planned", "notified") and "approaching" not in t.record("S1").sent
    for i in range(600, 630):
        t.on_fix(fix(i, V * (i - 600), 0.0, V))
    assert t.record("S1").state.value == "approaching"


def test_two_customers_at_one_address_are_both_told_the_truck_is_near():
    """S1 and S2 in one building (S2 served right after S1), S3 down the street: S2 is as near
    as S1 and hears "about N min away" too, on the way there; S3 does not until it is next.
    S2 used to wait behind S1 as "not the next stop" until both were served, and never hear."""
    from tests.eta.geom import straight
    conn = open_db(":memory:")
    stops = [stop("S1", 1500.0, 0.0, service_s=60.0), stop("S2", 1510.0, 5.0, service_s=60.0),
             stop("S3", 2500.0, 0.0)]
    t = RouteTracker(route(straight(), stops), AlertSettings(arrival_dwell_s=20, approaching_minutes=5),
                     Outbox(conn), conn=conn)
    for i in range(150):                                    # 1200 m at 8 m/s: S1 and S2 are 40 s off
        t.on_fix(fix(i, V * i, 0.0, V))
    assert [t.record(s).state.value for s in ("S1", "S2", "S3")] == ["approaching", "approaching", "notified"]

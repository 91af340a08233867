"""Learned profile: persisted in the state file, and it changes later predictions."""
import pytest

from forewarn.daemon.store import open_db
from forewarn.eta import Estimator, TravelHistory

from .geom import route, stop, straight, fix


def test_save_and_load_round_trip(tmp_path):
    conn = open_db(tmp_path / "state.db")
    h = TravelHistory.load(conn)
    h.add_travel("1:2:3", 14, 8.0)
    h.add_travel("1:2:3", 14, 6.0)
    h.add_dwell("*", 1.5)
    h.save(conn)
    conn.close()
    g = TravelHistory.load(open_db(tmp_path / "state.db"))
    assert g.travel_stat("1:2:3", 14).n == 2
    assert g.travel_stat("1:2:3", 14).mean == pytest.approx(h.travel_stat("1:2:3", 14).mean)
    assert g.travel_stat("1:2:3", 14).var > 0
    assert g.dwell_stat("*").n == 1


def test_a_slow_street_learned_yesterday_slows_todays_eta(tmp_path):
    stops = [stop("A", 9000.0, 0.0)]
    r = route(straight(), stops)
    conn = open_db(tmp_path / "state.db")
    h = TravelHistory.load(conn)
    for day in range(3):                              # three days at 4 m/s, half of cruise
        learner = Estimator(r, history=h)
        for t in range(0, 2300, 2):
            learner.update(fix(day * 86400 + t, 4.0 * t, 0.0, 4.0), ["A"])
    h.save(conn)
    assert len(h.travel) >= 30
    fresh = Estimator(r).update(fix(0, 0.0, 0.0, 8.0), ["A"])
    taught = Estimator(r, history=TravelHistory.load(conn)).update(fix(0, 0.0, 0.0, 8.0), ["A"])
    assert taught.stops[0].p50 > fresh.stops[0].p50 + 250.0


def test_dwell_history_applies_to_the_same_address_on_another_day(tmp_path):
    def stops(day: int):
        return [stop(s, x, 0.0, end_min=120.0 + 1440.0 * day, service_s=100.0)
                for s, x in (("A", 1000.0), ("B", 3000.0), ("C", 5000.0))]
    h = TravelHistory()
    for day in range(5):                     # five route-days: A takes 4x its plan, B and C theirs
        e = Estimator(route(straight(), stops(day)), history=h)
        for sid, took in (("A", 400.0), ("B", 100.0), ("C", 100.0)):
            e.observe_arrival(sid, day * 86400.0)
            e.observe_departure(sid, day * 86400.0 + took)
    nxt = Estimator(route(straight(), stops(5)), history=h)
    assert nxt.dwell_mu[0] > 1.8 * 100.0
    assert nxt.dwell_mu[0] > 1.5 * nxt.dwell_mu[1]


def _learn_slow_street(h, days=3):
    r = route(straight(), [stop("A", 9000.0, 0.0)])
    for day in range(days):
        learner = Estimator(r, history=h)
        for t in range(0, 2300, 2):
            learner.update(fix(day * 86400 + t, 4.0 * t, 0.0, 4.0), ["A"])


def test_what_was_learned_at_two_pm_does_not_slow_three_am():
    h = TravelHistory()
    _learn_slow_street(h)                             # T0 is 14:00 UTC
    r = route(straight(), [stop("A", 9000.0, 0.0)])
    night = -11 * 3600                                # 03:00 the same day
    fresh = Estimator(r).update(fix(night, 0.0, 0.0, 8.0), ["A"])
    taught = Estimator(r, history=h).update(fix(night, 0.0, 0.0, 8.0), ["A"])
    assert taught.stops[0].p50 == pytest.approx(fresh.stops[0].p50)


def test_history_generalises_to_another_route_through_the_same_street():
    h = TravelHistory()
    _learn_slow_street(h)
    other = route(straight(8000.0), [stop("X", 3000.0, 0.0), stop("Y", 7000.0, 0.0)])
    fresh = Estimator(other).update(fix(0, 0.0, 0.0, 8.0), ["X", "Y"])
    taught = Estimator(other, history=h).update(fix(0, 0.0, 0.0, 8.0), ["X", "Y"])
    assert taught.stops[1].p50 > fresh.stops[1].p50 + 150.0

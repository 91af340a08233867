"""Learned profile: persisted in the state file, and it changes later predictions."""
import math

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


def _drive_through_a_jam(h: TravelHistory, day: int, jam_speed: float, **params) -> Estimator:
    """8 km at 8 m/s except the stretch 2000-2250 m, crawled at `jam_speed` (the prior there:
    11.2 m/s, a 9 km hop is partly on faster roads)."""
    from forewarn.eta import EstimatorParams
    r = route(straight(), [stop("A", 9000.0, 0.0)])
    e = Estimator(r, EstimatorParams(**params), history=h)
    t, x = 0.0, 0.0
    while x < 8000.0:
        v = jam_speed if 2000.0 <= x < 2250.0 else 8.0
        e.update(fix(day * 86400 + t, x, 0.0, v), ["A"])
        t, x = t + 2.0, x + 2.0 * v
    return e


def _learned_speed(h: TravelHistory, e: Estimator, at_m: float) -> float:
    key = e._stretch_keys[int(at_m // 250.0)]
    (stat,) = [st for (k, _), st in h.travel.items() if k == key]
    return math.exp(stat.mean)


def test_one_jam_teaches_a_street_at_most_three_spreads_slower_but_a_lasting_one_is_learned():
    raw, robust = TravelHistory(), TravelHistory()
    e_raw = _drive_through_a_jam(raw, 0, 0.5, learn_clamp=0.0)
    e = _drive_through_a_jam(robust, 0, 0.5)
    assert _learned_speed(raw, e_raw, 2100.0) < 1.0                 # the jam itself, as it was
    expected = float(e.vprof[8, 14])            # stretch 8 (2000-2250 m) at 14:00, as the profile had it
    assert _learned_speed(robust, e, 2100.0) == pytest.approx(expected * math.exp(0.5 * 0.09 - 3 * 0.3))
    assert _learned_speed(robust, e, 4100.0) == pytest.approx(8.0, rel=0.05)   # the rest untouched
    slow = TravelHistory()                              # the street became 11x slower for good:
    speeds = [_learned_speed(slow, _drive_through_a_jam(slow, day, 1.0), 2100.0) for day in range(8)]
    assert speeds == sorted(speeds, reverse=True) and speeds[-1] < 2.0   # learned, over days
    works = TravelHistory()                             # roadworks at half the expected speed:
    assert _learned_speed(works, _drive_through_a_jam(works, 0, 5.0), 2100.0) == pytest.approx(5.0, rel=0.1)


def test_one_traversal_teaches_a_streets_speed_but_not_its_spread():
    """A spread needs two observations: one day on a street must leave its travel-time cv at
    the prior's (it was shrunk to 71% of it, so every street driven once looked steadier than
    a new one, and learned days' p90s came out narrow: 60-minute arrivals above p90 16% on
    learned days against 14% on cold ones, bench/accuracy.py --routes 60). Many observations
    of a steady street still narrow it towards what they show."""
    from forewarn.eta import EstimatorParams
    cv0 = EstimatorParams().cv_stretch
    r = route(straight(), [stop("A", 9000.0, 0.0)])
    fresh = Estimator(r)
    key = fresh._stretch_keys[8]
    once = TravelHistory()
    once.add_travel(key, 14, 4.0)
    e = Estimator(r, history=once)
    assert e.cvprof[8, 14] == pytest.approx(cv0)
    assert e.vprof[8, 14] < 0.75 * fresh.vprof[8, 14]               # the speed is learned at once
    steady = TravelHistory()
    for k in range(40):                                             # log speeds log 6 +- 0.1
        steady.add_travel(key, 14, 6.0 * math.exp(0.1 if k % 2 else -0.1))
    assert 0.1 < Estimator(r, history=steady).cvprof[8, 14] < 0.12


def test_one_visit_teaches_an_addresss_service_time_but_not_its_spread():
    """Likewise for service times: after one visit (one stop of the fleet's, one of the
    address's) the log-spread of the service time is still the prior's."""
    from forewarn.eta import EstimatorParams
    svc = [stop("A", 1000.0, 0.0, service_s=100.0), stop("B", 3000.0, 0.0, service_s=100.0)]
    h = TravelHistory()
    e = Estimator(route(straight(), svc), history=h)
    e.observe_arrival("A", 0.0)
    e.observe_departure("A", 150.0)
    nxt = Estimator(route(straight(), [stop("A", 1000.0, 0.0, end_min=1560.0, service_s=100.0)]), history=h)
    cv2 = math.log(1.0 + float(nxt.dwell_var[0]) / float(nxt.dwell_mu[0]) ** 2)
    assert cv2 == pytest.approx(EstimatorParams().dwell_cv ** 2)
    assert nxt.dwell_mu[0] > Estimator(route(straight(), svc)).dwell_mu[0]   # the level is learned

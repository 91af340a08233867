"""The fleet's service pace comes from earlier route-days, counted as days: one driver's slow
day does not set tomorrow's expectation, days that agree do, today's stops count once."""
import math
import sqlite3

import pytest

from forewarn.eta import Estimator, EstimatorParams, TravelHistory
from forewarn.eta._estimator import GLOBAL_DWELL_KEY, fleet_pace

from .geom import route, stop, straight

STOPS = [stop(f"S{i}", 1000.0 * i, 0.0, service_s=200.0) for i in range(1, 8)]


def history(day_ratios: list[float], stops_per_day: int = 18) -> TravelHistory:
    """Earlier route-days (day numbers 0, 1, ...) whose stops each took `ratio` x the plan."""
    h = TravelHistory()
    for d, ratio in enumerate(day_ratios):
        for _ in range(stops_per_day):
            h.add_dwell(GLOBAL_DWELL_KEY, ratio)
            h.add_day_pace(d, ratio)
    return h


def expected_service(h: TravelHistory) -> float:
    """A new day's expected service time of its first stop, before it served any."""
    return float(Estimator(route(straight(), STOPS), history=h).dwell_mu[0])


def without_days(h: TravelHistory) -> TravelHistory:
    """The same stop statistics (so the same spread) with the day records taken away."""
    return TravelHistory(dwell=dict(h.dwell))


def test_days_that_disagree_leave_the_plan():
    """Ten days alternating between two drivers, one twice and one half as fast as the plan:
    the recent stops (the last day's: 2x) must not become the fleet's pace."""
    h = history([2.0, 0.5] * 5)
    assert expected_service(h) == pytest.approx(expected_service(without_days(h)), rel=1e-9)


def test_days_that_agree_are_the_fleets_pace():
    """A planner whose service times are short for every driver: ten days at 1.5x carry on."""
    h = history([1.5] * 10)
    ratio = expected_service(h) / expected_service(without_days(h))
    assert ratio == pytest.approx(1.5, rel=0.03)


def test_one_slow_day_moves_tomorrow_about_halfway():
    """One day at 2x is one driver-day: tomorrow's expectation moves about half the way in
    log (the old rule, a mean over the last stops, moved it 10/11 of the way: 1.88x)."""
    h = history([2.0])
    ratio = expected_service(h) / expected_service(without_days(h))
    assert 1.25 < ratio < 1.6


def test_days_with_too_few_stops_do_not_count():
    h = history([3.0], stops_per_day=2)
    assert expected_service(h) == pytest.approx(expected_service(without_days(h)), rel=1e-9)


def test_todays_record_is_not_the_fleets_pace():
    """After a restart today's stops are in the history already; they reach today's
    expectation only through today's pace (once), not as the fleet's level too."""
    est = Estimator(route(straight(), STOPS))
    h = TravelHistory()
    for _ in range(10):
        h.add_dwell(GLOBAL_DWELL_KEY, 3.0)
        h.add_day_pace(est.day, 3.0)
    assert expected_service(h) == pytest.approx(expected_service(without_days(h)), rel=1e-9)


def test_departures_record_the_route_day():
    h = TravelHistory()
    est = Estimator(route(straight(), STOPS), history=h)
    for i in (1, 2, 3):
        est.observe_arrival(f"S{i}", 1000.0 * i)
        est.observe_departure(f"S{i}", 1000.0 * i + 400.0)     # twice the plan
    assert list(h.days) == [est.day]
    assert h.days[est.day].n == 3 and h.days[est.day].mean == pytest.approx(math.log(2.0))
    # ... and tomorrow's route counts it as a past day
    assert h.past_days(est.day + 1) == [h.days[est.day]] and h.past_days(est.day) == []


def test_day_records_survive_the_state_file(tmp_path):
    h = history([1.2, 0.9, 1.4])
    conn = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    h.save(conn)
    back = TravelHistory.load(sqlite3.connect(tmp_path / "state.db", isolation_level=None))
    assert back.days == h.days and back.dwell == h.dwell
    assert not any(k.startswith("*day:") for k in back.dwell)


def test_fleet_pace_shrinks_with_few_or_scattered_days():
    p = EstimatorParams()
    assert fleet_pace([], p) == 0.0
    few = history([1.5] * 2)
    many = history([1.5] * 20)
    scattered = history([1.5, 1.5 * 2.5, 1.5 / 2.5] * 6)    # same mean in log, far apart
    lp = math.log(1.5)
    assert 0.0 < fleet_pace(few.past_days(99), p) < fleet_pace(many.past_days(99), p) < lp
    assert fleet_pace(scattered.past_days(99), p) < 0.9 * fleet_pace(many.past_days(99), p)


def _days(n_days: int, pace_of_day, habit: dict[str, float]) -> TravelHistory:
    """`n_days` earlier route-days of STOPS, each stop taking the day's pace x its address habit."""
    h = TravelHistory()
    for day in range(n_days):
        stops = [stop(s.id, 1000.0 * i, 0.0, end_min=120.0 + 1440.0 * (day - 10), service_s=200.0)
                 for i, s in enumerate(STOPS, 1)]
        est = Estimator(route(straight(), stops), history=h)
        t = (day - 10) * 86400.0
        for s in stops:
            took = 200.0 * pace_of_day(day) * habit.get(s.id, 1.0)
            est.observe_arrival(s.id, t)
            est.observe_departure(s.id, t + took)
            t += 1000.0
    return h


def test_an_address_habit_is_learned_apart_from_the_days_it_was_seen_on():
    """Every address of a route is visited on the same days. Days at 2x, 0.5x, 2x and 0.5x
    (other drivers) must not become the addresses' habits (kept raw, the first three days'
    would give every address 2^(1/3) x the plan, and more weight would make it worse); the one
    address that is 3x slower than the others on every day is, within four visits, expected
    clearly slower."""
    h = _days(4, lambda d: 2.0 if d % 2 == 0 else 0.5, {"S4": 3.0})
    est = Estimator(route(straight(), STOPS), history=h)
    plain = expected_service(TravelHistory(dwell={"*": h.dwell["*"]}))
    others = [est.dwell_mu[i] for i in range(len(STOPS)) if STOPS[i].id != "S4"]
    assert all(abs(math.log(mu / plain)) < math.log(1.15) for mu in others)
    assert est.dwell_mu[3] > 2.0 * max(others)

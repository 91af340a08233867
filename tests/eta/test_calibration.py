"""Self-calibration: arrivals scored against the p10/p90 predicted at each horizon knot move
that knot's spread multipliers, which persist in the state file and widen (or narrow) later
predictions there and only there."""
import dataclasses

import numpy as np
import pytest

from forewarn.daemon.store import open_db
from forewarn.eta import Estimator, EstimatorParams, TravelHistory
from forewarn.eta._history import CAL_TAIL_DENSITY, SETTLED_N, plan_key
from forewarn.eta._params import CAL_KNOTS_S, N_CAL, P_CAL_DN0, P_CAL_UP0

from .geom import fix, route, stop, straight

KNOT_1800 = CAL_KNOTS_S.index(1800.0)
# a stop every 4 km (town legs: the cruise-speed prior, 8 m/s), on a 30 km road
STOPS = [stop(f"S{i}", 4000.0 * i, 0.0) for i in range(1, 7)]
ROUTE = route(straight(30_000.0), STOPS)
IDS = [x.id for x in STOPS]


def _to_30_min(e: Estimator, t0: float):
    """Drive until S5's p50 falls below 30 min to go (never below 15): one prediction noted."""
    est = e.update(fix(t0, 0.0, 0.0, 10.0), IDS)
    assert 1800.0 < est.stops[4].p50 - est.t < 3600.0    # first seen between the 30 and 60 min knots
    t = 0.0
    while est.stops[4].p50 - est.t > 1800.0:
        t += 2.0
        est = e.update(fix(t0 + t, 10.0 * t, 0.0, 10.0), IDS)
    assert est.stops[4].p50 - est.t > 900.0
    return est


def _late_days(h: TravelHistory, days: int) -> None:
    """Each day S5's p50 falls below 30 min to go, then the truck arrives there 10 minutes
    after that prediction's p90 (no other stop is scored: none arrives)."""
    for day in range(days):
        e = Estimator(ROUTE, history=h)
        est = _to_30_min(e, day * 86400.0)
        e.observe_arrival("S5", est.stops[4].p90 + 600.0)


def test_defaults_change_nothing(tmp_path):
    prm = EstimatorParams().as_array()
    assert np.all(prm[P_CAL_UP0:P_CAL_UP0 + N_CAL] == 1.0) and np.all(prm[P_CAL_DN0:P_CAL_DN0 + N_CAL] == 1.0)
    h = TravelHistory.load(open_db(tmp_path / "state.db"))       # an empty state file
    assert h.cal_up == [1.0] * N_CAL and h.cal_dn == [1.0] * N_CAL
    plain = Estimator(ROUTE).update(fix(0, 0.0, 0.0, 10.0), IDS)
    with_h = Estimator(ROUTE, history=h).update(fix(0, 0.0, 0.0, 10.0), IDS)
    assert plain.stops == with_h.stops


def test_arrivals_after_p90_widen_that_knot_only():
    h = TravelHistory()
    _late_days(h, 4)
    p = EstimatorParams()
    steps = sum(max(p.calib_rate, 1.0 / (CAL_TAIL_DENSITY * (n + p.calib_warmup))) for n in range(4))
    assert h.cal_up[KNOT_1800] == pytest.approx(np.exp(steps * 0.9))   # 4 misses above p90
    assert h.cal_dn[KNOT_1800] == pytest.approx(np.exp(-steps * 0.1))  # and none below p10
    assert h.cal_n[KNOT_1800] == 4
    others = [k for k in range(N_CAL) if k != KNOT_1800]
    assert [h.cal_up[k] for k in others] == [1.0] * (N_CAL - 1)
    assert [h.cal_dn[k] for k in others] == [1.0] * (N_CAL - 1)

    # each stop's horizon at the start: under 15 min (a knot that learned nothing: unchanged),
    # about 30 min (widened above, a little narrower below)
    cal_only = TravelHistory(cal_up=h.cal_up, cal_dn=h.cal_dn)    # not the travel times it learned
    now = Estimator(ROUTE).update(fix(0, 0.0, 0.0, 8.0), IDS)
    taught = Estimator(ROUTE, history=cal_only).update(fix(0, 0.0, 0.0, 8.0), IDS).stops
    near = [k for k, x in enumerate(now.stops) if x.p50 - now.t < 900.0]
    mid = [k for k, x in enumerate(now.stops) if 1650.0 < x.p50 - now.t < 1950.0]
    assert near and mid
    for k in near:
        assert taught[k] == now.stops[k]
    for k in mid:
        plain, cal = now.stops[k], taught[k]
        assert cal.p50 == plain.p50
        assert cal.p90 - cal.p50 > 1.1 * (plain.p90 - plain.p50)
        assert cal.p10 > plain.p10


def test_without_history_nothing_is_learned():
    e = Estimator(ROUTE)
    for t in range(0, 1000, 2):
        e.update(fix(t, 10.0 * t, 0.0, 10.0), IDS)
    e.observe_arrival("S5", 1e12)
    assert np.all(e._prm[P_CAL_UP0:P_CAL_DN0 + N_CAL] == 1.0)


def test_multipliers_survive_save_and_load(tmp_path):
    conn = open_db(tmp_path / "state.db")
    h = TravelHistory.load(conn)
    _late_days(h, 3)
    h.save(conn)
    conn.close()
    g = TravelHistory.load(open_db(tmp_path / "state.db"))
    assert g.cal_up == pytest.approx(h.cal_up, rel=1e-15) and g.cal_dn == pytest.approx(h.cal_dn, rel=1e-15)
    assert g.cal_n == h.cal_n and g.cal_n[KNOT_1800] == 3
    assert g.cal_up[KNOT_1800] > 1.1
    e = Estimator(ROUTE, history=g)
    assert e._prm[P_CAL_UP0 + KNOT_1800] == g.cal_up[KNOT_1800]


def test_multipliers_stay_within_their_clamp():
    h = TravelHistory()
    for _ in range(200):
        h.calibrate(0, True, False, 0.05)
    assert h.cal_up[0] == 3.0 and h.cal_dn[0] == 0.5


def test_first_arrivals_move_a_knot_faster_than_later_ones():
    """Warm-up: the step starts at 1/(density x warmup) and decays to the constant rate, so
    a new truck calibrates within days; a knot with many arrivals moves by `rate` only."""
    fresh, settled = TravelHistory(), TravelHistory(cal_n=[500.0] * N_CAL)
    fresh.calibrate(0, True, False, 0.05, 30.0)
    settled.calibrate(0, True, False, 0.05, 30.0)
    assert np.log(fresh.cal_up[0]) == pytest.approx(0.9 / (CAL_TAIL_DENSITY * 30.0))
    assert np.log(settled.cal_up[0]) == pytest.approx(0.9 * 0.05)
    plain = TravelHistory()
    plain.calibrate(0, True, False, 0.05, 0.0)                  # warm-up off: the constant step
    assert np.log(plain.cal_up[0]) == pytest.approx(0.9 * 0.05)


def test_a_state_file_from_before_counting_keeps_its_multipliers_as_settled(tmp_path):
    """eta_calib written without the n column (the previous release): the table gains it,
    the multipliers load, and they move by the constant step, not the warm-up's."""
    import sqlite3
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE eta_calib (knot_s REAL PRIMARY KEY, up REAL NOT NULL, dn REAL NOT NULL)")
    old.execute("INSERT INTO eta_calib VALUES (1800.0, 1.4, 0.9)")
    old.commit()
    old.close()
    conn = open_db(path)
    h = TravelHistory.load(conn)
    assert (h.cal_up[KNOT_1800], h.cal_dn[KNOT_1800], h.cal_n[KNOT_1800]) == (1.4, 0.9, SETTLED_N)
    h.calibrate(KNOT_1800, True, False, 0.05, 30.0)
    assert h.cal_up[KNOT_1800] == pytest.approx(1.4 * np.exp(0.9 * 0.05))
    h.save(conn)
    conn.close()
    assert TravelHistory.load(open_db(path)).cal_n[KNOT_1800] == SETTLED_N + 1


def test_a_restart_scores_what_was_noted_before_it(tmp_path):
    """The gateway restarts (ignition) between a stop's prediction and its arrival: the new
    estimator scores the prediction the old one noted, from the state file."""
    conn = open_db(tmp_path / "state.db")
    h = TravelHistory.load(conn)
    est = _to_30_min(Estimator(ROUTE, history=h), 0.0)
    h.save(conn)
    conn.close()
    g = TravelHistory.load(open_db(tmp_path / "state.db"))
    key = plan_key(ROUTE.route_id, ROUTE.version)
    t, p10, p90 = g.noted(key, "S5")[KNOT_1800]
    assert (p10, p90) == (est.stops[4].p10, est.stops[4].p90) and t == est.t
    Estimator(ROUTE, history=g).observe_arrival("S5", p90 + 600.0)
    assert g.cal_n[KNOT_1800] == 1 and g.cal_up[KNOT_1800] > 1.0
    assert not g.noted(key, "S5")                 # scored once: a second arrival scores nothing


def test_a_stop_that_leaves_the_plan_unvisited_is_not_scored(tmp_path):
    conn = open_db(tmp_path / "state.db")
    h = TravelHistory.load(conn)
    e = Estimator(ROUTE, history=h)
    est = _to_30_min(e, 0.0)
    key = plan_key(ROUTE.route_id, ROUTE.version)
    assert h.noted(key, "S5")
    h.save(conn)
    e.update(fix(est.t + 2.0, 10.0 * (est.t + 2.0), 0.0, 10.0), [i for i in IDS if i != "S5"])   # skipped
    assert not h.noted(key, "S5")
    h.save(conn)
    assert conn.execute("SELECT count(*) FROM eta_calib_pending WHERE stop = 'S5'").fetchone()[0] == 0
    e.observe_arrival("S5", est.t + 600.0)        # a late "arrival" there scores nothing
    assert h.cal_n == [0.0] * N_CAL


def test_a_reordered_plan_does_not_score_the_old_plans_predictions():
    h = TravelHistory()
    est = _to_30_min(Estimator(ROUTE, history=h), 0.0)
    reordered = dataclasses.replace(ROUTE, version="v2")
    Estimator(reordered, history=h).observe_arrival("S5", est.stops[4].p90 + 600.0)
    assert h.cal_n == [0.0] * N_CAL


def test_a_prediction_from_another_day_is_neither_scored_nor_kept():
    """A daily route id, a stop never reached yesterday: today's arrival is not scored against
    yesterday's prediction, and today's prediction replaces it."""
    h = TravelHistory()
    h.note("R@v", "S1", KNOT_1800, 0.0, 1000.0, 2000.0)
    assert not h.score("R@v", "S1", 86400.0 + 1500.0, 0.05, 30.0)
    assert h.cal_n == [0.0] * N_CAL
    h.note("R@v", "S1", KNOT_1800, 0.0, 1000.0, 2000.0)
    h.note("R@v", "S1", KNOT_1800, 86400.0, 87000.0, 88000.0)
    assert h.noted("R@v", "S1")[KNOT_1800] == (86400.0, 87000.0, 88000.0)
    assert h.score("R@v", "S1", 86400.0 + 1500.0, 0.05, 30.0)
    assert h.cal_n[KNOT_1800] == 1


def test_predictions_of_stops_never_reached_are_pruned_from_the_file():
    conn = open_db(":memory:")
    h = TravelHistory()
    h.note("R@mon", "S9", KNOT_1800, 0.0, 1000.0, 2000.0)            # Monday's, never arrived
    h.note("R@tue", "S1", KNOT_1800, 86400.0, 87000.0, 88000.0)
    h.save(conn)
    assert not h.noted("R@mon", "S9") and h.noted("R@tue", "S1")
    assert [r for (r,) in conn.execute("SELECT route FROM eta_calib_pending")] == ["R@tue"]


def test_knot_crossings_count_knots_as_numpy_and_report_only_falls() -> None:
    """The per-fix kernel agrees with `np.searchsorted` over the knots (NaN sorts last) and
    reports exactly the stops whose count fell, with their new and old counts."""
    from forewarn.eta import _kernels as K
    rng = np.random.default_rng(7)
    knots = np.array(CAL_KNOTS_S)
    n = 200
    out = np.zeros((K.N_OUT, n + 5))                      # columns past n are not looked at
    lvl = np.full(n + 5, -1, dtype=np.int64)
    crossed = np.zeros((3, n + 5), dtype=np.int64)
    assert K.knot_crossings(out, 0.0, lvl, n, crossed) == 0  # never predicted: -1, nothing to fall from
    for t in (0.0, 600.0, 1200.0):
        ttg = np.concatenate((rng.uniform(-100.0, 9000.0, n - 3), [np.nan, 300.0, 7200.0]))
        out[K.O_P50, :n] = t + ttg
        before = lvl[:n].copy()
        cnt = K.knot_crossings(out, t, lvl, n, crossed)
        want = np.searchsorted(knots, out[K.O_P50, :n] - t)
        assert lvl[:n].tolist() == want.tolist() and (lvl[n:] == -1).all()
        fell = np.flatnonzero(want < before)
        assert cnt == len(fell) and crossed[0, :cnt].tolist() == fell.tolist()
        assert crossed[1, :cnt].tolist() == want[fell].tolist()
        assert crossed[2, :cnt].tolist() == before[fell].tolist()

"""Numba kernels == the plain NumPy reference (1e-9 relative) on random routes and fixes,
and the fleet kernel == the single-truck path."""
import math
from datetime import datetime, timezone

import numpy as np
import pytest

from forewarn.devices import Fix
from forewarn.eta import Estimator, FleetEstimator
from forewarn.eta import _kernels as K
from forewarn.eta import _reference as R
from forewarn.eta._params import N_CAL, P_CAL_DN0, P_CAL_UP0
from forewarn.eta._scenarios import make_route

N_CASES = 12


def _random_case(seed):
    rng = np.random.default_rng(seed)
    route = make_route(seed, length_m=float(rng.uniform(3000, 9000)), n_stops=int(rng.integers(3, 9)),
                       step_m=float(rng.uniform(8, 40)))
    est = Estimator(route)
    # a profile that varies by stretch and hour, so bucket choice and blending are exercised
    est.vprof[:] = rng.uniform(3.0, 20.0, size=est.vprof.shape)
    est.cvprof[:] = rng.uniform(0.1, 0.5, size=est.cvprof.shape)
    est.wprof[:] = rng.uniform(0.2, 0.9, size=est.wprof.shape)
    est.dwell_mu = rng.uniform(30.0, 600.0, size=len(route.stops))
    est.dwell_var = (0.4 * est.dwell_mu) ** 2
    return rng, route, est


def _fixes(rng, est, n=400):
    """A noisy drive along the route with dropouts, outliers, an excursion, a stop-and-go
    queue and dwell flags."""
    m = est.model
    s, t = 0.0, 1.8e9 + rng.uniform(0, 86400)
    for i in range(n):
        t += float(rng.choice([1.0, 1.0, 1.0, 2.0, 7.0]))
        queued = 250 <= i < 340 and i % 30 < 26          # stop-and-go: the stuck clock and its delay
        s = min(s + (0.0 if queued else rng.uniform(0, 15)), m.length)
        x = float(np.interp(s, m.cum, m.px)) + rng.normal(0, 4)
        y = float(np.interp(s, m.cum, m.py)) + rng.normal(0, 4)
        kind = rng.random()
        if i == 120:
            t += 900.0                                     # a long dropout: coasts, then holds
            kind = 0.0
        if kind < 0.05:
            x, y = math.nan, math.nan                      # dropout: predict only
        elif kind < 0.08:
            x += rng.uniform(-300, 300)                    # outlier / excursion
            y += rng.uniform(-300, 300)
        elif 150 <= i < 200:
            y += 400.0                                     # a long detour: off route
        speed = math.nan if rng.random() < 0.1 else abs(rng.normal(8.0, 3.0))
        if queued and speed == speed:
            speed = abs(rng.normal(0.0, 0.1))
        sigma = float(rng.uniform(2.0, 12.0))
        dwelling = int(rng.random() < (0.02 if queued else 0.1))
        yield t, x, y, speed, sigma, dwelling


@pytest.mark.parametrize("seed", range(N_CASES))
def test_kernel_equals_numpy_reference(seed):
    _compare_with_reference(seed, calibrated=False)


@pytest.mark.parametrize("seed", range(4))
def test_kernel_equals_numpy_reference_with_calibration(seed):
    """Learned spread multipliers != 1, different at every knot (interpolation exercised)."""
    _compare_with_reference(seed, calibrated=True)


def _compare_with_reference(seed, calibrated):
    rng, route, est = _random_case(seed)
    m, prm = est.model, est._prm.copy()
    if calibrated:
        prm[P_CAL_UP0:P_CAL_UP0 + N_CAL] = rng.uniform(0.5, 3.0, N_CAL)
        prm[P_CAL_DN0:P_CAL_DN0 + N_CAL] = rng.uniform(0.5, 3.0, N_CAL)
    n_stops = len(route.stops)
    st_k, st_r = K.new_state(), K.new_state()
    out_k, out_r = np.zeros((K.N_OUT, n_stops)), np.zeros((K.N_OUT, n_stops))
    win_end = rng.uniform(1.8e9, 1.8e9 + 2 * 86400, size=n_stops)
    first = 0
    checked = 0
    stuck_max = 0.0
    for t, x, y, speed, sigma, dwelling in _fixes(rng, est):
        if rng.random() < 0.01 and first < n_stops - 1:
            first += 1
        rem = np.arange(first, n_stops, dtype=np.int64)
        prev_s = float(m.stop_s[first - 1]) if first else 0.0
        dw = (float(rng.uniform(0, 300)), float(rng.uniform(0, 1e4))) if dwelling else (0.0, 0.0)
        args = (m.px, m.py, m.cum, m.edges, est.prof, m.stop_s, m.stop_x, m.stop_y,
                est.dwell_mu, est.dwell_var, win_end, rem, len(rem), prev_s)
        K.update_one(*args, st_k, t, x, y, speed, sigma, dwelling, dw[0], dw[1], prm, out_k)
        R.update_one(*args, st_r, t, x, y, speed, sigma, dwelling, dw[0], dw[1], prm, out_r)
        np.testing.assert_allclose(st_k, st_r, rtol=1e-9, atol=1e-9)
        n = len(rem)
        for row in (K.O_P10, K.O_P50, K.O_P90):     # compare durations, not 1.8e9 epochs
            np.testing.assert_allclose(out_k[row, :n] - st_k[K.S_T], out_r[row, :n] - st_r[K.S_T],
                                       rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(out_k[K.O_PLATE, :n], out_r[K.O_PLATE, :n], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(out_k[K.O_REM, :n], out_r[K.O_REM, :n], rtol=1e-9, atol=1e-9)
        checked += 1
        stuck_max = max(stuck_max, st_k[K.S_STUCK])
    assert checked > 300
    assert stuck_max > est.params.stuck_grace_s               # the queue term was exercised
    assert st_k[K.S_INIT] == 1.0


def test_fleet_kernel_equals_one_estimator_per_truck():
    routes = [make_route(s, length_m=6000.0, n_stops=6) for s in range(3)]
    veh = [routes[0], routes[1], routes[2], routes[1]]           # two trucks share route 1
    fleet = FleetEstimator(veh)
    singles = [Estimator(r) for r in veh]
    rng = np.random.default_rng(0)
    # some windows end within the drive: P(late) strictly between 0 and 1 for many of the stops
    t_day = float(np.median([s.window.end.timestamp() for r in routes for s in r.stops])) - 900.0
    p_lates: list[float] = []
    for k in range(60):
        fixes = []
        for v, e in enumerate(singles):
            m = e.model
            s = min(10.0 * k + 50.0 * v, m.length)
            x = float(np.interp(s, m.cum, m.px)) + rng.normal(0, 3)
            y = float(np.interp(s, m.cum, m.py)) + rng.normal(0, 3)
            lat, lon = m.proj.to_latlon(x, y)
            fixes.append(Fix(time=datetime.fromtimestamp(t_day + k, tz=timezone.utc), lat=float(lat),
                             lon=float(lon), speed=10.0, hdop=1.0))
        fleet.update(fleet.fixes_from(fixes))
        for v, (e, f) in enumerate(zip(singles, fixes)):
            ids = [s.id for s in veh[v].stops]
            est = e.update(f, ids)
            mine = fleet.vehicle_out(v)
            np.testing.assert_allclose(mine[K.O_P50], [s.p50 for s in est.stops], rtol=0, atol=1e-6)
            np.testing.assert_allclose(mine[K.O_PLATE], [s.p_late for s in est.stops], rtol=0, atol=1e-12)
            np.testing.assert_allclose(mine[K.O_P10], [s.p10 for s in est.stops], rtol=0, atol=1e-6)
            p_lates.extend(s.p_late for s in est.stops)
            assert fleet.states[v, K.S_S] == pytest.approx(est.chainage, abs=1e-9)
    assert sum(0.01 < p < 0.99 for p in p_lates) > 100                # the P(late) maths was compared
    fleet.mark_done(0, routes[0].stops[0].id)
    first = routes[0].stops[0].id
    now = fleet.states[0, K.S_T] + 5.0
    fleet.update(fleet.fixes_from([None] * 4, dwelling=[(first, now - 60.0), None, None, None], now=now))
    est = singles[0].predict(now, [s.id for s in routes[0].stops[1:]], dwelling=(first, now - 60.0))
    np.testing.assert_allclose(fleet.vehicle_out(0)[K.O_P50, :5], [s.p50 for s in est.stops], atol=1e-6)
    np.testing.assert_allclose(fleet.vehicle_out(0)[K.O_P90, :5], [s.p90 for s in est.stops], atol=1e-6)

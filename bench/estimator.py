"""Estimator speed, in one run: single-truck latency, fleet throughput, Numba vs NumPy vs
pure Python, and cold/warm start.

    .venv/bin/python bench/estimator.py            # full (~tens of seconds)
    .venv/bin/python bench/estimator.py --quick    # smaller sizes, smoke

- latency: `Estimator.update(fix, remaining)` end to end (Python wrapper + kernel + learning
  bookkeeping, a TravelHistory attached), route of 150 stops and ~20,000 geometry points, one
  fix per call; and the same plus reading all ~150 `StopEta` of the result (each the median
  of 5 passes over the drive: one busy second of a shared machine lands in one pass).
- fleet: `FleetEstimator.update` for 10,000 trucks (100 distinct 30 km / 25-stop routes),
  numba limited to 1 thread ("one core"), and with all threads: the median round of 10, the
  median of 5 passes over the same rounds (as for latency: a busy second lands in one pass).
  Then the same 10,000 trucks on 1,000 routes (ten each), one thread: a delivery depot's
  trucks rarely share a route, and ten times the route data no longer fits in a cache.
  (On this shared machine the two rows are often minutes apart in its fast and slow phases:
  compare them over several runs.)
- both drive on the routes' own day, so each stop's P(late) is computed, not the cheap
  branch for a window already over.
- ratios: the per-truck kernel `update_one` vs the NumPy reference (`_reference.update_one`)
  vs the same kernel source run as pure Python (NUMBA_DISABLE_JIT=1 in a subprocess); the
  kernel's own p50 / p99 beside them (called directly: no wrapper, no learning), so what the
  Python around it costs is plain.
- start: `warm_kernels()` in fresh subprocesses with an empty, then a filled, temporary
  NUMBA_CACHE_DIR (cold = JIT compile, warm = cache load), plus import time.
Prints a table and, last, one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _big_route(quick: bool):
    from forewarn.eta._scenarios import make_route
    if quick:
        return make_route(1, length_m=30_000.0, n_stops=40, step_m=7.5)
    return make_route(1, length_m=150_000.0, n_stops=150, step_m=7.5)   # ~20,000 points


def _day_start(route) -> float:
    """POSIX time the drive starts: the first stop's window, so the stops' windows lie ahead
    and P(late) is computed (a drive dated after every window takes the cheap `late` branch)."""
    return route.stops[0].window.start.timestamp()


def _drive_fixes(est, n: int, seed: int = 0, step_m: float = 10.0):
    """Fixes along the route, `step_m` per second, with 4 m noise."""
    from forewarn.devices import Fix
    rng = np.random.default_rng(seed)
    m = est.model
    out = []
    t0 = _day_start(est.route)
    for i in range(n):
        s = min(step_m * i, m.length)
        x = float(np.interp(s, m.cum, m.px)) + rng.normal(0, 4)
        y = float(np.interp(s, m.cum, m.py)) + rng.normal(0, 4)
        lat, lon = m.proj.to_latlon(x, y)
        out.append(Fix(time=datetime.fromtimestamp(t0 + i, tz=timezone.utc), lat=float(lat), lon=float(lon),
                       speed=step_m + rng.normal(0, 0.3), hdop=1.0))
    return out


def bench_latency(quick: bool, passes: int = 5) -> dict:
    """Per-call latency of `Estimator.update` with a travel history attached (as the daemon runs
    it: learning and self-calibration bookkeeping included), measured two ways: the update
    alone (its `stops` are built when read), and the update plus reading every remaining
    stop's `StopEta` (what a publisher that looks at all of them pays).

    The drive is run `passes` times per way, alternating, each with a fresh estimator; the
    reported p50/p99 are the medians over passes (a shared machine's busy second lands in one
    pass, not in the result), with the range over passes beside them."""
    from forewarn.eta import Estimator, TravelHistory
    route = _big_route(quick)
    est = Estimator(route)
    n = 3000 if quick else 20000
    # 1 m per fix: the truck stays in the first part of the route, so nearly every call
    # predicts 130-150 stops: the worst case, not an easy tail
    fixes = _drive_fixes(est, n, step_m=1.0)
    ids = [s.id for s in route.stops]
    stop_s = est.model.stop_s
    for f in fixes[:50]:                                 # warm the kernels and caches
        est.update(f, ids)
    pc = time.perf_counter_ns
    out = {"n_stops": len(route.stops), "n_points": int(len(est.model.px)),
           "n_stretches": est.model.n_stretches, "calls": n, "passes": passes}
    per: dict[str, list[tuple[float, float]]] = {"update": [], "update_read_all": []}
    lat = np.empty(n)
    n_rem = np.empty(n)
    for _ in range(passes):
        for mode in per:
            est = Estimator(route, history=TravelHistory())
            read_all = mode == "update_read_all"
            first = 0
            remaining = list(ids)                        # as the daemon passes it: rebuilt when a stop is passed
            for i, f in enumerate(fixes):
                s = 1.0 * i
                while first < len(ids) - 1 and stop_s[first] < s:
                    first += 1
                    remaining = ids[first:]
                t0 = pc()
                e = est.update(f, remaining)
                if read_all:
                    for _ in e.stops:
                        pass
                lat[i] = pc() - t0
                n_rem[i] = len(e.stops)
            per[mode].append((float(np.percentile(lat, 50) / 1e3), float(np.percentile(lat, 99) / 1e3)))
    out["stops_predicted_min"], out["stops_predicted_max"] = int(n_rem.min()), int(n_rem.max())
    for mode, runs in per.items():
        p50s, p99s = [r[0] for r in runs], [r[1] for r in runs]
        out[mode] = {"p50_us": float(np.median(p50s)), "p99_us": float(np.median(p99s)),
                     "p99_us_range": [min(p99s), max(p99s)]}
    out["p50_us"], out["p99_us"] = out["update"]["p50_us"], out["update"]["p99_us"]
    return out


def bench_fleet(quick: bool, distinct: bool = False, passes: int = 5) -> dict:
    """`distinct`: ten times as many routes, ten trucks each, one thread only (see the module doc)."""
    import numba

    from forewarn.eta import FleetEstimator, FleetFixes
    from forewarn.eta._scenarios import make_route
    n_routes, n_veh, rounds = (20, 2000, 5) if quick else (100, 10_000, 10)
    if distinct:
        n_routes *= 10
    routes = [make_route(100 + r, length_m=30_000.0, n_stops=25, step_m=15.0) for r in range(n_routes)]
    fleet = FleetEstimator(routes, vehicle_routes=[v % n_routes for v in range(n_veh)])
    rng = np.random.default_rng(1)
    # per-truck starting offsets along its route; each round moves 10 m
    off = rng.uniform(0, 25_000.0, size=n_veh)
    ests = fleet.estimators
    t_day = min(_day_start(r) for r in routes)
    res = {"vehicles": n_veh, "routes": n_routes, "stops_per_route": 25, "passes": passes}
    base_threads = numba.get_num_threads()
    fixes = []
    for k in range(rounds + 1):
        t = np.full(n_veh, t_day + k)
        x = np.empty(n_veh)
        y = np.empty(n_veh)
        for r in range(n_routes):
            m = ests[r].model
            sel = fleet.veh_route == r
            s = off[sel] + 10.0 * k
            x[sel] = np.interp(s, m.cum, m.px) + rng.normal(0, 4, size=sel.sum())
            y[sel] = np.interp(s, m.cum, m.py) + rng.normal(0, 4, size=sel.sum())
        fixes.append(FleetFixes(t, x, y, np.full(n_veh, 10.0), np.full(n_veh, 4.0)))
    st0 = fleet.states.copy()
    for threads in [1] if distinct else sorted({1, base_threads}):
        numba.set_num_threads(threads)
        meds = []
        for _ in range(passes):          # the same drive again from the same states
            fleet.states[:] = st0
            times = []
            for k, f in enumerate(fixes):
                t0 = time.perf_counter()
                fleet.update(f)
                if k > 0:                                 # round 0 initialises (full scans)
                    times.append(time.perf_counter() - t0)
            meds.append(float(np.median(times)))
        med = float(np.median(meds))
        res[f"threads_{threads}"] = {"median_round_ms": med * 1e3, "updates_per_s": n_veh / med,
                                     "updates_per_s_range": [n_veh / max(meds), n_veh / min(meds)]}
    fleet.states[:] = st0
    numba.set_num_threads(base_threads)
    res["threads_available"] = base_threads
    return res


def _kernel_inputs(quick: bool, n: int):
    from forewarn.eta import Estimator
    from forewarn.eta import _kernels as K
    route = _big_route(quick)
    est = Estimator(route)
    m = est.model
    fixes = _drive_fixes(est, n, seed=2)
    xs = [((f.lon - m.proj.lon0) * m.proj.kx, (f.lat - m.proj.lat0) * m.proj.ky, f.t, f.speed) for f in fixes]
    rem = np.arange(len(route.stops), dtype=np.int64)
    args = (m.px, m.py, m.cum, m.edges, est.prof, m.stop_s, m.stop_x, m.stop_y,
            est.dwell_mu, est.dwell_var, est._win_end, rem, len(rem), 0.0)
    return K, est, args, xs


def time_kernel(impl: str, quick: bool, calls: int) -> np.ndarray:
    """Microseconds of each update_one call (after the first) for one implementation."""
    K, est, args, xs = _kernel_inputs(quick, calls)
    if impl == "numpy":
        from forewarn.eta import _reference as R
        fn = R.update_one
    else:
        fn = K.update_one
    st = K.new_state()
    out = np.zeros((K.N_OUT, len(est.route.stops)))
    x, y, t, sp = xs[0]
    fn(*args, st, t, x, y, sp, 4.0, 0, 0.0, 0.0, est._prm, out)   # init (+ JIT if numba)
    lat = []
    for i in range(1, len(xs)):
        x, y, t, sp = xs[i]
        t0 = time.perf_counter_ns()
        fn(*args, st, t, x, y, sp, 4.0, 0, 0.0, 0.0, est._prm, out)
        lat.append(time.perf_counter_ns() - t0)
    return np.asarray(lat) / 1e3


def bench_ratios(quick: bool) -> dict:
    numba = time_kernel("numba", quick, 2000)
    numba_us, numba_p99 = float(np.median(numba)), float(np.percentile(numba, 99))
    numpy_us = float(np.median(time_kernel("numpy", quick, 200)))
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    cmd = [sys.executable, __file__, "--_kernel-python"] + (["--quick"] if quick else [])
    py = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    python_us = float(py.stdout.strip().splitlines()[-1])
    return {"numba_us": numba_us, "numba_p99_us": numba_p99, "numpy_us": numpy_us, "python_us": python_us,
            "numpy_over_numba": numpy_us / numba_us, "python_over_numba": python_us / numba_us}


_START_SNIPPET = """
import json, time
t0 = time.perf_counter()
import forewarn.eta
t1 = time.perf_counter()
from forewarn.eta import warm_kernels
w = warm_kernels()
print(json.dumps({"import_s": t1 - t0, "warm_kernels_s": w, "total_s": time.perf_counter() - t0}))
"""


def bench_start() -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = []
        for _ in range(3):                       # cold, then warm twice
            p = subprocess.run([sys.executable, "-c", _START_SNIPPET], env=env, capture_output=True,
                               text=True, check=True, cwd=ROOT)
            runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    return {"cold": runs[0], "warm": min(runs[1:], key=lambda r: r["total_s"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller route and fleet (smoke)")
    ap.add_argument("--_kernel-python", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._kernel_python:
        print(float(np.median(time_kernel("numba", args.quick, 60))))   # NUMBA_DISABLE_JIT=1: pure Python
        return 0
    t_all = time.perf_counter()
    start = bench_start()
    lat = bench_latency(args.quick)
    ratios = bench_ratios(args.quick)
    fleet = bench_fleet(args.quick)
    fleet_distinct = bench_fleet(args.quick, distinct=True)
    elapsed = time.perf_counter() - t_all

    print(f"Estimator speed ({'quick' if args.quick else 'full'}; {elapsed:.1f} s; {os.cpu_count()} CPUs shared)")
    print(f"{'measure':<58} {'value':>12} {'target':>12}")
    print(f"{'single update p50, %d stops / %d points (us)' % (lat['n_stops'], lat['n_points']):<58} {lat['p50_us']:>12.1f}")
    print(f"{'  (stops predicted per call: %d-%d)' % (lat['stops_predicted_min'], lat['stops_predicted_max']):<58}")
    lo, hi = lat["update"]["p99_us_range"]
    print(f"{'single update p99 (us; median of %d passes, range %.0f-%.0f)' % (lat['passes'], lo, hi):<58} "
          f"{lat['p99_us']:>12.1f} {'<= 50':>12}")
    ra = lat["update_read_all"]
    print(f"{'  update + reading every StopEta: p50 / p99 (us)':<58} {ra['p50_us']:>5.1f} / {ra['p99_us']:>4.1f}")
    t1 = fleet["threads_1"]
    lo, hi = t1["updates_per_s_range"]
    print(f"{'fleet %d trucks, 1 thread: updates/s (%d passes, %.0fk-%.0fk)' % (fleet['vehicles'], fleet['passes'], lo / 1e3, hi / 1e3):<58} "
          f"{t1['updates_per_s']:>12,.0f} {'>= 200,000':>12}")
    d1 = fleet_distinct["threads_1"]
    lo, hi = d1["updates_per_s_range"]
    print(f"{'  on %d routes (%d trucks each), 1 thread (%.0fk-%.0fk)' % (fleet_distinct['routes'], fleet_distinct['vehicles'] // fleet_distinct['routes'], lo / 1e3, hi / 1e3):<58} "
          f"{d1['updates_per_s']:>12,.0f}")
    tn = fleet.get(f"threads_{fleet['threads_available']}")
    if tn is not t1:
        print(f"{'fleet, %d threads: updates/s' % fleet['threads_available']:<58} {tn['updates_per_s']:>12,.0f}")
    print(f"{'kernel update_one alone, Numba (us): p50 / p99 of 2000 calls':<58} {ratios['numba_us']:>5.1f} / {ratios['numba_p99_us']:>4.1f}")
    print(f"{'kernel, NumPy reference (us) / ratio to Numba':<58} {ratios['numpy_us']:>12.1f} {ratios['numpy_over_numba']:>11.0f}x")
    print(f"{'kernel, pure Python (us) / ratio to Numba':<58} {ratios['python_us']:>12.1f} {ratios['python_over_numba']:>11.0f}x")
    print(f"{'cold start: import + warm_kernels, empty cache (s)':<58} {start['cold']['total_s']:>12.2f}")
    print(f"{'warm start: import + warm_kernels, filled cache (s)':<58} {start['warm']['total_s']:>12.2f} {'<= 1':>12}")
    print(f"{'  of which warm_kernels() alone (s)':<58} {start['warm']['warm_kernels_s']:>12.2f}")
    print(json.dumps({"bench": "estimator", "quick": args.quick, "seconds": round(elapsed, 1), "latency": lat,
                      "fleet": fleet, "fleet_distinct_routes": fleet_distinct, "ratios": ratios, "start": start}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

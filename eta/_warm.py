"""Compile (or load from the on-disk cache) every kernel before the daemon reports READY=1."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone


def warm_kernels(fleet: bool = True) -> float:
    """Run every kernel once on a tiny route; returns the seconds it took.

    Cold (no cache) this is the JIT compile; with a warm NUMBA_CACHE_DIR it is a cache load.
    Either way the first real fix afterwards is fast. `fleet=False` skips the parallel depot
    kernel: a one-truck gateway never calls it, and calling it starts numba's thread pool.
    """
    t0 = time.perf_counter()
    from forewarn.devices import Fix

    from ._estimator import Estimator
    from ._fleet import FleetEstimator
    from ._history import TravelHistory
    from ._route import Route, Stop, Window

    start = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    win = Window(start, start + timedelta(hours=2))
    route = Route("warm", "warm", "UTC", (Stop("a", 0.0, 0.001, win), Stop("b", 0.0, 0.002, win)),
                  geometry=((0.0, 0.0), (0.001, 0.0), (0.002, 0.0)))
    est = Estimator(route, history=TravelHistory())   # in memory: the self-calibration kernel too
    fix = Fix(time=start, lat=0.0, lon=0.0, speed=5.0, hdop=1.0)
    est.update(fix, ("a", "b"))
    est.update(Fix(time=start + timedelta(seconds=1), lat=0.0, lon=0.00005, speed=5.0), ("a", "b"))
    est.predict(start.timestamp() + 5.0, ("a", "b"), dwelling=None)
    if fleet:
        fe = FleetEstimator([route, route])
        fe.update(fe.fixes_from([fix, fix]))
    return time.perf_counter() - t0

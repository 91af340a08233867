"""The daemon's per-fix cost: `RouteTracker.on_fix` on a real state file, side by side with
the estimator update inside it, and the `eta` payload the daemon then publishes.

A gateway runs this once per fix (1-10 Hz, as the receiver sends): arrival detection, the
ETA, the alert policy for every remaining stop, the outbox, and the stop records written to
the SQLite state file (WAL, synchronous=FULL: each transaction is an fsync). Routes of 20 and
150 stops, a seeded simulated drive, the state file in a temporary directory on this
machine's disk (a gateway's SD card or eMMC syncs slower: the rows written per fix are the
number to watch there).

    .venv/bin/python bench/tracker.py [--fixes 1500]
Prints a table and, last, one JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forewarn.config import AlertSettings  # noqa: E402
from forewarn.daemon._publish import eta_payload  # noqa: E402
from forewarn.daemon._tracker import RouteTracker  # noqa: E402
from forewarn.daemon._wire import dumps  # noqa: E402
from forewarn.daemon.outbox import Outbox  # noqa: E402
from forewarn.daemon.store import open_db  # noqa: E402
from forewarn.devices import iter_fixes  # noqa: E402
from forewarn.eta import warm_kernels  # noqa: E402
from forewarn.eta._scenarios import make_route  # noqa: E402
from forewarn.eta.simulate import simulate  # noqa: E402

WARMUP = 200     # fixes before timing: the first ones announce windows, load kernels


def run(n_stops: int, n_fixes: int, tmp: Path) -> dict:
    route = make_route(1, length_m=1000.0 * n_stops, n_stops=n_stops)
    fixes = list(iter_fixes(simulate(route, seed=5).lines))[:n_fixes]
    conn = open_db(tmp / f"state-{n_stops}.db")
    tracker = RouteTracker(route, AlertSettings(), Outbox(conn), conn=conn)
    est = tracker.estimator
    inner: list[int] = []
    update = est.update

    def timed_update(*args, **kwargs):      # the estimator's share, timed where the tracker calls it
        t0 = time.perf_counter_ns()
        try:
            return update(*args, **kwargs)
        finally:
            inner.append(time.perf_counter_ns() - t0)

    est.update = timed_update
    per_fix: list[int] = []
    publish: list[int] = []
    rows0 = 0
    for i, f in enumerate(fixes):
        if i == WARMUP:
            rows0, inner[:] = conn.total_changes, []
        t0 = time.perf_counter_ns()
        step = tracker.on_fix(f)
        t1 = time.perf_counter_ns()
        if step.estimate is not None:
            dumps(eta_payload(tracker, step.estimate))     # what `_publish_step` hands the MQTT link
        if i >= WARMUP:
            per_fix.append(t1 - t0)
            publish.append(time.perf_counter_ns() - t1)
    fix_us, est_us = np.array(per_fix) / 1e3, np.array(inner) / 1e3
    n = len(per_fix)
    rows = (conn.total_changes - rows0) / n         # every table: stop states, outbox, history
    conn.close()
    return {"stops": n_stops, "fixes": n, "per_fix_p50_us": float(np.median(fix_us)),
            "per_fix_p99_us": float(np.percentile(fix_us, 99)), "estimator_p50_us": float(np.median(est_us)),
            "eta_payload_p50_us": float(np.median(publish)) / 1e3, "rows_written_per_fix": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixes", type=int, default=1500)
    args = ap.parse_args()
    warm_kernels(fleet=False)
    res = []
    with tempfile.TemporaryDirectory() as d:
        for n_stops in (20, 150):
            res.append(run(n_stops, args.fixes, Path(d)))
    print(f"RouteTracker.on_fix on a real state file, {args.fixes - WARMUP} fixes after {WARMUP} of warm-up")
    print(f"{'stops':>6} {'on_fix p50 us':>14} {'p99 us':>9} {'estimator p50 us':>17} {'rest p50 us':>12} "
          f"{'eta payload+JSON us':>20} {'rows written/fix':>17}")
    for r in res:
        print(f"{r['stops']:>6} {r['per_fix_p50_us']:>14.0f} {r['per_fix_p99_us']:>9.0f} {r['estimator_p50_us']:>17.0f} "
              f"{r['per_fix_p50_us'] - r['estimator_p50_us']:>12.0f} {r['eta_payload_p50_us']:>20.0f} "
              f"{r['rows_written_per_fix']:>17.2f}")
    print(json.dumps({"bench": "tracker", "runs": res}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

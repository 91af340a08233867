"""ETA accuracy on simulated delivery days: forewarn vs a naive baseline, in one run.

Each route is driven on several days (simulator seeds); the travel history learns day after
day as the daemon's would. Stop states come from the simulator's truth (what the daemon's
arrival detection approximates). Every `--every` seconds of log time, each remaining stop's
prediction is scored against its true arrival, binned by horizon (true time to arrival).

Naive baseline: straight-line distance to the stop / current GPS speed (floored at 2 m/s so
a truck at a red light does not predict infinity).

    .venv/bin/python bench/accuracy.py            # full (~tens of seconds)
    .venv/bin/python bench/accuracy.py --quick    # smoke
Prints a table and, last, one JSON line.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forewarn.devices import iter_fixes  # noqa: E402
from forewarn.eta import Estimator, EstimatorParams, TravelHistory  # noqa: E402
from forewarn.eta._scenarios import make_route  # noqa: E402
from forewarn.eta.simulate import simulate  # noqa: E402

HORIZONS = (5, 15, 30, 60)
ROUTE_START = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)   # minutes; a prediction counts for h if its true horizon is within +-20%


def drive(route, day: int, history: TravelHistory | None, every: float, params: EstimatorParams,
          delays: dict[str, float]) -> list[tuple]:
    """Replay one simulated day; returns (horizon_s, err_s, below_p10, above_p90, late_pred, late_true, naive_err_s)."""
    sim = simulate(route, seed=1000 + day, start=ROUTE_START, delays=delays)
    truth = sim.truth_t
    est = Estimator(route, params, history)
    ids = [s.id for s in route.stops]
    arrived: set[str] = set()
    departed: set[str] = set()
    last_eval = -math.inf
    rows = []
    for f in iter_fixes(sim.lines):
        t = f.t
        for sid in ids:
            a, d = truth[sid]
            if sid not in arrived and a <= t:
                arrived.add(sid)
                est.observe_arrival(sid, a)
            if sid not in departed and d <= t:
                departed.add(sid)
                est.observe_departure(sid, d)
        remaining = [sid for sid in ids if sid not in arrived]
        dwelling = next(((sid, truth[sid][0]) for sid in ids if sid in arrived and sid not in departed), None)
        e = est.update(f, remaining, dwelling)
        if t - last_eval < every or not remaining:
            continue
        last_eval = t
        v = max(f.speed or 0.0, 2.0)
        for se in e.stops:
            actual = truth[se.stop_id][0]
            h = actual - t
            w_end = route.stop(se.stop_id).window.end.timestamp()
            naive = t + est.distance_to_stop(f, se.stop_id) / v
            rows.append((h, se.p50 - actual, actual < se.p10, actual > se.p90, se.p_late, actual > w_end,
                         naive - actual))
    return rows


def summarise(rows: np.ndarray) -> dict:
    out = {}
    for hm in HORIZONS:
        sel = rows[(rows[:, 0] >= 0.8 * hm * 60) & (rows[:, 0] <= 1.2 * hm * 60)]
        if len(sel) == 0:
            continue
        err, nerr = np.abs(sel[:, 1]) / 60, np.abs(sel[:, 6]) / 60
        out[hm] = {"n": int(len(sel)), "median_min": float(np.median(err)), "p90_min": float(np.quantile(err, 0.9)),
                   "naive_median_min": float(np.median(nerr)), "naive_p90_min": float(np.quantile(nerr, 0.9)),
                   "below_p10": float(sel[:, 2].mean()), "above_p90": float(sel[:, 3].mean())}
        out[hm]["signed_median_min"] = float(np.median(sel[:, 1]) / 60)
        out[hm]["ratio_naive_over_forewarn"] = out[hm]["naive_median_min"] / max(out[hm]["median_min"], 1e-9)
    sel = rows[rows[:, 0] <= 90 * 60]
    out["calibration"] = {"below_p10": float(sel[:, 2].mean()), "above_p90": float(sel[:, 3].mean()), "n": int(len(sel))}
    # Brier score of P(late) against what happened
    out["p_late_brier"] = float(np.mean((sel[:, 4] - sel[:, 5]) ** 2))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 routes x 3 days (smoke run)")
    ap.add_argument("--routes", type=int, default=5)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--incident-rate", type=float, default=0.33,
                    help="share of days with a 10-25 min incident before one stop")
    ap.add_argument("--every", type=float, default=30.0, help="seconds of log time between scored predictions")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override an EstimatorParams field (tuning experiments)")
    args = ap.parse_args()
    if args.quick:
        args.routes, args.days = 2, 3
    params = EstimatorParams(**{k: float(v) for k, v in (kv.split("=", 1) for kv in args.set)})
    t0 = time.perf_counter()
    groups: dict[str, list] = {"all": [], "traffic": [], "incident": [], "learned": [], "cold": []}
    for r in range(args.routes):
        route = make_route(r, length_m=32_000.0, n_stops=18, start=ROUTE_START)
        history = TravelHistory()
        rng = np.random.default_rng(r)
        for day in range(args.days):
            delays = {}
            if rng.random() < args.incident_rate:    # a stop behind a 10-25 min incident
                delays[route.stops[int(rng.integers(2, len(route.stops)))].id] = float(rng.uniform(10, 25))
            rows = drive(route, day, history, args.every, params, delays)
            groups["all"].extend(rows)
            groups["incident" if delays else "traffic"].extend(rows)
            groups["learned" if day >= 1 else "cold"].extend(rows)
    elapsed = time.perf_counter() - t0
    res = {k: summarise(np.array(v, dtype=float)) for k, v in groups.items() if v}
    nan = {"median_min": float("nan"), "p90_min": float("nan"), "below_p10": float("nan"), "above_p90": float("nan")}

    print(f"ETA accuracy: {args.routes} routes x {args.days} days (32 km, 18 stops each), incident rate "
          f"{args.incident_rate:.2f}, scored every {args.every:.0f} s of log time ({elapsed:.1f} s)")
    print("absolute error of p50 vs true arrival, minutes: median / p90")
    cols = ["traffic", "incident", "learned", "all"]
    print(f"{'horizon':>8} {'n':>6} | " + " | ".join(f"{c:>13}" for c in cols) + f" | {'naive (all)':>13} | {'naive/fw':>8}")
    for hm in HORIZONS:
        a = res["all"].get(hm)
        if a is None:
            continue
        cells = []
        for c in cols:
            x = res.get(c, {}).get(hm, nan)
            cells.append(f"{x['median_min']:>6.2f} {x['p90_min']:>6.2f}")
        print(f"{hm:>6}mn {a['n']:>6} | " + " | ".join(cells) +
              f" | {a['naive_median_min']:>6.2f} {a['naive_p90_min']:>6.2f} | {a['ratio_naive_over_forewarn']:>8.1f}")
    print("calibration: share of true arrivals below p10 / above p90 (target 10% +-5 each)")
    print(f"{'horizon':>8} | " + " | ".join(f"{c:>13}" for c in cols))
    for hm in HORIZONS:
        cells = []
        for c in cols:
            x = res.get(c, {}).get(hm, nan)
            cells.append(f"{100 * x['below_p10']:>5.1f}% {100 * x['above_p90']:>5.1f}%")
        print(f"{hm:>6}mn | " + " | ".join(cells))
    cells = [f"{100 * res[c]['calibration']['below_p10']:>5.1f}% {100 * res[c]['calibration']['above_p90']:>5.1f}%"
             if c in res else " " * 13 for c in cols]
    print(f"{'<=90mn':>8} | " + " | ".join(cells))
    print(f"P(late) Brier score (all): {res['all']['p_late_brier']:.4f}")
    print(json.dumps({"bench": "accuracy", "routes": args.routes, "days": args.days,
                      "incident_rate": args.incident_rate, "seconds": round(elapsed, 1),
                      **{g: {str(k): v for k, v in r.items()} for g, r in res.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

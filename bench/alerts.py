"""Customer alerts on simulated delivery days with injected delays: issue 5's business figures.

For each route: a plain day (no injected delay) gives the dispatcher's plan, and each stop's
two-hour window is set around that plan, the planned arrival at a random place inside the
window with at least 20 min either side (as a dispatcher with a decent planner would). Then
the same route is driven on another day with injected delays (a jam before some stops, which
cascades to the stops after them), and the daemon's own pipeline (`forewarn replay`: the
tracker, policy and outbox) decides every customer message. Judged on the GPS-detected
arrivals, as `forewarn report` does:

- late stops warned before their window ended, and the lead of each warning,
- late stops not warned, false alarms (a delay message, then on time), duplicates.

    .venv/bin/python bench/alerts.py                 # 3 routes (a simulated day), ~1 min
    .venv/bin/python bench/alerts.py --routes 10 --out /tmp/alerts   # + replay JSONs for `forewarn report`
    .venv/bin/python bench/alerts.py --alert sustain_s=60 --set stuck_scale=1.2   # policy / model experiments
Prints the per-route table, the totals and, last, one JSON line.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forewarn.config import AlertSettings  # noqa: E402
from forewarn.daemon._replay import replay  # noqa: E402
from forewarn.daemon._report import fleet_totals, print_fleet_report  # noqa: E402
from forewarn.eta import Customer, Window  # noqa: E402
from forewarn.eta._scenarios import make_route  # noqa: E402
from forewarn.eta.simulate import simulate  # noqa: E402


def ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def planned_route(seed: int, n_stops: int, length_m: float):
    rng = np.random.default_rng(seed)
    base = make_route(seed, length_m=length_m, n_stops=n_stops, route_id=f"DAY-{seed}",
                      timezone_name="America/Toronto")
    plan = simulate(base, seed=seed + 50_000).truth       # a normal day on these roads
    stops = []
    for i, s in enumerate(base.stops):
        arr = ts(plan[s.id]["arrived"])
        before = timedelta(minutes=float(rng.uniform(20, 100)))
        win = Window(arr - before, arr - before + timedelta(hours=2))
        cust = Customer(name=f"Customer {i + 1}", phone=f"+1416555{1000 + i:04d}", channel="sms")
        stops.append(replace(s, window=win, customer=cust))
    return replace(base, stops=tuple(stops))


def _number(v: str):
    return int(v) if v.lstrip("-").isdigit() else float(v)


def use_params(overrides: dict[str, float]) -> None:
    """Make the daemon's tracker build its Estimator with these EstimatorParams overrides.

    The daemon has no knob for estimator parameters (they are tuned here, not per site), so
    a tuning experiment swaps the class the tracker module looks up; bench-only.
    """
    if not overrides:
        return
    from forewarn.daemon import _tracker
    from forewarn.eta import Estimator, EstimatorParams

    params = EstimatorParams(**overrides)

    class TunedEstimator(Estimator):
        def __init__(self, route, params_=None, history=None) -> None:
            super().__init__(route, params, history)

    _tracker.Estimator = TunedEstimator


def run(n_routes: int, n_stops: int, length_m: float, out: Path | None,
        alert_overrides: dict | None = None, seed0: int = 700) -> list[dict]:
    docs = []
    alerts = AlertSettings(quiet_hours=None, **(alert_overrides or {}))
    for r in range(n_routes):
        seed = seed0 + r
        route = planned_route(seed, n_stops, length_m)
        rng = np.random.default_rng(seed)
        ids = [s.id for s in route.stops]
        picks = rng.choice(len(ids) - 1, size=2, replace=False) + 1
        delays = {ids[int(k)]: float(rng.uniform(30, 90)) for k in picks}
        sim = simulate(route, seed=seed, delays=delays)
        doc = replay((line.encode() for line in sim.lines), route, alerts)
        doc["injected_delays_min"] = {k: round(v) for k, v in delays.items()}
        doc.pop("events", None)
        for s in doc["stops"]:
            s["predictions"] = s["predictions"][::60]     # keep report files small
        docs.append(doc)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{route.route_id}.json").write_text(json.dumps(doc))
    return docs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--routes", type=int, default=3)
    ap.add_argument("--stops", type=int, default=15)
    ap.add_argument("--seed0", type=int, default=700,
                    help="first route's seed; another range gives held-out days to check a tuning on")
    ap.add_argument("--length", type=float, default=40_000.0, help="metres per route")
    ap.add_argument("--out", type=Path, help="write each replay JSON here (for `forewarn report`)")
    ap.add_argument("--alert", action="append", default=[], metavar="NAME=VALUE",
                    help="override an AlertSettings field (policy experiments: late_probability, sustain_s, ...)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override an EstimatorParams field (model experiments)")
    a = ap.parse_args()
    alert_overrides = {k: _number(v) for k, v in (kv.split("=", 1) for kv in a.alert)}
    use_params({k: float(v) for k, v in (kv.split("=", 1) for kv in a.set)})
    t0 = time.perf_counter()
    docs = run(a.routes, a.stops, a.length, a.out, alert_overrides, a.seed0)
    buf = io.StringIO()
    print_fleet_report(docs, buf)
    print(buf.getvalue())
    t = fleet_totals(docs)
    summary = {
        "bench": "alerts", "routes": t["routes"], "stops": t["stops"], "late": t["late"],
        "warned_pct": t["warned_pct"], "median_lead_min": t["median_lead_min"], "false_alarm_pct": t["false_alarm_pct"],
        "duplicates": t["duplicates"], "seconds": round(time.perf_counter() - t0, 1),
        "seed0": a.seed0, "alert_overrides": alert_overrides, "param_overrides": a.set,
        "targets": {"warned_pct": ">=90", "median_lead_min": ">=20", "false_alarm_pct": "<=2", "duplicates": "0"},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

"""ETA accuracy on simulated delivery days: forewarn vs a naive baseline, in one run.

Each route is driven on several days (simulator seeds); the travel history learns day after
day as the daemon's would. Stop states come from the simulator's truth (what the daemon's
arrival detection approximates), and each true arrival goes to `observe_arrival`, which also
feeds the self-calibration of p10/p90 (`--set calib_rate=0` = without it). Every `--every`
seconds of log time, each remaining stop's prediction is scored against its true arrival,
binned by horizon (true time to arrival).

Naive baseline: straight-line distance to the stop / current GPS speed (floored at 2 m/s so
a truck at a red light does not predict infinity).

Real traces: the WMATA bus AVL + GTFS in /work/shared/data/external/wmata-transitclock (read
in place, never copied: WMATA terms), true arrivals from the track's closest approach to
each stop, trips replayed in date order with one shared travel history. And a real 10-minute
urban car drive (tests/data/tizen-replay, copied with its licence) with its stops placed where
the car really stood, scored with the driven track as the route and with no geometry at all.

    .venv/bin/python bench/accuracy.py            # full (~30 s on 2 cores)
    .venv/bin/python bench/accuracy.py --quick    # smoke
    .venv/bin/python bench/accuracy.py --routes 60 --no-real   # 240 route-days, ~3 min on 2 cores
Routes are independent trucks and run in `--jobs` processes (default: every CPU); the rows, and so
every figure, are the same for any number of jobs.
Prints a table and, last, one JSON line.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forewarn.devices import iter_fixes  # noqa: E402
from forewarn.eta import Estimator, EstimatorParams, TravelHistory  # noqa: E402
from forewarn.eta._params import CAL_KNOTS_S  # noqa: E402
from forewarn.eta._scenarios import make_route  # noqa: E402
from forewarn.eta.simulate import simulate  # noqa: E402

WMATA = Path("/work/shared/data/external/wmata-transitclock")   # read in place: WMATA terms, never copied
WMATA_TRACES = (("avl/AvlReports_4-22-16_8087.csv", "5A", "868589720"),
                ("avl/5A_8062.csv", "5A", "868590120"),
                ("avl/3T_3757.csv", "3T", "868448620"))
HORIZONS = (5, 15, 30, 60)
GROUPS = ("all", "traffic", "incident", "learned", "cold", "foreseeable")   # rows scored, by kind of day
ROUTE_START = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)   # minutes; a prediction counts for h if its true horizon is within +-20%


def drive(route, day: int, history: TravelHistory | None, every: float, params: EstimatorParams,
          delays: dict[str, float], restart_every: float = 0.0, habits: tuple[float, float] = (0.0, 0.0),
          start: datetime = ROUTE_START) -> list[tuple]:
    """Replay one simulated day; returns (horizon_s, err_s, below_p10, above_p90, late_pred, late_true,
    naive_err_s, unforeseen): `unforeseen` = 1 for a prediction made before the truck reached an
    injected incident (more than its delay before arriving at the stop behind it), for that stop or
    one after it: an outcome no model could have seen coming."""
    sim = simulate(route, seed=1000 + day, start=start, delays=delays,
                   address_sd=habits[0], truck_sd=habits[1])
    rows = replay(Estimator(route, params, history), route, iter_fixes(sim.lines), sim.truth_t, every, restart_every)
    ids = [s.id for s in route.stops]
    before = {ids.index(sid): sim.truth_t[sid][0] - 60.0 * minutes for sid, minutes in delays.items()}
    return [row[:7] + (float(any(row[8] >= ki and row[7] < t_in for ki, t_in in before.items())),)
            for row in rows]


def replay(est: Estimator, route, fixes, truth: dict[str, tuple[float, float]], every: float,
           restart_every: float = 0.0) -> list[tuple]:
    """Feed `fixes` to `est` with the stop states `truth` gives (stop id -> (arrived, departed)),
    and every `every` s of log time score each remaining stop's prediction and the naive one:
    (horizon_s, err_s, below_p10, above_p90, p_late, late_true, naive_err_s, t, stop index).
    `restart_every` > 0: every that many seconds the estimator is replaced by a new one on the
    same history, resumed from the stops visited so far, as the daemon does after a restart."""
    ids = [s.id for s in route.stops]
    index = {sid: k for k, sid in enumerate(ids)}
    arrived: set[str] = set()
    departed: set[str] = set()
    last_eval = -math.inf
    last_restart = None
    rows = []
    for f in fixes:
        t = f.t
        if last_restart is None:
            last_restart = t
        if restart_every > 0 and t - last_restart >= restart_every:
            last_restart = t
            est = Estimator(route, est.params, est.history)
            est.resume((sid, truth[sid][0] if sid in arrived else None,
                        truth[sid][1] if sid in departed else None) for sid in ids)
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
                         naive - actual, t, index[se.stop_id]))
    return rows


def _csv(path: Path) -> list[dict]:
    import csv
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def wmata_trace(avl: str, gtfs: str, trip: str):
    """(Route, fixes, true arrivals) for one real bus trip: GTFS shape + stops, AVL fixes.

    AVL is ~30 s polling without speed; true arrival = closest approach of the AVL track to
    the stop (interpolated between fixes, only when it passes within 60 m).
    """
    from zoneinfo import ZoneInfo

    from forewarn.devices import Fix
    from forewarn.eta import Route, Stop, Window
    from forewarn.eta._model import Projection

    tz = ZoneInfo("America/New_York")
    g = WMATA / "gtfs" / gtfs
    tr = next(r for r in _csv(g / "trips.txt") if r["trip_id"] == trip)
    shape = sorted((r for r in _csv(g / "shapes.txt") if r["shape_id"] == tr["shape_id"]),
                   key=lambda r: int(r["shape_pt_sequence"]))
    stops = {r["stop_id"]: r for r in _csv(g / "stops.txt")}
    st = sorted((r for r in _csv(g / "stop_times.txt") if r["trip_id"] == trip), key=lambda r: int(r["stop_sequence"]))
    rows = _csv(WMATA / avl)
    day = datetime.strptime(rows[0]["time"][:10], "%Y-%m-%d").date()
    fixes = []
    for r in rows:
        t = datetime.strptime(r["time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
        fixes.append(Fix(time=t.astimezone(timezone.utc), lat=float(r["latitude"]), lon=float(r["longitude"]),
                         course=float(r["heading"])))
    rstops = []
    for r in st:
        h, mi, se = (int(x) for x in r["arrival_time"].split(":"))
        sched = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(hours=h, minutes=mi, seconds=se)
        s = stops[r["stop_id"]]
        rstops.append(Stop(r["stop_id"], float(s["stop_lat"]), float(s["stop_lon"]),
                           Window(sched - timedelta(minutes=10), sched + timedelta(minutes=5)), service_s=20.0))
    route = Route(f"WMATA-{trip}", avl, "America/New_York", tuple(rstops),
                  geometry=tuple((float(r["shape_pt_lon"]), float(r["shape_pt_lat"])) for r in shape))
    proj = Projection(fixes[0].lat, fixes[0].lon)
    fx = np.array([proj.to_xy(f.lat, f.lon) for f in fixes], dtype=float)
    ft = np.array([f.t for f in fixes])
    truth: dict[str, float] = {}
    k0 = 0
    for s in rstops:
        sx, sy = proj.to_xy(s.lat, s.lon)
        best = (np.inf, None, k0)
        for k in range(k0, len(fixes) - 1):
            a, b = fx[k], fx[k + 1]
            d = b - a
            u = float(np.clip(((sx - a[0]) * d[0] + (sy - a[1]) * d[1]) / max(d @ d, 1e-9), 0, 1))
            dist = float(np.hypot(sx - a[0] - u * d[0], sy - a[1] - u * d[1]))
            if dist < best[0] - 1e-9:
                best = (dist, ft[k] + u * (ft[k + 1] - ft[k]), k)
            elif best[1] is not None and dist > best[0] + 500.0:
                break                                    # moving away from it: first pass found
        if best[1] is not None and best[0] <= 60.0:
            truth[s.id] = best[1]
            k0 = best[2]
    return route, fixes, truth


def real_rows(every: float, params: EstimatorParams) -> tuple[list[tuple], dict]:
    """Score forewarn and the naive baseline on the WMATA AVL traces (if present), in date
    order with one shared travel history (two of the three are the same 5A line)."""
    rows: list[tuple] = []
    info = {"traces": 0, "stops_with_truth": 0}
    if not WMATA.is_dir():
        return rows, info
    history = TravelHistory()                            # learns trace after trace, as a daemon would
    traces = sorted((wmata_trace(*spec) for spec in WMATA_TRACES), key=lambda tr: tr[1][0].t)
    for route, fixes, truth in traces:
        info["traces"] += 1
        info["stops_with_truth"] += len(truth)
        est = Estimator(route, params, history)
        ids = [s.id for s in route.stops]
        last_eval = -math.inf
        prev = None
        passed: set[str] = set()
        t_first = min(truth.values())
        for f in fixes:
            t = f.t
            if t < t_first:                              # layover before the trip: a bus waits for
                continue                                 # its timetable, a truck does not
            for sid in ids:                              # the daemon's stop state, from the truth
                if sid not in passed and sid in truth and truth[sid] <= t:
                    passed.add(sid)
                    est.observe_arrival(sid, truth[sid])
                    est.observe_departure(sid, truth[sid] + 1.0)
            last_true = max((ids.index(s) for s in passed), default=-1)
            remaining = [sid for k, sid in enumerate(ids) if k > last_true]
            if not remaining:
                break
            e = est.update(f, remaining)
            v = 2.0
            if prev is not None and t > prev.t:
                v = max(_dist(prev, f) / (t - prev.t), 2.0)   # AVL has no speed: from the track
            prev = f
            if t - last_eval < every:
                continue
            last_eval = t
            for se in e.stops:
                if se.stop_id not in truth:
                    continue
                actual = truth[se.stop_id]
                w_end = route.stop(se.stop_id).window.end.timestamp()
                naive = t + est.distance_to_stop(f, se.stop_id) / v
                rows.append((actual - t, se.p50 - actual, actual < se.p10, actual > se.p90, se.p_late,
                             actual > w_end, naive - actual))
    return rows, info


TIZEN = Path(__file__).resolve().parents[1] / "tests" / "data" / "tizen-replay" / "nmea_replay.log"
TIZEN_BINS = ((0.5, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, 10.0))   # minutes to the true arrival


def standstills(fixes, still_mps: float = 0.5, min_s: float = 8.0, merge_m: float = 60.0) -> list[tuple]:
    """Where a real drive really stopped: runs of fixes under `still_mps` lasting `min_s` or
    more, merged when closer than `merge_m` (stop-and-go at one junction is one stop).
    Returns (lat, lon, arrived, departed) in drive order."""
    from forewarn.devices import distance_m
    out: list[list] = []
    run: list = []
    for f in fixes:
        if (f.speed or 0.0) < still_mps:      # RMC leaves speed empty when standing: 0
            run.append(f)
            continue
        if run and f.t - run[0].t >= min_s:
            lat = float(np.mean([x.lat for x in run]))
            lon = float(np.mean([x.lon for x in run]))
            if out and distance_m(run[0], out[-1][4]) < merge_m:
                out[-1][3] = f.t
            else:
                out.append([lat, lon, run[0].t, f.t, run[0]])
        run = []
    return [tuple(x[:4]) for x in out]


def tizen_rows(every: float, params: EstimatorParams, with_geometry: bool) -> tuple[list[tuple], dict]:
    """A real 10-minute urban car drive (tests/data/tizen-replay, Apache-2.0) with stops placed
    where the car really stood (lights, junctions): each standstill is a stop with a nominal
    20 s service time, its start the true arrival. The route is the driven track thinned to
    ~25 m (`with_geometry`), or no geometry at all (straight legs x detour factor, from a depot
    at the start). No history: a cold first drive. Scored every `every` s of log time."""
    from forewarn.devices import distance_m, iter_fixes
    from forewarn.eta import Route, Stop, Window
    fixes = [f for f in iter_fixes(TIZEN.read_text(encoding="ascii").splitlines()) if f.lat is not None]
    stands = standstills(fixes)
    geometry = None
    if with_geometry:
        pts = [fixes[0]]
        for f in fixes[1:]:
            if distance_m(pts[-1], f) >= 25.0:
                pts.append(f)
        geometry = tuple((f.lon, f.lat) for f in pts + [fixes[-1]])
    tz = timezone.utc
    stops = [Stop("DEPOT", fixes[0].lat, fixes[0].lon, Window(fixes[0].time, fixes[0].time), service_s=0.0)]
    truth = {"DEPOT": (fixes[0].t, fixes[0].t)}
    for k, (lat, lon, arr, dep) in enumerate(stands):
        at = datetime.fromtimestamp(arr, tz)
        stops.append(Stop(f"T{k + 1}", lat, lon, Window(at - timedelta(minutes=30), at + timedelta(minutes=30)),
                          service_s=20.0))
        truth[f"T{k + 1}"] = (arr, dep)
    route = Route("tizen" + ("" if with_geometry else "-nogeom"), "car", "Europe/Berlin", tuple(stops),
                  geometry=geometry)
    rows = replay(Estimator(route, params, None), route, fixes, truth, every)
    return rows, {"stops": len(stands), "fixes": len(fixes), "seconds": fixes[-1].t - fixes[0].t}


def summarise_bins(rows: np.ndarray, bins) -> dict:
    """Like `summarise`, for the short real drive: horizon bins in minutes."""
    out = {}
    for lo, hi in bins:
        sel = rows[(rows[:, 0] > lo * 60) & (rows[:, 0] <= hi * 60)]
        if len(sel) == 0:
            continue
        err, nerr = np.abs(sel[:, 1]) / 60, np.abs(sel[:, 6]) / 60
        out[f"{lo:g}-{hi:g}"] = {"n": int(len(sel)), "median_min": float(np.median(err)),
                                 "p90_min": float(np.quantile(err, 0.9)),
                                 "naive_median_min": float(np.median(nerr)),
                                 "below_p10": float(sel[:, 2].mean()), "above_p90": float(sel[:, 3].mean())}
    return out


def _dist(a, b) -> float:
    from forewarn.devices import distance_m
    return distance_m(a, b)


def bootstrap(rows: np.ndarray, n_boot: int = 400, seed: int = 0) -> dict:
    """95% intervals of the target cells, resampling whole route-days (column 7).

    Predictions of one day share its driver, its traffic and its incident, so they are not
    independent: a day is the unit. With 20 route-days the 60-minute cells move by points
    from one set of seeds to the next, which a single number hides.
    """
    ids = np.unique(rows[:, 7])
    by_day = {i: rows[rows[:, 7] == i] for i in ids}
    rng = np.random.default_rng(seed)
    stats: dict[int, list] = {hm: [] for hm in HORIZONS}
    for _ in range(n_boot):
        pick = np.concatenate([by_day[i] for i in rng.choice(ids, size=len(ids))])
        for hm in HORIZONS:
            sel = pick[(pick[:, 0] >= 0.8 * hm * 60) & (pick[:, 0] <= 1.2 * hm * 60)]
            if len(sel):
                stats[hm].append((np.median(np.abs(sel[:, 1])) / 60, sel[:, 2].mean(), sel[:, 3].mean()))
    out = {}
    for hm, v in stats.items():
        if v:
            lo, hi = np.quantile(np.array(v), [0.025, 0.975], axis=0)
            out[hm] = {"median_min": [float(lo[0]), float(hi[0])], "below_p10": [float(lo[1]), float(hi[1])],
                       "above_p90": [float(lo[2]), float(hi[2])]}
    return out


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
    # the same binned by the horizon the prediction itself showed (p50 - now), as transit agencies
    # score theirs: binning by the true horizon selects on the outcome (a stop that turned out
    # late lands in a farther bin than it was predicted for), which inflates "above p90" far out
    # and "below p10" near
    shown = rows[:, 0] + rows[:, 1]
    out["by_shown"] = {}
    for hm in HORIZONS:
        sel = rows[(shown >= 0.8 * hm * 60) & (shown <= 1.2 * hm * 60)]
        if len(sel):
            out["by_shown"][hm] = {"n": int(len(sel)), "median_min": float(np.median(np.abs(sel[:, 1])) / 60),
                                   "below_p10": float(sel[:, 2].mean()), "above_p90": float(sel[:, 3].mean())}
    sel = rows[rows[:, 0] <= 90 * 60]
    out["calibration"] = {"below_p10": float(sel[:, 2].mean()), "above_p90": float(sel[:, 3].mean()), "n": int(len(sel))}
    # Brier score of P(late) against what happened
    out["p_late_brier"] = float(np.mean((sel[:, 4] - sel[:, 5]) ** 2))
    return out


def route_days(r: int, args: argparse.Namespace, params: EstimatorParams) -> tuple[dict[str, list], tuple]:
    """One truck's days on route `r`, its history learning from day to day: the scored rows by
    group, and its self-calibration multipliers after the last day. Seeded by `r` alone, so a
    route's rows are the same whichever process drives it and whatever else runs."""
    groups: dict[str, list] = {g: [] for g in GROUPS}
    history = TravelHistory()
    rng = np.random.default_rng(r)
    jitter = np.random.default_rng(10_000 + r)     # its own stream: the incidents stay as they were
    for day in range(args.days):
        start = ROUTE_START + timedelta(minutes=float(jitter.uniform(-1.0, 1.0)) * args.start_jitter)
        if args.new_route_daily and day:
            route = make_route(r + 1000 * day, length_m=32_000.0, n_stops=18, start=start,
                               lat0=43.70 + 0.05 * day, route_id=f"SIM-{r}")
        else:
            route = make_route(r, length_m=32_000.0, n_stops=18, start=start)
        delays = {}
        if rng.random() < args.incident_rate:    # a stop behind a 10-25 min incident
            delays[route.stops[int(rng.integers(2, len(route.stops)))].id] = float(rng.uniform(10, 25))
        rid = r * args.days + day          # the route-day: the unit of the bootstrap
        scored = drive(route, day, history, args.every, params, delays,
                       60.0 * args.restart_every, (args.address_sd, args.truck_sd), start)
        rows = [row[:7] + (rid,) for row in scored]
        groups["all"].extend(rows)
        groups["foreseeable"].extend(kept for kept, row in zip(rows, scored) if not row[7])
        groups["incident" if delays else "traffic"].extend(rows)
        groups["learned" if day >= 1 else "cold"].extend(rows)
    return groups, (list(history.cal_up), list(history.cal_dn))


def all_routes(args: argparse.Namespace, params: EstimatorParams) -> list[tuple[dict[str, list], tuple]]:
    """`route_days` for every route, in route order. Routes are independent trucks, so they
    spread over `--jobs` processes, each loading the kernels from Numba's cache; spawned, not
    forked: a fork copies a half-initialised Numba. `--jobs 1` keeps them in this process
    (for profilers and debuggers)."""
    one = partial(route_days, args=args, params=params)
    jobs = min(args.jobs, args.routes)
    if jobs <= 1:
        return [one(r) for r in range(args.routes)]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(one, range(args.routes)))

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 routes x 3 days (smoke run)")
    ap.add_argument("--routes", type=int, default=5)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--incident-rate", type=float, default=0.33,
                    help="share of days with a 10-25 min incident before one stop")
    ap.add_argument("--every", type=float, default=30.0, help="seconds of log time between scored predictions")
    ap.add_argument("--no-real", action="store_true", help="skip the WMATA real traces")
    ap.add_argument("--new-route-daily", action="store_true",
                    help="each truck drives a different route every day through new streets (its history still learns)")
    ap.add_argument("--address-sd", type=float, default=0.0,
                    help="log-spread of each address's persistent service-time habit (simulator; 0 = none)")
    ap.add_argument("--truck-sd", type=float, default=0.0,
                    help="log-spread of each truck's persistent service pace (simulator; 0 = a new driver every day)")
    ap.add_argument("--start-jitter", type=float, default=0.0, metavar="MIN",
                    help="each day's plan and drive start up to MIN minutes earlier or later than 13:00")
    ap.add_argument("--restart-every", type=float, default=0.0, metavar="MIN",
                    help="restart the estimator every MIN minutes of each simulated day (a gateway losing power)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="processes driving routes side by side (default: every CPU; same results for any value)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override an EstimatorParams field (tuning experiments)")
    args = ap.parse_args()
    if args.quick:
        args.routes, args.days = 2, 3
    params = EstimatorParams(**{k: float(v) for k, v in (kv.split("=", 1) for kv in args.set)})
    t0 = time.perf_counter()
    groups: dict[str, list] = {g: [] for g in GROUPS}
    cals = []
    for rows_of, cal_r in all_routes(args, params):
        for k, v in rows_of.items():
            groups[k].extend(v)
        cals.append(cal_r)
    elapsed = time.perf_counter() - t0
    res = {k: summarise(np.array(v, dtype=float)) for k, v in groups.items() if v}
    nan = {"median_min": float("nan"), "p90_min": float("nan"), "below_p10": float("nan"), "above_p90": float("nan")}

    print(f"ETA accuracy: {args.routes} routes x {args.days} days (32 km, 18 stops each), incident rate "
          f"{args.incident_rate:.2f}, scored every {args.every:.0f} s of log time ({elapsed:.1f} s)"
          + (" new streets daily" if args.new_route_daily else "")
          + (f", start +-{args.start_jitter:g} min" if args.start_jitter else "")
          + (f", service habits address {args.address_sd:g} truck {args.truck_sd:g}"
             if args.address_sd or args.truck_sd else ""))
    print("absolute error of p50 vs true arrival, minutes: median / p90")
    cols = ["traffic", "incident", "learned", "cold", "all"]   # issue #4 reads every group
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
    print("the same, binned by the horizon the prediction showed (p50 - now) instead of the true one")
    for hm in HORIZONS:
        cells = []
        for c in cols:
            x = res.get(c, {}).get("by_shown", {}).get(hm, nan)
            cells.append(f"{100 * x['below_p10']:>5.1f}% {100 * x['above_p90']:>5.1f}%")
        print(f"{hm:>6}mn | " + " | ".join(cells))
    print("all days without the predictions made before the truck reached an injected incident, for stops behind it")
    print("(what no model could know: the incident was ahead and had not happened yet)")
    for hm in HORIZONS:
        x, a = res.get("foreseeable", {}).get(hm), res["all"].get(hm)
        if x is None or a is None:
            continue
        print(f"{hm:>6}mn | {100 * (1 - x['n'] / a['n']):4.1f}% of the rows left out | median error {x['median_min']:5.2f} min"
              f" | below p10 {100 * x['below_p10']:4.1f}%  above p90 {100 * x['above_p90']:4.1f}%")
    print(f"P(late) Brier score (all): {res['all']['p_late_brier']:.4f}")
    ci = {k: bootstrap(np.array(groups[k], dtype=float)) for k in ("traffic", "all") if groups[k]}
    print("95% intervals over route-days (bootstrap): median error (traffic) | below p10, above p90 (all)")
    for hm in HORIZONS:
        t, a = ci.get("traffic", {}).get(hm), ci.get("all", {}).get(hm)
        if t is None or a is None:
            continue
        print(f"{hm:>6}mn | {t['median_min'][0]:5.2f}-{t['median_min'][1]:<5.2f} min | "
              f"{100 * a['below_p10'][0]:4.1f}-{100 * a['below_p10'][1]:4.1f}%  "
              f"{100 * a['above_p90'][0]:4.1f}-{100 * a['above_p90'][1]:4.1f}%")
    cal = {"up": np.mean([c[0] for c in cals], axis=0).tolist(),
           "dn": np.mean([c[1] for c in cals], axis=0).tolist()}
    print("self-calibration after the last day, mean over routes, at " +
          " / ".join(f"{k / 60:.0f}" for k in CAL_KNOTS_S) + " min: up " +
          " ".join(f"{x:.2f}" for x in cal["up"]) + ", dn " + " ".join(f"{x:.2f}" for x in cal["dn"]))
    real = None
    if not args.no_real:
        rrows, info = real_rows(args.every, params)
        if rrows:
            real = summarise(np.array(rrows, dtype=float))
            real["info"] = info
            print(f"real traces: WMATA bus AVL ({info['traces']} trips, {info['stops_with_truth']} stops with a "
                  f"closest-approach arrival; 30 s polling, no speed), read in place from {WMATA}")
            print(f"{'horizon':>8} {'n':>6} | {'forewarn med':>12} {'p90':>6} | {'naive med':>9} {'p90':>6} | "
                  f"{'naive/fw':>8} | {'<p10':>6} {'>p90':>6}")
            for hm in HORIZONS:
                x = real.get(hm)
                if x is None:
                    continue
                print(f"{hm:>6}mn {x['n']:>6} | {x['median_min']:>12.2f} {x['p90_min']:>6.2f} | "
                      f"{x['naive_median_min']:>9.2f} {x['naive_p90_min']:>6.2f} | "
                      f"{x['ratio_naive_over_forewarn']:>8.1f} | {100 * x['below_p10']:>5.1f}% {100 * x['above_p90']:>5.1f}%")
        else:
            print(f"real traces: {WMATA} not found, skipped")
    tiz = {}
    for geo in (True, False):
        trows, tinfo = tizen_rows(min(args.every, 10.0), params, geo)
        tiz["geometry" if geo else "no_geometry"] = {**summarise_bins(np.array(trows, dtype=float), TIZEN_BINS),
                                                     "info": tinfo}
    print(f"real drive: tizen-replay car, {tinfo['seconds'] / 60:.0f} min, {tinfo['stops']} stops where it really "
          "stood (cold, no history; scored every 10 s)")
    print(f"{'minutes out':>11} | {'route = driven track: n':>23} {'fw med':>6} {'p90':>5} {'naive':>5} "
          f"{'<p10':>5} {'>p90':>5} | {'no geometry: fw med':>19} {'naive':>5}")
    for lo, hi in TIZEN_BINS:
        k = f"{lo:g}-{hi:g}"
        g, ng = tiz["geometry"].get(k), tiz["no_geometry"].get(k)
        if g is None or ng is None:
            continue
        print(f"{k:>11} | {g['n']:>23} {g['median_min']:>6.2f} {g['p90_min']:>5.2f} {g['naive_median_min']:>5.2f} "
              f"{100 * g['below_p10']:>4.0f}% {100 * g['above_p90']:>4.0f}% | {ng['median_min']:>19.2f} "
              f"{ng['naive_median_min']:>5.2f}")
    print(json.dumps({"bench": "accuracy", "routes": args.routes, "days": args.days,
                      "incident_rate": args.incident_rate, "restart_every_min": args.restart_every,
                      "address_sd": args.address_sd, "start_jitter_min": args.start_jitter, "truck_sd": args.truck_sd, "new_route_daily": args.new_route_daily,
                      "seconds": round(elapsed, 1),
                      **{g: {str(k): v for k, v in r.items()} for g, r in res.items()}, "calibration": cal,
                      "intervals": {g: {str(k): v for k, v in r.items()} for g, r in ci.items()},
                      "real": {str(k): v for k, v in real.items()} if real else None, "tizen": tiz}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

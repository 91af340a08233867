"""The per-truck estimator the daemon calls on every fix: a thin wrapper over `update_one`.

Everything per stop happens inside the kernel over arrays; Python only translates stop ids,
hands back a copy of the kernel's output (`StopEtas` builds the per-stop tuples when they are
read), and does the rare bookkeeping for learning.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np

from forewarn.devices import Fix

from . import _kernels as K
from ._history import Stat, TravelHistory, cell_key, plan_key
from ._model import RouteModel, build_model
from ._params import N_CAL, P_CAL_DN0, P_CAL_UP0, EstimatorParams
from ._route import Route
from ._types import Estimate, StopEtas

_NAN = float("nan")
GLOBAL_DWELL_KEY = "*"
LIVE_NOTE_S = 30.0   # s, how often the live ratios are handed to the history (for a restart)


def utc_offset_at(tz: str, when: datetime) -> float:
    """Seconds to add to POSIX time to get the route's local wall clock (time-of-day buckets)."""
    try:
        off = when.astimezone(ZoneInfo(tz)).utcoffset()
    except Exception:  # unknown zone: UTC buckets are still consistent between learn and use
        return 0.0
    return off.total_seconds() if off is not None else 0.0


def fleet_pace(days: Sequence[Stat], params: EstimatorParams) -> float:
    """The fleet's long-run service pace (log actual/planned) from earlier route-days' paces.

    Stops of one day share its driver, so the evidence is the number of days, not of stops:
    the mean of the days' paces, shrunk towards the plan (0) by how far it can be trusted
    (between-day variance / days, against `dwell_fleet_sd`^2). Yesterday's driver being slow
    says little about today's (another driver, another load) unless the days agree; when
    they do (a planner whose service times are short for every driver) it goes on. The
    between-day variance is the days' own, pooled with the prior one the per-stop spread and
    `pace_prior_stops` imply, which stands in while there are few days.
    """
    d = len(days)
    if d == 0:
        return 0.0
    means = [s.mean for s in days]
    mu = sum(means) / d
    vb = params.dwell_cv ** 2 / (1.0 + params.pace_prior_stops)
    if d >= 2:
        vb = (vb + sum((m - mu) ** 2 for m in means)) / d
    s2 = params.dwell_fleet_sd ** 2
    return mu * s2 / (s2 + vb / d)


def dwell_key(lat: float, lon: float, cell_deg: float) -> str:
    """A customer's address repeats across days; its cell keys its learned service habit.

    The habit is kept against the day's pace (see `Estimator.observe_departure`). State files
    from before kept raw ratios under "stop:" keys; those rows are left unread (a raw mean
    carries the days it was visited on, the same for every address of a route).
    """
    return "addr:" + cell_key(lat, lon, None, cell_deg / 4.0)


def build_profile(model: RouteModel, params: EstimatorParams, history: TravelHistory | None
                  ) -> tuple[np.ndarray, list[str]]:
    """Expected speed, travel-time spread and far weight of the live ratio per (stretch, hour).

    Prior = the route planner's speed for the leg (its `drive_s`) where the manifest has it,
    else the configured cruise speed raised towards `highway_speed` on long hops between
    consecutive stops (a 30 km leg between two customers is not driven through town: without
    the planner's road classes, the stop spacing is the hint we have); `cv_stretch` either
    way; learned cells pull it towards what
    this place at this hour really did, weighted by how often we saw it (log domain). Where
    only the prior speaks, today's live ratio counts far ahead too (the prior is a guess);
    where history is rich, the live ratio fades to `live_weight_far`.
    """
    n_k, n_tod = model.n_stretches, params.n_tod
    keys = [cell_key(float(la), float(lo), float(h), params.history_cell_deg)
            for la, lo, h in zip(model.stretch_lat, model.stretch_lon, model.stretch_heading)]
    prior = prior_speeds(model, params)
    prof = np.empty((n_tod, n_k, K.N_PROF))     # the kernels' layout (see `_kernels.PR_V`)
    prof[:, :, K.PR_V] = prior
    prof[:, :, K.PR_CV] = params.cv_stretch
    prof[:, :, K.PR_W] = params.live_weight_far_prior
    vprof, cvprof, wprof = K.by_stretch(prof)
    if history is not None and history.travel:
        w0, cv0 = params.prior_weight, params.cv_stretch
        for i, key in enumerate(keys):
            lv0 = math.log(prior[i])
            for b in range(n_tod):
                st = history.travel.get((key, b))
                if st is None:
                    continue
                m = (st.n * st.mean + w0 * lv0) / (st.n + w0)
                # the prior's spread counts w0 observations, the cell's sum of squares n - 1: one
                # traversal tells how fast a street is, not how variable (with n, every street
                # driven once looked steadier than a new one and learned p90s came out narrow)
                var = (st.n * st.var + w0 * cv0 * cv0) / (max(st.n - 1.0, 0.0) + w0)
                # E[length / v] for log-normal v: use exp(mean - var/2) as the speed
                vprof[i, b] = math.exp(m - 0.5 * var)
                cvprof[i, b] = math.sqrt(var)
                wprof[i, b] = ((w0 * params.live_weight_far_prior + st.n * params.live_weight_far)
                               / (st.n + w0))
    return prof, keys


PLANNER_SPEED_MAX = 40.0  # m/s (144 km/h): above this a planner's drive time is a typo, not a road


def prior_speeds(model: RouteModel, params: EstimatorParams) -> np.ndarray:
    """Prior speed per stretch: the planner's for its leg (stop to stop) when given, else
    from the leg's length. Legs after the last stop keep the length rule.

    On a long leg only the middle is fast: the first and last `leg_approach_m` (leaving one
    customer's street, reaching the next one's: ramps, junctions, local roads) are driven at
    town speed. Without this a bus at motorway speed 5 km before its exit was predicted
    there 3-4 minutes early (WMATA 5A, bench/accuracy.py)."""
    mid = 0.5 * (model.edges[:-1] + model.edges[1:])
    bounds = np.concatenate(([0.0], model.stop_s, [model.length]))
    j = np.clip(np.searchsorted(bounds, mid, side="right") - 1, 0, len(bounds) - 2)
    leg = bounds[j + 1] - bounds[j]
    a, b = params.leg_fast_from_m, params.leg_fast_full_m
    w = np.clip((leg - a) / max(b - a, 1.0), 0.0, 1.0)
    near_end = np.minimum(mid - bounds[j], bounds[j + 1] - mid) < params.leg_approach_m
    w = np.where(near_end, 0.0, w)
    v = params.cruise_speed + w * max(params.highway_speed - params.cruise_speed, 0.0)
    drive = np.append(model.stop_drive_s, np.nan)[j]      # leg j ends at stop j
    given = np.isfinite(drive) & (leg > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        planned = np.clip(leg / drive, params.v_floor, PLANNER_SPEED_MAX)
    return np.where(given, planned, v)


class Estimator:
    """Tracks one truck along one route and predicts its arrival at every remaining stop."""

    def __init__(self, route: Route, params: EstimatorParams | None = None,
                 history: TravelHistory | None = None) -> None:
        self.route = route
        self.params = p = params or EstimatorParams()
        self.history = history
        self.model = m = build_model(route, p.stretch_m)
        first = route.stops[0].window.start if route.stops else datetime.now(timezone.utc)
        off = utc_offset_at(route.timezone, first)
        self._prm = p.as_array(off)
        self._day = int((first.timestamp() + off) // 86400)   # the route-day (local), for `fleet_pace`
        self._load_calib()
        self._ids = {s.id: i for i, s in enumerate(route.stops)}
        self._win_end = np.array([s.window.end_t for s in route.stops], dtype=np.float64)
        self._service = np.array([max(s.service_s, 0.0) for s in route.stops], dtype=np.float64)
        self._dwell_keys = [dwell_key(s.lat, s.lon, p.history_cell_deg) for s in route.stops]
        self.prof, self._stretch_keys = build_profile(m, p, history)
        self.dwell_mu = np.empty(len(route.stops))
        self.dwell_var = np.empty(len(route.stops))
        self._today: list[float] = []           # log(actual/planned) of this driver's stops today
        self._fleet = 0.0                       # the fleet's log pace from earlier days (`fleet_pace`)
        self._arrived: dict[str, float] = {}
        self._refresh_dwell()
        self._state = K.new_state()
        self._out = np.zeros((K.N_OUT, len(route.stops)))
        self._rem_key: tuple = ()
        self._rem_idx = np.zeros(len(route.stops), dtype=np.int64)
        self._rem_n = 0
        self._prev_s = 0.0
        self._kx, self._ky = m.proj.kx, m.proj.ky
        self._lat0, self._lon0 = m.proj.lat0, m.proj.lon0
        self._stretch_m = p.stretch_m
        self._last_stretch = m.n_stretches - 1
        self._cur_stretch = -1
        self._stretch_t0 = 0.0
        self._stretch_clean = False
        self._dwell_acc = 0.0
        self._last_fix_t: float | None = None
        # self-calibration: per stop, how many knots lie below its last p50 time to arrival (-1 =
        # not predicted yet; `_cal_rem` holds it for the remaining stops, in their order, so the
        # per-fix check needs no gather/scatter). The history keeps the (p10, p90) of the first
        # prediction at or below each knot a stop crossed until it arrives, keyed by route and
        # version: a restart goes on scoring them, a reordered plan starts afresh
        self._cal_lvl = np.full(len(route.stops), -1, dtype=np.int64)
        self._cal_rem = np.full(len(route.stops), -1, dtype=np.int64)
        self._cal_cross = np.zeros((3, len(route.stops)), dtype=np.int64)   # (stop, new, old) of crossings
        self._cal_route = plan_key(route.route_id, route.version)
        self._resume_live: tuple[float, float, float] | None = None   # (seen at, near, far ratio)
        self._live_noted = -math.inf

    # -- geometry helpers the daemon uses ------------------------------------------------
    def stop_chainage(self, stop_id: str) -> float:
        """Where the stop sits along the route, metres from its start."""
        return float(self.model.stop_s[self._ids[stop_id]])

    def _xy(self, fix: Fix) -> tuple[float, float]:
        """`Projection.to_xy` for one fix, in plain floats (no NumPy scalars on the per-fix path)."""
        return (fix.lon - self._lon0) * self._kx, (fix.lat - self._lat0) * self._ky

    def distance_to_stop(self, fix: Fix, stop_id: str) -> float:
        """Straight-line metres from the fix to the stop (the daemon's arrival test)."""
        k = self._ids[stop_id]
        x, y = self._xy(fix)
        return math.hypot(x - self.model.stop_x[k], y - self.model.stop_y[k])

    def distances_to_stops(self, fix: Fix) -> list[float]:
        """`distance_to_stop` for every stop, in route order: one array operation where the
        daemon's arrival test asked stop by stop on every fix."""
        x, y = self._xy(fix)
        return np.hypot(x - self.model.stop_x, y - self.model.stop_y).tolist()

    @property
    def vprof(self) -> np.ndarray:
        """Expected speed per (stretch, hour): a writable view of `prof`."""
        return K.by_stretch(self.prof)[0]

    @property
    def cvprof(self) -> np.ndarray:
        """Travel-time cv per (stretch, hour): a view of `prof`."""
        return K.by_stretch(self.prof)[1]

    @property
    def wprof(self) -> np.ndarray:
        """Far weight of the live ratio per (stretch, hour): a view of `prof`."""
        return K.by_stretch(self.prof)[2]

    @property
    def day(self) -> int:
        """The route's local day number: its stops' service pace is recorded under it, and
        only earlier days make the fleet's pace (`fleet_pace`)."""
        return self._day

    @property
    def initialized(self) -> bool:
        return self._state[K.S_INIT] != 0.0

    # -- per fix ------------------------------------------------------------------------
    def update(self, fix: Fix, remaining: Sequence[str],
               dwelling: tuple[str, float] | None = None) -> Estimate:
        """Fold in one fix and predict every stop in `remaining` (route order)."""
        x, y = self._xy(fix)
        sp = fix.speed
        return self._run(fix.t, x, y, _NAN if sp is None else sp,
                         fix.horizontal_error(self.params.sigma_gps), remaining, dwelling)

    def predict(self, t: float, remaining: Sequence[str],
                dwelling: tuple[str, float] | None = None) -> Estimate | None:
        """No fix (dropout): dead-reckon along the route to time `t`; None before any fix."""
        if self._state[K.S_INIT] == 0.0:
            return None
        return self._run(t, _NAN, _NAN, _NAN, 0.0, remaining, dwelling)

    def _run(self, t: float, x: float, y: float, speed: float, sigma: float,
             remaining: Sequence[str], dwelling: tuple[str, float] | None) -> Estimate:
        key = remaining if isinstance(remaining, tuple) else tuple(remaining)
        if key != self._rem_key:
            self._set_remaining(key)
        n = self._rem_n
        dw_flag, dw_mu, dw_var = 0, 0.0, 0.0
        if dwelling is not None:
            dw_flag = 1
            dw_mu, dw_var = self._dwell_left(dwelling, t)
        st = self._state
        if self._resume_live is not None and st[K.S_INIT] == 0.0 and x == x:
            t_l, r, rf = self._resume_live
            self._resume_live = None
            # (seen after this fix: another drive's, e.g. a replay of an older log: nothing to go on)
            keep = math.exp(-(t - t_l) / self.params.live_resume_tau_s) if t >= t_l else 0.0
            st[K.S_RATIO] = 1.0 + (r - 1.0) * keep
            st[K.S_RATIO_FAR] = 1.0 + (rf - 1.0) * keep
        m = self.model
        K.update_one(m.px, m.py, m.cum, m.edges, self.prof, m.stop_s, m.stop_x, m.stop_y, self.dwell_mu,
                     self.dwell_var, self._win_end, self._rem_idx, n, self._prev_s, st, t, x, y, speed, sigma,
                     dw_flag, dw_mu, dw_var, self._prm, self._out)
        sl = st.tolist()     # one conversion: reading a dozen NumPy scalars cost ~1 us
        s = sl[K.S_S]
        t_f = sl[K.S_T]
        off = sl[K.S_OFF] != 0.0
        if x == x and t >= t_f:
            self._learn(s, t, dw_flag, off)
            if self.history is not None:
                if n:
                    self._track_calib(t, n)
                if t - self._live_noted >= LIVE_NOTE_S:
                    self._live_noted = t
                    self.history.set_live(t, sl[K.S_RATIO], sl[K.S_RATIO_FAR])
        t = max(t, t_f)
        v = sl[K.S_V]
        if x != x and not off:      # dead-reckoned as the kernel does: coasting, then stopped
            coast = self.params.dropout_coast_s
            s = min(s + v * min(t - t_f, coast), m.length)
            if t - t_f > coast:
                v = 0.0
        stops = StopEtas(key, self._out[:, :n].copy())
        return Estimate(t, s, v, self._lat0 + sl[K.S_MY] / self._ky,
                        self._lon0 + sl[K.S_MX] / self._kx, sl[K.S_DIST], off, stops)

    def _set_remaining(self, key: tuple) -> None:
        """Point the per-stop arrays at a new list of remaining stops.

        Fast path for the usual change, the first stops leaving the plan (served or skipped in
        order): the arrays shift in place (~10 us at 150 stops) where rebuilding them from the
        ids took ~55 us, the slowest fix of a drive but for a stop's own arrival.
        """
        old, n = self._rem_key, self._rem_n
        d = n - len(key)
        if d > 0 and key == old[d:]:
            gone: Iterable[str] = old[:d]
            self._cal_lvl[self._rem_idx[:d]] = self._cal_rem[:d]
            self._rem_idx[:n - d] = self._rem_idx[d:n]       # overlapping slices: NumPy copies safely
            self._cal_rem[:n - d] = self._cal_rem[d:n]
        else:
            try:
                idx = [self._ids[i] for i in key]
            except KeyError as e:
                raise ValueError(f"remaining stop {e.args[0]!r} is not a stop of route "
                                 f"{self.route.route_id!r}") from None
            if any(b <= a for a, b in zip(idx, idx[1:])):
                raise ValueError("remaining stops must be given in route order, without repeats")
            gone = set(old) - set(key)
            self._cal_lvl[self._rem_idx[:n]] = self._cal_rem[:n]
            self._cal_rem[:len(idx)] = self._cal_lvl[idx]
            self._rem_idx[:len(idx)] = idx
        if self.history is not None:     # left the plan without an arrival: nothing to score
            for sid in gone:
                self.history.drop(self._cal_route, sid)
        self._rem_n = len(key)
        self._rem_key = key
        first = int(self._rem_idx[0]) if key else len(self.route.stops)
        self._prev_s = float(self.model.stop_s[first - 1]) if first > 0 else 0.0

    # -- dwell --------------------------------------------------------------------------
    def _refresh_dwell(self) -> None:
        """Expected service time per stop: planned x the fleet's pace x the address's habit x today's pace.

        The fleet's level comes from earlier days only (`fleet_pace`); today's pace is a
        shrunken mean of this driver's clamped log-ratios relative to it, so it moves the
        expectation only as far as its evidence allows, and today's stops are counted once.
        """
        p, h = self.params, self.history
        g = h.dwell_stat(GLOBAL_DWELL_KEY) if h is not None else None
        self._fleet = c = fleet_pace(h.past_days(self._day), p) if h is not None else 0.0
        pace = self._today_pace()
        k_a = p.dwell_cv ** 2 / max(p.dwell_address_sd, 1e-6) ** 2   # sd 0: addresses have no habits
        for k, svc in enumerate(self._service):
            # the level is the days' (the recent stops' one would count yesterday's driver as the
            # fleet's); the spread is the recent stops', weighted against the prior's
            level, den = c, p.prior_weight
            vnum = p.prior_weight * p.dwell_cv ** 2
            if g is not None:
                w = min(g.n, 10.0)
                vnum += w * g.var
                den += w * max(g.n - 1.0, 0.0) / max(g.n, 1.0)   # one stop says nothing of the spread
            a = h.dwell_stat(self._dwell_keys[k]) if h is not None else None
            if a is not None:
                # this address's own habit, as far as its visits weigh against the habits'
                # spread: each visit carries its own noise and the error of its day's pace
                level += a.n / (a.n + k_a) * a.mean
                vnum += a.n * a.var
                den += max(a.n - 1.0, 0.0)
            vlog = vnum / den
            # log-normal service time: its mean (what sums along the route) is exp(m + v/2)
            mu = svc * math.exp(level + pace + 0.5 * vlog)
            self.dwell_mu[k] = mu
            self.dwell_var[k] = (math.exp(vlog) - 1.0) * mu * mu

    def _dwell_left(self, dwelling: tuple[str, float], t: float) -> tuple[float, float]:
        """Remaining service time at the stop being served: expected minus elapsed, with a
        floor that grows as the stop overruns (an overrunning stop rarely ends right now)."""
        k = self._ids[dwelling[0]]
        mu = float(self.dwell_mu[k])
        elapsed = max(t - dwelling[1], 0.0)
        left = mu - elapsed
        floor = 0.25 * mu + 0.1 * max(elapsed - mu, 0.0)
        left = max(left, floor)
        return left, (self.params.dwell_cv * left) ** 2

    def observe_arrival(self, stop_id: str, t: float) -> None:
        """The daemon saw the truck arrive: start the dwell clock, and score the p10/p90 this
        stop was given at each calibration knot against when it really came."""
        self._arrived[stop_id] = t
        h = self.history
        if h is not None and h.score(self._cal_route, stop_id, t, self.params.calib_rate, self.params.calib_warmup):
            self._load_calib()

    # -- self-calibration ---------------------------------------------------------------
    def _load_calib(self) -> None:
        """The learned spread multipliers into the packed params (no history: all 1, as today)."""
        h = self.history
        if h is not None:
            self._prm[P_CAL_UP0:P_CAL_UP0 + N_CAL] = h.cal_up
            self._prm[P_CAL_DN0:P_CAL_DN0 + N_CAL] = h.cal_dn

    def _track_calib(self, t: float, n: int) -> None:
        """Remember the first (p10, p90) of each remaining stop at or below each knot it crosses.

        One small kernel call per fix (`knot_crossings`); Python only runs for the rare stop
        that crossed a knot since the last fix.
        """
        c = self._cal_cross
        cnt = K.knot_crossings(self._out, t, self._cal_rem, n, c)
        if cnt:
            h = self.history
            for j, lo, hi in zip(*c[:, :cnt].tolist()):
                p10, p90 = float(self._out[K.O_P10, j]), float(self._out[K.O_P90, j])
                for k in range(lo, hi):
                    h.note(self._cal_route, self._rem_key[j], k, t, p10, p90)

    def observe_departure(self, stop_id: str, t: float) -> None:
        """The daemon saw the truck leave: learn this driver's (and address's) service time."""
        t0 = self._arrived.pop(stop_id, None)
        ratio = self._service_ratio(stop_id, t0, t)
        if ratio is None:
            return
        pace = self._note_pace(ratio)
        if self.history is not None:
            # this address may be slow: its own ratio (bounded only to 0.05-20x) against what
            # today's stops, this one included, say of the day's pace. Against the raw ratio,
            # every address of a route visited on the same days would share those days' pace
            # as a "habit", and the errors of all the stops ahead would add up alike.
            k = self._ids[stop_id]
            day_now = self._fleet + self._today_pace()
            self.history.add_dwell(self._dwell_keys[k], min(max(ratio, 0.05), 20.0) * math.exp(-day_now))
            self.history.add_dwell(GLOBAL_DWELL_KEY, pace)
            self.history.add_day_pace(self._day, pace)
        self._refresh_dwell()

    def resume(self, visits: Iterable[tuple[str, float | None, float | None]]) -> None:
        """Carry today on after a restart: (stop id, arrived, departed) of the stops the daemon's
        stop book says were visited. A gateway loses power with the ignition (lunch, ferries):
        without this, today's service pace would start again from the fleet's, and the stop
        being served at the restart would never be learned. The history learned these already:
        nothing is added to it again. The live ratios (how this truck drives against the
        profile today) go on from what the history last saw, as they would through a pause
        without a restart, faded by the time since (`live_resume_tau_s`)."""
        if self.history is not None and self.history.live is not None:
            self._resume_live = self.history.live
        for stop_id, arrived, departed in visits:
            if stop_id not in self._ids or arrived is None:
                continue
            if departed is None:
                self._arrived[stop_id] = arrived
                continue
            ratio = self._service_ratio(stop_id, arrived, departed)
            if ratio is not None:
                self._note_pace(ratio)
        self._refresh_dwell()

    def _service_ratio(self, stop_id: str, t0: float | None, t: float) -> float | None:
        """Actual over planned service time, or None when there is nothing to learn."""
        svc = self._service[self._ids[stop_id]]
        if t0 is None or svc <= 0 or t <= t0:
            return None
        return (t - t0) / svc

    def _today_pace(self) -> float:
        """Today's log pace against the fleet's: the mean of today's stops shrunk by
        `pace_prior_stops`, so it moves only as far as its evidence allows."""
        c = self._fleet
        return sum(x - c for x in self._today) / (len(self._today) + self.params.pace_prior_stops)

    def _note_pace(self, ratio: float) -> float:
        """Today's pace gets the stop's ratio clamped (see `pace_clamp`); returns the clamped one."""
        c = self.params.pace_clamp
        pace = min(max(ratio, 1.0 / c), c)
        self._today.append(math.log(pace))
        return pace

    # -- travel learning ----------------------------------------------------------------
    def _learn(self, s: float, t: float, dwelling: int, off: bool) -> None:
        """Record each stretch crossed on route: its length over the time it took, minus the
        time spent serving a stop inside it (travel history must not learn dwell as traffic),
        within `learn_clamp` spreads of what the profile expected (a robust, Huber-like mean:
        non-recurring jams are the unforeseen term's and the live ratio's business)."""
        if dwelling and self._last_fix_t is not None:
            self._dwell_acc += t - self._last_fix_t
        self._last_fix_t = t
        i = min(int(s // self._stretch_m), self._last_stretch)
        if i == self._cur_stretch:
            if off:
                self._stretch_clean = False
            return
        if i == self._cur_stretch + 1 and self._stretch_clean and self.history is not None:
            j = self._cur_stretch
            dt = t - self._stretch_t0 - self._dwell_acc
            if dt > 0:
                length = self.model.edges[j + 1] - self.model.edges[j]
                tod = K.tod_bucket(self._stretch_t0, self._prm)
                v = length / dt
                c = self.params.learn_clamp
                if c > 0.0:    # one jam or crash is not what this stretch is like (see learn_clamp)
                    cv = float(self.prof[tod, j, K.PR_CV])
                    ref = math.log(float(self.prof[tod, j, K.PR_V])) + 0.5 * cv * cv   # the profile's log-mean
                    w = c * max(cv, self.params.cv_stretch)   # a steady street still has its red lights
                    v = math.exp(min(max(math.log(v), ref - w), ref + w))
                self.history.add_travel(self._stretch_keys[j], tod, v)
        entered = i == self._cur_stretch + 1 and self._cur_stretch >= 0  # not a jump or the start
        self._cur_stretch = i
        self._stretch_t0 = t
        self._dwell_acc = 0.0
        self._stretch_clean = entered and not off

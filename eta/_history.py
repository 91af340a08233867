"""What earlier drives taught us: speed per place/heading/hour, how long stops really take, and
how well the predicted p10/p90 have matched real arrivals (the self-calibration multipliers).

Keyed by a ~250 m spatial cell + heading bucket (not by route or stretch index), so a street
learned on Monday's route helps Tuesday's different route through it. Statistics are of log
speed and log(actual dwell / planned service_s) -- travel times are multiplicative -- kept
as (n, mean, variance) with n capped so old days fade and the profile follows changing traffic.
"""
from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field

from ._params import CAL_KNOTS_S, CAL_MAX, CAL_MIN, N_CAL

N_CAP = 40.0  # at most this many observations' worth of memory per key
# d P(arrival beyond the tail quantile) / d log(multiplier) at the 10% tail of a normal:
# pdf(1.2816) x 1.2816. Heavier real tails are flatter there, so this errs on the slow side.
CAL_TAIL_DENSITY = 0.2250
SETTLED_N = 1000.0  # arrivals a multiplier from before counting is taken to stand for
# A noted prediction scored against an arrival more than this later is from another day (a
# route id reused daily, a stop never reached): it is not scored, and rows this much older
# than the newest noted one are pruned from the file.
PENDING_MAX_S = 12 * 3600.0
# Each route-day's service pace (mean log actual/planned of its stops), kept in the dwell table
# under these keys so the fleet's long-run pace can be told from one driver-day's.
DAY_PREFIX = "*day:"
DAYS_USED = 30        # the newest this many days before today make the fleet's pace
DAY_MIN_STOPS = 3.0   # a day with fewer stops served says too little about its driver


def plan_key(route_id: str, version: str) -> str:
    """Key of a plan's pending calibration predictions: a restart of the same plan goes on
    scoring them, a reordered one (a new version) does not."""
    return f"{route_id}@{version}"


def cell_key(lat: float, lon: float, heading: float | None, cell_deg: float) -> str:
    """Spatial cell (+ 8-way heading) that generalises across routes."""
    row = math.floor(lat / cell_deg)
    coslat = max(math.cos(math.radians((row + 0.5) * cell_deg)), 0.01)
    col = math.floor(lon * coslat / cell_deg)
    if heading is None:
        return f"{row}:{col}"
    return f"{row}:{col}:{int(((heading % 360.0) + 22.5) // 45.0) % 8}"


@dataclass(slots=True)
class Stat:
    """Running log-domain mean and variance; past the cap it is an exponential average."""

    n: float = 0.0
    mean: float = 0.0
    var: float = 0.0

    def add(self, value: float, cap: float = N_CAP) -> None:
        self.n = min(self.n + 1.0, cap)
        a = 1.0 / self.n
        d = value - self.mean
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)


@dataclass
class TravelHistory:
    """Learned travel and dwell profile and spread calibration. `load`/`save` keep it in the
    SQLite state file."""

    travel: dict[tuple[str, int], Stat] = field(default_factory=dict)
    dwell: dict[str, Stat] = field(default_factory=dict)
    # service pace per route-day (local day number): what `fleet_pace` is estimated from
    days: dict[int, Stat] = field(default_factory=dict)
    # spread multipliers above / below the median per `CAL_KNOTS_S` knot (see `calibrate`)
    cal_up: list[float] = field(default_factory=lambda: [1.0] * N_CAL)
    cal_dn: list[float] = field(default_factory=lambda: [1.0] * N_CAL)
    cal_n: list[float] = field(default_factory=lambda: [0.0] * N_CAL)   # arrivals scored per knot
    # predictions noted at each knot, waiting for their stop's arrival: (route key, stop id) ->
    # {knot: (noted at, p10, p90)}. In the file too, so a restart (the ignition) loses none
    pending: dict[tuple[str, str], dict[int, tuple[float, float, float]]] = field(default_factory=dict)
    # this truck's live ratios (near, far: its pace against the profile) and when they were last
    # seen, for a restarted daemon to go on from (see `Estimator.resume`)
    live: tuple[float, float, float] | None = None
    _dirty_l: bool = field(default=False, repr=False)
    _dirty_t: set = field(default_factory=set, repr=False)
    _dirty_d: set = field(default_factory=set, repr=False)
    _dirty_days: set = field(default_factory=set, repr=False)
    _dirty_c: set = field(default_factory=set, repr=False)
    _dirty_p: set = field(default_factory=set, repr=False)

    _DDL = (
        "CREATE TABLE IF NOT EXISTS eta_travel (cell TEXT NOT NULL, tod INTEGER NOT NULL,"
        " n REAL NOT NULL, mean REAL NOT NULL, var REAL NOT NULL, PRIMARY KEY (cell, tod))",
        "CREATE TABLE IF NOT EXISTS eta_dwell (key TEXT PRIMARY KEY, n REAL NOT NULL,"
        " mean REAL NOT NULL, var REAL NOT NULL)",
        # keyed by the knot's seconds, not its index: rows of knots no longer used are ignored
        "CREATE TABLE IF NOT EXISTS eta_calib (knot_s REAL PRIMARY KEY, up REAL NOT NULL, dn REAL NOT NULL,"
        " n REAL NOT NULL DEFAULT 0)",
        "CREATE TABLE IF NOT EXISTS eta_calib_pending (route TEXT NOT NULL, stop TEXT NOT NULL,"
        " knot_s REAL NOT NULL, t REAL NOT NULL, p10 REAL NOT NULL, p90 REAL NOT NULL,"
        " PRIMARY KEY (route, stop, knot_s))",
        "CREATE TABLE IF NOT EXISTS eta_live (k INTEGER PRIMARY KEY CHECK (k = 0), t REAL NOT NULL,"
        " ratio REAL NOT NULL, ratio_far REAL NOT NULL)",
    )

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """State files written before arrivals were counted: their multipliers count as settled
        (the constant step they were learned with), not as a fresh start."""
        cols = {row[1] for row in conn.execute("PRAGMA table_info(eta_calib)")}
        if "n" not in cols:
            conn.execute(f"ALTER TABLE eta_calib ADD COLUMN n REAL NOT NULL DEFAULT {SETTLED_N}")

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> "TravelHistory":
        for ddl in cls._DDL:
            conn.execute(ddl)
        cls._migrate(conn)
        h = cls()
        for cell, tod, n, mean, var in conn.execute("SELECT cell, tod, n, mean, var FROM eta_travel"):
            h.travel[(cell, int(tod))] = Stat(n, mean, var)
        for key, n, mean, var in conn.execute("SELECT key, n, mean, var FROM eta_dwell"):
            if key.startswith(DAY_PREFIX):
                h.days[int(key[len(DAY_PREFIX):])] = Stat(n, mean, var)
            else:
                h.dwell[key] = Stat(n, mean, var)
        for knot_s, up, dn, n in conn.execute("SELECT knot_s, up, dn, n FROM eta_calib"):
            if knot_s in CAL_KNOTS_S:
                k = CAL_KNOTS_S.index(knot_s)
                h.cal_up[k], h.cal_dn[k], h.cal_n[k] = up, dn, n
        for route, stop, knot_s, t, p10, p90 in conn.execute(
                "SELECT route, stop, knot_s, t, p10, p90 FROM eta_calib_pending"):
            if knot_s in CAL_KNOTS_S:
                h.pending.setdefault((route, stop), {})[CAL_KNOTS_S.index(knot_s)] = (t, p10, p90)
        for t, r, rf in conn.execute("SELECT t, ratio, ratio_far FROM eta_live"):
            h.live = (t, r, rf)
        return h

    @property
    def dirty(self) -> bool:
        """Something learned or noted since the last `save`."""
        return bool(self._dirty_t or self._dirty_d or self._dirty_days or self._dirty_c or self._dirty_p
                    or self._dirty_l)

    def save(self, conn: sqlite3.Connection) -> None:
        """Write what changed since the last save, in one transaction."""
        for ddl in self._DDL:
            conn.execute(ddl)
        self._migrate(conn)
        if not self.dirty:
            return
        self._prune_pending()
        conn.execute("BEGIN")
        try:
            conn.executemany(
                "INSERT INTO eta_travel (cell, tod, n, mean, var) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (cell, tod) DO UPDATE SET n=excluded.n, mean=excluded.mean, var=excluded.var",
                [(c, tod, s.n, s.mean, s.var) for (c, tod) in self._dirty_t for s in [self.travel[(c, tod)]]])
            conn.executemany(
                "INSERT INTO eta_dwell (key, n, mean, var) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET n=excluded.n, mean=excluded.mean, var=excluded.var",
                [(k, s.n, s.mean, s.var) for k in self._dirty_d for s in [self.dwell[k]]]
                + [(f"{DAY_PREFIX}{d}", s.n, s.mean, s.var) for d in self._dirty_days for s in [self.days[d]]])
            conn.executemany(
                "INSERT INTO eta_calib (knot_s, up, dn, n) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (knot_s) DO UPDATE SET up=excluded.up, dn=excluded.dn, n=excluded.n",
                [(CAL_KNOTS_S[k], self.cal_up[k], self.cal_dn[k], self.cal_n[k]) for k in self._dirty_c])
            conn.executemany("DELETE FROM eta_calib_pending WHERE route = ? AND stop = ?", list(self._dirty_p))
            conn.executemany(
                "INSERT INTO eta_calib_pending (route, stop, knot_s, t, p10, p90) VALUES (?, ?, ?, ?, ?, ?)",
                [(r, s, CAL_KNOTS_S[k], *v) for (r, s) in self._dirty_p for k, v in self.pending.get((r, s), {}).items()])
            if self._dirty_l and self.live is not None:
                conn.execute("INSERT INTO eta_live (k, t, ratio, ratio_far) VALUES (0, ?, ?, ?) ON CONFLICT (k)"
                             " DO UPDATE SET t=excluded.t, ratio=excluded.ratio, ratio_far=excluded.ratio_far", self.live)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._dirty_t.clear()
        self._dirty_d.clear()
        self._dirty_days.clear()
        self._dirty_c.clear()
        self._dirty_p.clear()
        self._dirty_l = False

    def set_live(self, t: float, ratio: float, ratio_far: float) -> None:
        self.live = (t, ratio, ratio_far)
        self._dirty_l = True

    def _prune_pending(self) -> None:
        newest = max((t for d in self.pending.values() for t, _, _ in d.values()), default=0.0)
        for key in [k for k, d in self.pending.items() if all(t < newest - PENDING_MAX_S for t, _, _ in d.values())]:
            del self.pending[key]
            self._dirty_p.add(key)

    # -- self-calibration: note a prediction at a knot, score it at the arrival ----------
    def note(self, route: str, stop: str, knot: int, t: float, p10: float, p90: float) -> None:
        """The first prediction of `stop` at or below `knot` counts, not a re-crossing (but one
        left from another day, of a stop never reached, gives way)."""
        d = self.pending.setdefault((route, stop), {})
        if knot not in d or t - d[knot][0] > PENDING_MAX_S:
            d[knot] = (t, p10, p90)
            self._dirty_p.add((route, stop))

    def noted(self, route: str, stop: str) -> dict[int, tuple[float, float, float]]:
        return self.pending.get((route, stop), {})

    def score(self, route: str, stop: str, arrived: float, rate: float, warmup: float = 0.0) -> bool:
        """The stop's truck arrived at `arrived`: score what was noted for it (see `calibrate`).
        True if anything was."""
        d = self.pending.pop((route, stop), None)
        if d is None:
            return False
        self._dirty_p.add((route, stop))
        scored = False
        for knot, (t, p10, p90) in sorted(d.items()):
            if 0.0 <= arrived - t <= PENDING_MAX_S:
                self.calibrate(knot, arrived > p90, arrived < p10, rate, warmup)
                scored = True
        return scored

    def drop(self, route: str, stop: str) -> None:
        """The stop left the plan unvisited (skipped, passed, completed by hand): nothing to score."""
        if self.pending.pop((route, stop), None) is not None:
            self._dirty_p.add((route, stop))

    def add_travel(self, cell: str, tod: int, speed: float) -> None:
        """One traversal of a stretch at `speed` m/s (including its lights and queues)."""
        if not speed > 0.05:
            return
        self.travel.setdefault((cell, tod), Stat()).add(math.log(speed))
        self._dirty_t.add((cell, tod))

    def add_dwell(self, key: str, ratio: float) -> None:
        """One stop that took `ratio` x its planned service time."""
        if not ratio > 0.0:
            return
        self.dwell.setdefault(key, Stat()).add(math.log(ratio))
        self._dirty_d.add(key)

    def add_day_pace(self, day: int, ratio: float) -> None:
        """One stop of route-day `day` that took `ratio` x its plan (clamped by the caller)."""
        if not ratio > 0.0:
            return
        self.days.setdefault(day, Stat()).add(math.log(ratio), cap=math.inf)   # a plain mean of the day
        self._dirty_days.add(day)

    def past_days(self, before: int) -> list[Stat]:
        """The newest `DAYS_USED` route-days before `before` that served enough stops to count."""
        return [self.days[d] for d in sorted(self.days)
                if d < before and self.days[d].n >= DAY_MIN_STOPS][-DAYS_USED:]

    def calibrate(self, knot: int, above_p90: bool, below_p10: bool, rate: float,
                  warmup: float = 0.0) -> None:
        """One arrival against the p10/p90 predicted when its time to arrival reached `knot`.

        Stochastic approximation (Robbins-Monro) in the log domain: a tail that catches more
        than its 10% of arrivals widens, one that catches fewer narrows, until each catches 10%.
        The step is the quantile estimator's optimal 1 / (density x n) while few arrivals have
        been scored (n + `warmup`, so the first few cannot swing it far), then the constant
        `rate`, which keeps following a fleet whose traffic changes. A tail catching 17% is
        brought under 12% in a median of ~28 arrivals at that knot instead of ~75 (Monte Carlo
        on a normal tail, warm-up 30 vs constant 0.05).
        """
        n = self.cal_n[knot]
        if warmup > 0.0:
            rate = max(rate, 1.0 / (CAL_TAIL_DENSITY * (n + warmup)))
        self.cal_n[knot] = n + 1.0
        up = math.log(self.cal_up[knot]) + rate * (float(above_p90) - 0.1)
        dn = math.log(self.cal_dn[knot]) + rate * (float(below_p10) - 0.1)
        self.cal_up[knot] = min(max(math.exp(up), CAL_MIN), CAL_MAX)
        self.cal_dn[knot] = min(max(math.exp(dn), CAL_MIN), CAL_MAX)
        self._dirty_c.add(knot)

    def travel_stat(self, cell: str, tod: int) -> Stat | None:
        return self.travel.get((cell, tod))

    def dwell_stat(self, key: str) -> Stat | None:
        return self.dwell.get(key)

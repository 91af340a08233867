"""Depot-server batch API: one call updates every truck, the kernels spread over cores.

Routes are packed once into flat arrays (CSR offsets) and may be shared by many trucks; per
truck there is only a filter state row and its per-stop flags and outputs. The per-truck
maths is `_kernels.update_one`, the very function `Estimator` runs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forewarn.devices import Fix

from . import _kernels as K
from ._estimator import Estimator
from ._history import TravelHistory
from ._params import EstimatorParams
from ._route import Route


@dataclass(frozen=True, slots=True)
class FleetFixes:
    """One fix per truck as arrays (NaN x/y = no fix this round: dead-reckon)."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    speed: np.ndarray
    sigma: np.ndarray
    dwelling: np.ndarray | None = None   # uint8 per truck: serving a stop now
    dwell_mu: np.ndarray | None = None   # its remaining service time, mean (s) ...
    dwell_var: np.ndarray | None = None  # ... and variance (s^2); see `dwell_left`


class FleetEstimator:
    """Many trucks on (possibly shared) routes, updated together with `numba.prange`.

    Simplifications against `Estimator`: one parameter set (one time zone) for the depot,
    dwell statistics per route rather than per driver, and no on-line learning (feed
    `TravelHistory` from the per-truck path or replay).
    """

    def __init__(self, routes: Sequence[Route], params: EstimatorParams | None = None,
                 history: TravelHistory | None = None, vehicle_routes: Sequence[int] | None = None) -> None:
        uniq: dict[int, int] = {}
        ests: list[Estimator] = []
        for r in routes:
            if id(r) not in uniq:
                uniq[id(r)] = len(ests)
                ests.append(Estimator(r, params, history))
        self.estimators = ests
        veh = [uniq[id(r)] for r in routes] if vehicle_routes is None else list(vehicle_routes)
        self.veh_route = np.asarray(veh, dtype=np.int64)
        self._prm = ests[0]._prm
        models = [e.model for e in ests]

        def offs(lengths):
            return np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)

        self.p_off = offs([len(m.px) for m in models])
        self.e_off = offs([len(m.edges) for m in models])
        self.k_off = offs([m.n_stretches for m in models])
        self.m_off = offs([len(m.stop_s) for m in models])
        cat = np.concatenate
        self.px, self.py, self.cum = (cat([m.px for m in models]), cat([m.py for m in models]),
                                      cat([m.cum for m in models]))
        self.edges = cat([m.edges for m in models])
        self.prof = cat([e.prof for e in ests], axis=1)   # (hour, all routes' stretches, PR_*)
        self.stop_s = cat([m.stop_s for m in models])
        self.stop_x = cat([m.stop_x for m in models])
        self.stop_y = cat([m.stop_y for m in models])
        self.dwell_mu = cat([e.dwell_mu for e in ests])
        self.dwell_var = cat([e.dwell_var for e in ests])
        self.win_end = cat([e._win_end for e in ests])
        n_stops = np.diff(self.m_off)[self.veh_route]
        self.vm_off = offs(n_stops)
        n_v = len(self.veh_route)
        self.done = np.zeros(self.vm_off[-1], dtype=np.uint8)
        self.rem_buf = np.zeros(self.vm_off[-1], dtype=np.int64)
        self.states = np.tile(K.new_state(), (n_v, 1))
        self.out = np.zeros((K.N_OUT, self.vm_off[-1]))

    def __len__(self) -> int:
        return len(self.veh_route)

    def dwell_left(self, vehicle: int, stop_id: str, arrived: float, now: float) -> tuple[float, float]:
        """Remaining service time (mean, variance) of a truck serving `stop_id` since `arrived`."""
        return self.estimators[self.veh_route[vehicle]]._dwell_left((stop_id, arrived), now)

    def fixes_from(self, fixes: Sequence[Fix | None],
                   dwelling: Sequence[tuple[str, float] | None] | None = None,
                   now: float | None = None) -> FleetFixes:
        """Arrays from Fix objects, in vehicle order (None = no fix this round: predict as of
        `now`, like `Estimator.predict`); `dwelling` per truck as for `Estimator.update`."""
        n = len(fixes)
        t, x, y = np.empty(n), np.full(n, np.nan), np.full(n, np.nan)
        sp, sg = np.full(n, np.nan), np.ones(n)
        for v, f in enumerate(fixes):
            if f is None:
                t[v] = max(self.states[v, K.S_T], now if now is not None else -np.inf)
                continue
            p = self.estimators[self.veh_route[v]].model.proj
            t[v] = f.t
            x[v] = (f.lon - p.lon0) * p.kx
            y[v] = (f.lat - p.lat0) * p.ky
            sp[v] = np.nan if f.speed is None else f.speed
            sg[v] = f.horizontal_error(self.estimators[self.veh_route[v]].params.sigma_gps)
        dw = np.zeros(n, dtype=np.uint8)
        dmu, dvar = np.zeros(n), np.zeros(n)
        for v, d in enumerate(dwelling or ()):
            if d is not None:
                dw[v] = 1
                dmu[v], dvar[v] = self.dwell_left(v, d[0], d[1], t[v])
        return FleetFixes(t, x, y, sp, sg, dw, dmu, dvar)

    def mark_done(self, vehicle: int, stop_id: str) -> None:
        """The truck has served (or skipped) this stop: stop predicting it."""
        e = self.estimators[self.veh_route[vehicle]]
        self.done[self.vm_off[vehicle] + e._ids[stop_id]] = 1

    def update(self, f: FleetFixes) -> np.ndarray:
        """Update every truck; returns `out` (rows p10, p50, p90, p_late, remaining_m; columns
        per vehicle's stops from `vm_off[v]`; served stops' columns are stale)."""
        K.update_fleet(self.veh_route, self.vm_off, self.p_off, self.e_off, self.k_off, self.m_off,
                       self.px, self.py, self.cum, self.edges, self.prof,
                       self.stop_s, self.stop_x, self.stop_y, self.dwell_mu, self.dwell_var,
                       self.win_end, self.done, self.rem_buf, self.states,
                       f.t, f.x, f.y, f.speed, f.sigma,
                       f.dwelling if f.dwelling is not None else np.zeros(len(f.t), dtype=np.uint8),
                       f.dwell_mu if f.dwell_mu is not None else np.zeros(len(f.t)),
                       f.dwell_var if f.dwell_var is not None else np.zeros(len(f.t)),
                       self._prm, self.out)
        return self.out

    def vehicle_out(self, v: int) -> np.ndarray:
        """The (5, n_stops) block of vehicle v, in route stop order."""
        r = self.veh_route[v]
        n = self.m_off[r + 1] - self.m_off[r]
        return self.out[:, self.vm_off[v]:self.vm_off[v] + n]

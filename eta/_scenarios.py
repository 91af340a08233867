"""Random but plausible delivery routes: for the benches, the cross-check tests and demos.

A street-grid-like random walk (blocks of 150-800 m, mostly right-angle turns), densified to
a point every `step_m`, with stops on the kerb along it and two-hour windows around a
plausible plan, so some stops end up at risk and the P(late) path is exercised.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np

from ._model import Projection
from ._route import Route, Stop, Window


def make_route(seed: int, *, length_m: float = 30_000.0, n_stops: int = 20, step_m: float = 20.0,
               start: datetime | None = None, lat0: float = 43.70, lon0: float = -79.40,
               service_s: float = 180.0, route_id: str | None = None, timezone_name: str = "UTC") -> Route:
    """A seeded route of about `length_m` with `n_stops` stops (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    start = start or datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)
    heading = rng.uniform(0, 2 * math.pi)
    x = y = 0.0
    pts = [(0.0, 0.0)]
    total = 0.0
    while total < length_m:
        block = rng.uniform(150.0, 800.0)
        heading += rng.choice([-math.pi / 2, 0.0, math.pi / 2], p=[0.3, 0.4, 0.3]) + rng.normal(0, 0.05)
        curve = rng.normal(0.0, 0.0005)             # rad per metre: gentle bends
        n = max(int(block // step_m), 1)
        for _ in range(n):
            heading += curve * step_m
            x += step_m * math.sin(heading)
            y += step_m * math.cos(heading)
            pts.append((x, y))
        total += n * step_m
    xy = np.array(pts)
    cum = np.concatenate(([0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))))
    chain = np.sort(rng.uniform(300.0, cum[-1] - 50.0, size=n_stops))
    for i in range(1, n_stops):                     # at least 120 m between customers
        chain[i] = max(chain[i], chain[i - 1] + 120.0)
    chain = np.minimum(chain, cum[-1])
    proj = Projection(lat0, lon0)
    stops = []
    for i, c in enumerate(chain):
        sx, sy = np.interp(c, cum, xy[:, 0]), np.interp(c, cum, xy[:, 1])
        j = min(int(np.searchsorted(cum, c)), len(xy) - 1)
        dx, dy = xy[j] - xy[max(j - 1, 0)]
        norm = math.hypot(dx, dy) or 1.0
        sx, sy = sx + 8.0 * dy / norm, sy - 8.0 * dx / norm   # on the kerb, 8 m to the right
        lat, lon = proj.to_latlon(sx, sy)
        planned = start + timedelta(seconds=float(c) / 8.0 + i * service_s)
        shift = timedelta(minutes=float(rng.normal(0.0, 20.0)))
        win = Window(planned - timedelta(minutes=60) + shift, planned + timedelta(minutes=60) + shift)
        stops.append(Stop(f"S{i + 1}", float(lat), float(lon), win,
                          service_s=float(service_s * rng.uniform(0.5, 1.5))))
    lat, lon = proj.to_latlon(xy[:, 0], xy[:, 1])
    geom = tuple(zip(np.asarray(lon).tolist(), np.asarray(lat).tolist()))
    return Route(route_id or f"SIM-{seed}", f"truck-{seed}", timezone_name, tuple(stops), geometry=geom)

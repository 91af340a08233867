"""Hand-made routes with known answers, in metres on a local plane near 45 N.

x east / y north in metres are turned into (lon, lat) with the same spherical constants the
estimator uses, so distances along these routes are exact to floating point.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from forewarn.devices import Fix
from forewarn.eta import Route, Stop, Window

LAT0, LON0 = 45.0, -75.0
KY = 6371008.8 * math.pi / 180.0
KX = KY * math.cos(math.radians(LAT0))
T0 = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)


def ll(x: float, y: float) -> tuple[float, float]:
    """(lon, lat) of the point x, y metres from the origin."""
    return LON0 + x / KX, LAT0 + y / KY


def window(minutes_from_t0: float, width_min: float = 60.0) -> Window:
    end = T0 + timedelta(minutes=minutes_from_t0)
    return Window(end - timedelta(minutes=width_min), end)


def stop(sid: str, x: float, y: float, end_min: float = 120.0, service_s: float = 120.0) -> Stop:
    lon, lat = ll(x, y)
    return Stop(sid, lat, lon, window(end_min), service_s=service_s)


def route(points_xy, stops, geometry: bool = True) -> Route:
    # the projection centre is the bbox centre of the geometry: make it the origin-independent
    geom = tuple(ll(x, y) for x, y in points_xy) if geometry else None
    return Route("R1", "truck-1", "UTC", tuple(stops), geometry=geom)


def fix(t_s: float, x: float, y: float, speed: float | None = None, hdop: float = 1.0) -> Fix:
    lon, lat = ll(x, y)
    return Fix(time=T0 + timedelta(seconds=t_s), lat=lat, lon=lon, speed=speed, hdop=hdop)


def straight(length: float = 10_000.0, step: float = 50.0):
    """West-east road from x=0 to x=length."""
    n = int(length // step)
    return [(i * step, 0.0) for i in range(n + 1)]


def out_and_back(length: float = 3000.0, gap: float = 8.0, step: float = 50.0):
    """East along y=0, a U-turn, back west along y=gap (the other carriageway)."""
    n = int(length // step)
    out = [(i * step, 0.0) for i in range(n + 1)]
    back = [(length - i * step, gap) for i in range(n + 1)]
    return out + back


def loop_twice(side: float = 1000.0, step: float = 50.0):
    """Twice round a square block: every kerb is passed twice, 4*side metres apart."""
    n = int(side // step)
    one = ([(i * step, 0.0) for i in range(n)] + [(side, i * step) for i in range(n)]
           + [(side - i * step, side) for i in range(n)] + [(0.0, side - i * step) for i in range(n)])
    return one + one + [(0.0, 0.0)]

"""The route as the kernels see it: metric polyline, chainage, stops placed along it, stretches.

Done once per route (milliseconds), so that every fix afterwards is pure array arithmetic.
A local equirectangular projection about the route's centre is exact to well under a metre
over a city-sized route, which is far below GPS noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._route import Route

EARTH_R = 6371008.8  # m, mean Earth radius


@dataclass(frozen=True, slots=True)
class Projection:
    """Local metric plane (x east, y north, metres) about (lat0, lon0)."""

    lat0: float
    lon0: float

    @property
    def ky(self) -> float:
        return EARTH_R * math.pi / 180.0

    @property
    def kx(self) -> float:
        return self.ky * math.cos(math.radians(self.lat0))

    def to_xy(self, lat, lon):
        return (np.asarray(lon) - self.lon0) * self.kx, (np.asarray(lat) - self.lat0) * self.ky

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        return self.lat0 + y / self.ky, self.lon0 + x / self.kx


@dataclass(frozen=True, eq=False)
class RouteModel:
    """Arrays shared read-only by the kernels. Chainage = metres along the road."""

    proj: Projection
    px: np.ndarray        # (N,) polyline x
    py: np.ndarray        # (N,) polyline y
    cum: np.ndarray       # (N,) chainage at each vertex (detour factor applied for straight legs)
    stop_s: np.ndarray    # (M,) chainage of each stop, non-decreasing in route order
    stop_x: np.ndarray
    stop_y: np.ndarray
    stop_off: np.ndarray  # (M,) distance from the stop to its place on the route
    edges: np.ndarray     # (K+1,) chainage of stretch boundaries
    stretch_lat: np.ndarray  # (K,) midpoint of each stretch (history keys)
    stretch_lon: np.ndarray
    stretch_heading: np.ndarray  # (K,) degrees true
    has_geometry: bool
    stop_drive_s: np.ndarray  # (M,) planner's drive time of the leg ending at each stop, NaN if none

    @property
    def length(self) -> float:
        return float(self.cum[-1])

    @property
    def n_stretches(self) -> int:
        return len(self.edges) - 1


def _project_point(px, py, cum, x, y, s_min: float, tol: float) -> tuple[float, float]:
    """Place one stop on the polyline, at or after chainage `s_min`.

    Among segments after s_min, the *earliest* pass within `tol` of the nearest distance wins:
    on a loop or an out-and-back road the same kerb is passed twice, and the route order says
    the first pass is when the stop is served.
    """
    ax, ay = px[:-1], py[:-1]
    dx, dy = px[1:] - ax, py[1:] - ay
    l2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.where(l2 > 0, ((x - ax) * dx + (y - ay) * dy) / l2, 0.0)
    u = np.clip(u, 0.0, 1.0)
    qx, qy = ax + u * dx, ay + u * dy
    d = np.hypot(x - qx, y - qy)
    c = cum[:-1] + u * (cum[1:] - cum[:-1])
    ok = c >= s_min - 1e-9
    if not ok.any():
        return float(cum[-1]), float(np.hypot(x - px[-1], y - py[-1]))
    dmin = d[ok].min()
    cand = np.flatnonzero(ok & (d <= dmin + tol))
    i = cand[np.argmin(c[cand])]
    return max(float(c[i]), s_min), float(d[i])


def build_model(route: Route, stretch_m: float = 250.0, tol_m: float = 25.0) -> RouteModel:
    """Project the route once: geometry (or straight legs x detour factor), stops, stretches."""
    if not route.stops:
        raise ValueError(f"route {route.route_id} has no stops")
    lats = [s.lat for s in route.stops]
    lons = [s.lon for s in route.stops]
    if route.geometry and len(route.geometry) >= 2:
        glon = np.array([p[0] for p in route.geometry], dtype=np.float64)
        glat = np.array([p[1] for p in route.geometry], dtype=np.float64)
        scale = 1.0
        has_geometry = True
    else:
        glon, glat = np.array(lons, dtype=np.float64), np.array(lats, dtype=np.float64)
        if len(glon) == 1:  # a one-stop route without geometry: a degenerate 1 m stub
            glon, glat = np.append(glon, glon[0]), np.append(glat, glat[0] + 1e-5)
        scale = float(route.detour_factor)
        has_geometry = False
    lat0 = float((glat.min() + glat.max()) / 2)
    lon0 = float((glon.min() + glon.max()) / 2)
    proj = Projection(lat0, lon0)
    px, py = proj.to_xy(glat, glon)
    px, py = np.ascontiguousarray(px, dtype=np.float64), np.ascontiguousarray(py, dtype=np.float64)
    seg = np.hypot(np.diff(px), np.diff(py)) * scale
    cum = np.concatenate(([0.0], np.cumsum(seg)))

    sx, sy = proj.to_xy(np.array(lats), np.array(lons))
    stop_s = np.empty(len(lats))
    stop_off = np.empty(len(lats))
    s_min = 0.0
    for k in range(len(lats)):
        stop_s[k], stop_off[k] = _project_point(px, py, cum, sx[k], sy[k], s_min, tol_m)
        s_min = stop_s[k]

    total = float(cum[-1])
    n_k = max(1, int(math.ceil(total / stretch_m)))
    edges = np.minimum(np.arange(n_k + 1, dtype=np.float64) * stretch_m, total)
    edges[-1] = total
    mid = 0.5 * (edges[:-1] + edges[1:])
    mx = np.interp(mid, cum, px)
    my = np.interp(mid, cum, py)
    ax, ay = np.interp(edges[:-1], cum, px), np.interp(edges[:-1], cum, py)
    bx, by = np.interp(edges[1:], cum, px), np.interp(edges[1:], cum, py)
    heading = np.degrees(np.arctan2(bx - ax, by - ay)) % 360.0
    mlat, mlon = proj.to_latlon(mx, my)
    return RouteModel(
        proj=proj, px=px, py=py, cum=cum,
        stop_s=stop_s, stop_x=np.asarray(sx, dtype=np.float64), stop_y=np.asarray(sy, dtype=np.float64),
        stop_off=stop_off, edges=edges,
        stretch_lat=np.asarray(mlat), stretch_lon=np.asarray(mlon), stretch_heading=heading,
        has_geometry=has_geometry,
        stop_drive_s=np.array([np.nan if s.drive_s is None else s.drive_s for s in route.stops]),
    )

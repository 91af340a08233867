"""A truck driving a route, as a GPS receiver would report it, with the truth beside it.

The world is built first from the seed (road classes per stretch, a day factor, rush hours,
slow zones, traffic lights, jams for injected delays, dropouts, an optional detour), then a
1-D kinematic driver (bounded acceleration and braking, stopping at red lights and stops)
drives it. Positions get temporally correlated GPS error, worse in urban stretches, and are
written as NMEA GGA/RMC/VTG/GSA with pynmea2 (which renders the checksums).
"""
from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pynmea2

from ._estimator import utc_offset_at
from ._model import build_model
from ._route import Route

CELL_M = 100.0          # resolution of the simulated road (speed class, urban flag)
ACCEL, BRAKE = 1.0, 1.6  # m/s^2
KNOTS = 1.0 / 0.514444


@dataclass
class Simulation:
    """NMEA lines plus the ground truth the accuracy bench scores against."""

    lines: list[str]
    truth: dict[str, dict[str, str]]                       # stop_id -> {"arrived", "departed"} ISO
    truth_t: dict[str, tuple[float, float]] = field(default_factory=dict)  # POSIX (arrived, departed)
    start: float = 0.0
    end: float = 0.0
    seed: int = 0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _ddmm(value: float, lon: bool) -> tuple[str, str]:
    hemi = ("E" if value >= 0 else "W") if lon else ("N" if value >= 0 else "S")
    v = abs(value)
    deg = int(v)
    minutes = (v - deg) * 60.0
    if round(minutes, 5) >= 60.0:
        deg, minutes = deg + 1, 0.0
    return (f"{deg:03d}{minutes:08.5f}" if lon else f"{deg:02d}{minutes:08.5f}"), hemi


def _sentences(t: float, lat: float, lon: float, speed: float, course: float, hdop: float,
               sats: int) -> list[str]:
    dt = datetime.fromtimestamp(t, tz=timezone.utc)
    hms = dt.strftime("%H%M%S.") + f"{dt.microsecond // 10000:02d}"
    la, ns = _ddmm(lat, False)
    lo, ew = _ddmm(lon, True)
    kn = f"{speed * KNOTS:.2f}"
    crs = f"{course % 360.0:.1f}"
    prns = [f"{p:02d}" for p in (2, 5, 7, 9, 12, 13, 15, 17, 19, 24, 28, 30)[:min(sats, 12)]]
    prns += [""] * (12 - len(prns))
    pdop, vdop = hdop * 1.6, hdop * 1.3
    return [
        str(pynmea2.GGA("GP", "GGA", (hms, la, ns, lo, ew, "1", f"{sats:02d}", f"{hdop:.1f}",
                                      "85.0", "M", "-34.0", "M", "", ""))),
        str(pynmea2.RMC("GP", "RMC", (hms, "A", la, ns, lo, ew, kn, crs, dt.strftime("%d%m%y"),
                                      "", "", "A"))),
        str(pynmea2.VTG("GP", "VTG", (crs, "T", "", "M", kn, "N", f"{speed * 3.6:.2f}", "K", "A"))),
        str(pynmea2.GSA("GP", "GSA", ("A", "3", *prns, f"{pdop:.1f}", f"{hdop:.1f}", f"{vdop:.1f}"))),
    ]


def _no_fix(t: float) -> list[str]:
    """What a receiver says in a tunnel: sentences with no position, status V / quality 0."""
    dt = datetime.fromtimestamp(t, tz=timezone.utc)
    hms = dt.strftime("%H%M%S.") + f"{dt.microsecond // 10000:02d}"
    return [
        str(pynmea2.GGA("GP", "GGA", (hms, "", "", "", "", "0", "00", "", "", "M", "", "M", "", ""))),
        str(pynmea2.RMC("GP", "RMC", (hms, "V", "", "", "", "", "", "", dt.strftime("%d%m%y"), "", "", "N"))),
    ]


@dataclass
class _World:
    base: np.ndarray        # free-flow speed per CELL_M cell
    urban: np.ndarray       # bool per cell
    caps: np.ndarray        # speed cap per cell (slow zones, jams), inf = none
    lights: list[tuple[float, float]]  # (chainage, red wait s), sorted
    day: float              # a slow or fast day, everywhere


def _build_world(length: float, stop_s: np.ndarray, wrng: np.random.Generator,
                 rng: np.random.Generator, delays: Mapping[str, float], stop_ids: list[str]) -> _World:
    """`wrng` draws the road itself (same every day: what history can learn), `rng` the day."""
    n = int(math.ceil(length / CELL_M)) + 2
    base = np.empty(n)
    urban = np.zeros(n, dtype=bool)
    i = 0
    classes = ((7.5, 11.0, True, 0.55), (11.0, 15.0, False, 0.35), (18.0, 25.0, False, 0.10))
    while i < n:                                    # runs of one road class, 0.5-3 km long
        c = wrng.choice(3, p=[k[3] for k in classes])
        lo, hi, urb, _ = classes[c]
        run = int(wrng.integers(5, 30))
        base[i:i + run] = wrng.uniform(lo, hi, size=min(run, n - i))
        urban[i:i + run] = urb
        i += run
    caps = np.full(n, np.inf)
    j = 0
    while j < n:                                    # slowdowns: every ~4 km, 0.3-1.2 km of 35-70%
        j += int(rng.exponential(40))
        L = int(rng.integers(3, 12))
        caps[j:j + L] = np.minimum(caps[j:j + L], base[j:j + L] * rng.uniform(0.35, 0.7))
        j += L
    if rng.random() < 0.5:                          # sometimes a real jam somewhere
        j = int(rng.integers(0, n))
        L = int(rng.integers(3, 10))
        caps[j:j + L] = np.minimum(caps[j:j + L], rng.uniform(1.0, 3.0))
    jams = []
    for sid, minutes in delays.items():             # injected delay = stop-and-go queue before it
        k = stop_ids.index(sid)
        prev = stop_s[k - 1] if k > 0 else 0.0
        L = max(min(1500.0, 0.8 * (stop_s[k] - prev)), 50.0)
        for q in range(6):
            jams.append((float(stop_s[k] - L + (q + 0.5) * L / 6.0), 60.0 * float(minutes) / 6.0))
    lights = []
    s = 0.0
    while s < length:                               # urban lights every ~350 m
        s += wrng.exponential(350.0)
        c = min(int(s // CELL_M), n - 1)
        if urban[c] or wrng.random() < 0.15:
            wait = rng.uniform(5.0, 60.0) if rng.random() < 0.45 else 0.0
            if wait > 0:
                lights.append((s, wait))
    lights = sorted(lights + jams)
    return _World(base, urban, caps, lights, float(rng.lognormal(0.0, 0.08)))


def _rush(hour: float) -> float:
    """Speed multiplier of the time of day: morning and evening peaks."""
    return 1.0 - 0.3 * math.exp(-0.5 * ((hour - 8.0) / 1.2) ** 2) - 0.35 * math.exp(-0.5 * ((hour - 17.0) / 1.3) ** 2)


def _habit(key: str, sd: float) -> float:
    """A persistent log-normal factor of spread `sd`, the same for `key` on every seed."""
    return float(np.random.default_rng(zlib.crc32(key.encode())).lognormal(0.0, sd))


def simulate(route: Route, *, seed: int = 0, delays: Mapping[str, float] = {},
             start: datetime | None = None, hz: float = 1.0, detour: str | None = None,
             dropouts: bool = True, address_sd: float = 0.0, truck_sd: float = 0.0) -> Simulation:
    """Drive `route` and return NMEA + truth. Same seed, same drive.

    The road (speed classes, urban stretches, where the lights are) depends on the route
    only, so drives of one route with different seeds are different days on the same roads;
    traffic, lights' phases, dwell, noise and dropouts depend on the seed.

    delays: stop_id -> extra minutes, realised as a stop-and-go queue on the way to that stop (visible in
    the GPS, as a real delay is). address_sd / truck_sd: log-spread of service-time habits that
    persist from day to day, of each address (a loading dock vs a letterbox; keyed by its
    position, so it holds on any route through it) and of the truck (keyed by its route id: its
    usual driver, its load); 0 = none, every day's driver drawn afresh. detour: a stop id before which the truck leaves the route
    for a ~2 km detour and comes back.
    """
    unknown = set(delays) - {s.id for s in route.stops}
    if unknown:
        raise ValueError(f"delays name unknown stops: {sorted(unknown)}")
    if detour is not None and detour not in {s.id for s in route.stops}:
        raise ValueError(f"detour names an unknown stop: {detour}")
    rng = np.random.default_rng(seed)
    m = build_model(route)
    ids = [s.id for s in route.stops]
    wrng = np.random.default_rng(zlib.crc32(f"{route.route_id}/{m.length:.0f}".encode()))
    world = _build_world(m.length, m.stop_s, wrng, rng, delays, ids)
    if start is None:
        first = route.stops[0].window.start
        start = first - timedelta(minutes=10, seconds=round(m.stop_s[0] / 9.0))
    t = start.timestamp()
    utc_off = utc_offset_at(route.timezone, start)
    dt = 1.0 / hz
    driver = float(rng.lognormal(0.0, 0.25))        # this driver's service-time habit today

    # detour: leave the route 2 km before the stop, 250 m sideways, rejoin 1.5 km later
    det = None
    if detour is not None:
        k = ids.index(detour)
        sa = max(m.stop_s[k] - 2000.0, (m.stop_s[k - 1] + 50.0) if k else 0.0, 0.0)
        sb = max(m.stop_s[k] - 500.0, sa + 100.0)
        ax, ay = np.interp(sa, m.cum, m.px), np.interp(sa, m.cum, m.py)
        bx, by = np.interp(sb, m.cum, m.px), np.interp(sb, m.cum, m.py)
        hx, hy = bx - ax, by - ay
        hl = math.hypot(hx, hy) or 1.0
        nx, ny = -hy / hl * 250.0, hx / hl * 250.0
        pts = np.array([[ax, ay], [ax + nx, ay + ny], [bx + nx, by + ny], [bx, by]])
        seg = np.hypot(*np.diff(pts, axis=0).T)
        det = (sa, sb, pts, np.concatenate(([0.0], np.cumsum(seg))))

    holds: list[tuple[float, str, float]] = [(lc, "light", w) for lc, w in world.lights]
    if truck_sd > 0.0:
        driver *= _habit(route.route_id, truck_sd)
    for k, sid in enumerate(ids):
        st = route.stops[k]
        habit = _habit(f"{st.lat:.5f},{st.lon:.5f}", address_sd) if address_sd > 0.0 else 1.0
        holds.append((float(m.stop_s[k]), sid,
                      float(max(st.service_s * habit * driver * rng.lognormal(0.0, 0.35), 20.0))))
    holds.sort(key=lambda h: h[0])

    lines: list[str] = []
    truth_t: dict[str, tuple[float, float]] = {}
    s, v, hi = 0.0, 0.0, 0
    ex = ey = 0.0
    flow = 0.0
    drop_until = -1.0
    drop_silent = False
    in_det = False
    u = 0.0  # chainage along the detour path
    wait_until = -1.0
    end_s = m.length
    max_t = t + 24 * 3600.0
    while t < max_t:
        # --- kinematics -------------------------------------------------------------------
        if wait_until > t:
            v = 0.0
        else:
            c = min(int(s // CELL_M), len(world.base) - 1)
            hour = ((t + utc_off) / 3600.0) % 24.0
            flow = 0.98 * flow + math.sqrt(1 - 0.98 ** 2) * rng.normal(0.0, 0.08)
            vt = world.base[c] * world.day * _rush(hour) * math.exp(flow)
            vt = min(vt, world.caps[c])
            if in_det:
                vt = 8.0
            d_hold = (holds[hi][0] - s) if hi < len(holds) and not in_det else math.inf
            v_allow = math.sqrt(2.0 * BRAKE * max(d_hold, 0.0))
            if v < vt:
                v_new = min(v + ACCEL * dt, vt)
            else:
                v_new = max(v - BRAKE * dt, vt)
            v_new = max(min(v_new, v_allow + 0.5), 0.0)
            ds = 0.5 * (v + v_new) * dt
            v = v_new
            if in_det:
                u += ds
                if u >= det[3][-1]:
                    in_det = False
                    s = det[1]
                    while hi < len(holds) and holds[hi][1] == "light" and holds[hi][0] < s:
                        hi += 1  # lights on the stretch the detour avoided
            else:
                s += ds
                if det is not None and det[0] <= s < det[1] and u == 0.0:
                    in_det, u = True, 1e-9
                while hi < len(holds) and s >= holds[hi][0] - 0.5 and not in_det:
                    hs, kind, w = holds[hi]
                    s = hs
                    v = 0.0
                    if kind == "light":
                        wait_until = t + w
                    else:
                        arrive = t if wait_until <= t else wait_until
                        depart = arrive + w
                        truth_t[kind] = (arrive, depart)
                        wait_until = depart
                    hi += 1
                    if kind != "light":
                        break
        if hi >= len(holds) and wait_until <= t and s >= min(end_s, holds[-1][0] if holds else end_s):
            break
        # --- position and GPS ---------------------------------------------------------------
        if in_det:
            px = np.interp(u, det[3], det[2][:, 0])
            py = np.interp(u, det[3], det[2][:, 1])
            i = min(int(np.searchsorted(det[3], u, side="right")) - 1, 2)
            heading = math.degrees(math.atan2(*(det[2][i + 1] - det[2][i]))) % 360.0
            urb = True
        else:
            px = float(np.interp(s, m.cum, m.px))
            py = float(np.interp(s, m.cum, m.py))
            s2 = min(s + 5.0, m.length)
            s1 = max(s2 - 10.0, 0.0)
            heading = math.degrees(math.atan2(np.interp(s2, m.cum, m.px) - np.interp(s1, m.cum, m.px),
                                              np.interp(s2, m.cum, m.py) - np.interp(s1, m.cum, m.py))) % 360.0
            urb = bool(world.urban[min(int(s // CELL_M), len(world.urban) - 1)])
        sigma = 5.5 if urb else 2.5
        a = math.exp(-dt / 30.0)
        ex = a * ex + math.sqrt(1 - a * a) * rng.normal(0.0, sigma / math.sqrt(2))
        ey = a * ey + math.sqrt(1 - a * a) * rng.normal(0.0, sigma / math.sqrt(2))
        ox, oy = ex, ey
        if rng.random() < 0.003:                        # multipath: one wild fix
            ang = rng.uniform(0, 2 * math.pi)
            r = rng.uniform(30.0, 80.0)
            ox, oy = ox + r * math.cos(ang), oy + r * math.sin(ang)
        if dropouts and drop_until < t and rng.random() < dt / 900.0:
            drop_until = t + float(np.clip(rng.lognormal(math.log(8.0), 1.1), 2.0, 240.0))
            drop_silent = rng.random() < 0.5
        if t < drop_until:
            if not drop_silent:
                lines.extend(_no_fix(t))
        else:
            lat, lon = m.proj.to_latlon(px + ox, py + oy)
            sp = max(v + rng.normal(0.0, 0.15), 0.0) if v > 0.3 else abs(rng.normal(0.0, 0.08))
            crs = heading + (rng.normal(0.0, 2.0) if v > 1.0 else rng.uniform(0.0, 360.0))
            hdop = max(0.6, sigma / 4.07 * rng.uniform(0.8, 1.25))
            lines.extend(_sentences(t, float(lat), float(lon), sp, crs, hdop,
                                    int(rng.integers(5, 9) if urb else rng.integers(8, 13))))
        t += dt
    truth = {sid: {"arrived": _iso(a), "departed": _iso(d)} for sid, (a, d) in truth_t.items()}
    return Simulation(lines=lines, truth=truth, truth_t=truth_t, start=start.timestamp(), end=t, seed=seed)


def write_simulation(sim: Simulation, out: Path) -> None:
    """NMEA to `out`, ground truth to `out.with_suffix('.truth.json')`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\r\n".join(sim.lines) + "\r\n", encoding="ascii")
    out.with_suffix(".truth.json").write_text(json.dumps(sim.truth, indent=1, sort_keys=True) + "\n")

"""Payload shapes of the dispatcher topics (DESIGN.md "MQTT topics"), one place for all."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from forewarn.devices import Fix
from forewarn.eta import Estimate

from ._wire import iso, window_json

if TYPE_CHECKING:
    from ._tracker import RouteTracker


def position_payload(fix: Fix, est: Estimate | None) -> dict:
    return {
        "ts": iso(fix.t), "lat": round(fix.lat, 7), "lon": round(fix.lon, 7),
        "speed": None if fix.speed is None else round(fix.speed, 2),
        "course": None if fix.course is None else round(fix.course, 1),
        "hdop": fix.hdop, "mode": int(fix.mode),
        "chainage": None if est is None else round(est.chainage, 1),
        "off_route": None if est is None else bool(est.off_route),
    }


def eta_payload(tracker: "RouteTracker", est: Estimate) -> dict:
    stops = []
    for e in est.stops:
        stop = tracker.route.stop(e.stop_id)
        rec = tracker.record(e.stop_id)
        stops.append({
            "id": e.stop_id, "eta": iso(e.p50), "p10": iso(e.p10), "p90": iso(e.p90),
            "p_late": round(e.p_late, 3), "remaining_m": round(e.remaining_m),
            "window": window_json(stop.window), "state": rec.state.value, "risk": rec.risk.value,
        })
    return {"ts": iso(est.t), "route_id": tracker.route.route_id, "timezone": tracker.route.timezone,
            "generated": iso(time.time()),
            "speed": round(float(est.speed), 2), "off_route": bool(est.off_route), "stops": stops}


class Pacer:
    """When the `eta` topic is worth rebuilding: at most once per `every_s` of fix time, and
    at once when the step changed something (an event: a stop state, a risk, an arrival).

    Why: at 150 stops the payload and its JSON cost ~2 ms, twice `on_fix` itself; a receiver
    sending 5 or 10 fixes a second would pay that each time for a retained topic whose
    readers only ever see the latest. A route change, or time going back (a replayed log),
    starts afresh."""

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self._last: float | None = None

    def due(self, t: float, changed: bool) -> bool:
        last = self._last
        if changed or last is None or t < last or t - last >= self.every_s:
            self._last = t
            return True
        return False

    def reset(self) -> None:
        self._last = None

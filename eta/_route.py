"""A planned route as the rest of forewarn sees it: plain, validated, immutable.

Validation happens in `forewarn.config.manifest`; by the time a `Route` exists its stops have
coordinates, windows end after they start and phones are E.164.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Channel = Literal["sms", "voice", "none"]


@dataclass(frozen=True, slots=True)
class Customer:
    name: str
    phone: str | None            # E.164, or None when channel is "none"
    channel: Channel = "sms"
    locale: str = "en"
    voice_fallback: bool = False  # an SMS that cannot reach a landline (21614) may become a call


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime  # timezone-aware
    end: datetime
    # the same as POSIX seconds, computed once: the daemon compares every remaining stop's
    # window with its prediction on every fix, and `datetime.timestamp()` is the slow part of that
    start_t: float = field(init=False, repr=False, compare=False)
    end_t: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_t", self.start.timestamp())
        object.__setattr__(self, "end_t", self.end.timestamp())


@dataclass(frozen=True, slots=True)
class Stop:
    id: str
    lat: float
    lon: float
    window: Window
    service_s: float = 300.0
    radius_m: float = 60.0
    customer: Customer | None = None
    drive_s: float | None = None  # the route planner's drive time of the leg ending here (prior speed)


@dataclass(frozen=True, slots=True)
class Route:
    route_id: str
    vehicle_id: str
    timezone: str                                   # IANA name, e.g. "America/Toronto"
    stops: tuple[Stop, ...]
    geometry: tuple[tuple[float, float], ...] | None = None  # (lon, lat) pairs, GeoJSON order
    detour_factor: float = 1.3                      # used when geometry is absent
    version: str = field(default="")                # content hash; a new manifest = a new version
    _by_id: dict[str, Stop] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # `stop()` runs for every remaining stop on every fix (the daemon's policy and its eta
        # payload): a dict, not a scan of the tuple. Reversed, so a repeated id finds its first
        # stop, as the scan did (manifests refuse repeats).
        object.__setattr__(self, "_by_id", {s.id: s for s in reversed(self.stops)})

    def stop(self, stop_id: str) -> Stop:
        try:
            return self._by_id[stop_id]
        except KeyError:
            raise KeyError(stop_id) from None

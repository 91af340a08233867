"""What the estimator hands to the rest of forewarn after each fix."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class StopEta(NamedTuple):
    """Arrival prediction for one remaining stop. Times are POSIX seconds (UTC).

    A NamedTuple rather than a dataclass: the estimator builds up to a few hundred of these
    per fix, and a NamedTuple is built ~6x faster (same fields, attribute access and
    immutability; use `_asdict()` / `_replace()` instead of dataclasses.asdict/replace).
    """

    stop_id: str
    p10: float
    p50: float
    p90: float
    p_late: float          # P(arrival after window end)
    remaining_m: float     # distance still to drive to this stop along the route


@dataclass(frozen=True, slots=True)
class Estimate:
    """The tracker's belief after one fix."""

    t: float               # fix time, POSIX seconds
    chainage: float        # metres along the route geometry (filtered)
    speed: float           # filtered speed along the route, m/s
    lat: float             # matched position on the route (or the fix itself when off route)
    lon: float
    dist_to_route: float   # metres from the fix to the matched point
    off_route: bool
    stops: tuple[StopEta, ...]  # the remaining stops, in route order

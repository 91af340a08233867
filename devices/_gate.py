"""Plausibility checks between consecutive fixes, shared by every source.

Why a resync rule: a receiver that is power-cycled, a log made of concatenated captures, or
a real teleport after a long tunnel must not lock the gate forever against "impossible"
positions. Rejected fixes that agree with each other (time moving forward, speed between
them sane) for `resync_after` epochs in a row become the new reference.
"""
from __future__ import annotations

import math
from collections import Counter

from ._fix import Fix

_EARTH_RADIUS_M = 6_371_008.8


def distance_m(a: Fix, b: Fix) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


class FixGate:
    """Admit a fix only if time moves forward and the implied speed is possible."""

    def __init__(
        self, max_speed_mps: float = 90.0, resync_after: int = 3,
        counters: Counter[str] | None = None,
    ) -> None:
        """`counters` receives each drop reason and "resync" (shared with the owner's)."""
        self.counters: Counter[str] = counters if counters is not None else Counter()
        self.max_speed_mps = max_speed_mps
        self.resync_after = resync_after
        self.last: Fix | None = None
        self._rejected: list[Fix] = []

    def check(self, fix: Fix) -> str | None:
        """None if `fix` is admitted (and becomes the reference), else the drop reason."""
        reason = self._reason(self.last, fix)
        if reason is None:
            self.last, self._rejected = fix, []
            return None
        if self._rejected and self._reason(self._rejected[-1], fix) is None:
            self._rejected.append(fix)
        else:
            self._rejected = [fix]
        if len(self._rejected) >= self.resync_after:
            self.last, self._rejected = fix, []
            self.counters["resync"] += 1
            return None
        self.counters[reason] += 1
        return reason

    def _reason(self, last: Fix | None, fix: Fix) -> str | None:
        if last is None:
            return None
        dt = (fix.time - last.time).total_seconds()
        if dt < 0:
            return "time_backwards"
        if dt == 0:
            return "time_repeat"
        if distance_m(last, fix) > self.max_speed_mps * dt + 50.0:
            # +50 m: two honest fixes 0.1 s apart can differ by more than their speed allows
            return "jump"
        return None

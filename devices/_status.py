"""The GPS health the daemon publishes on the `status` topic.

Why a separate object: "is the GPS working?" is asked by the MQTT publisher and the
watchdog at their own pace, while sources update it per line. Staleness is judged on the
monotonic clock at the moment of asking, because a source that stops delivering cannot be
relied on to say so itself.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ._fix import Fix, FixMode


@dataclass(slots=True)
class GpsStatus:
    """Mutable, owned by one source; read by anyone."""

    stale_after_s: float = 5.0
    device_present: bool = False     # port open / gpsd connected / messages arriving
    has_fix: bool = False            # the last completed epoch was a usable fix
    last_fix: Fix | None = None
    last_fix_monotonic: float | None = None
    counters: Counter[str] = field(default_factory=Counter)
    detail: str = ""                 # e.g. the baud rate found, or the last open error

    @property
    def state(self) -> str:
        """"no-device" | "no-fix" | "2D" | "3D" | "stale"."""
        if not self.device_present:
            return "no-device"
        if not self.has_fix or self.last_fix is None or self.last_fix_monotonic is None:
            return "no-fix"
        if time.monotonic() - self.last_fix_monotonic > self.stale_after_s:
            return "stale"
        return "3D" if self.last_fix.mode == FixMode.FIX_3D else "2D"

    def record(self, fix: Fix) -> None:
        """A source calls this for every fix it yields."""
        self.last_fix, self.last_fix_monotonic, self.has_fix = fix, time.monotonic(), True

    def age_s(self) -> float | None:
        """Seconds since the last fix was received (monotonic), None if never."""
        if self.last_fix_monotonic is None:
            return None
        return time.monotonic() - self.last_fix_monotonic

    def to_json(self) -> dict[str, Any]:
        """The `gps` part of the `status` MQTT payload (retained). No running age in it:
        the payload should change when the GPS does, not on every call; `last_fix.time`
        and the payload's own `ts` give the age."""
        return {
            "state": self.state,
            "last_fix": self.last_fix.to_json() if self.last_fix is not None else None,
            "counters": dict(self.counters),
            "detail": self.detail,
        }

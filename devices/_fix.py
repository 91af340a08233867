"""The one record every GPS source produces.

A `Fix` is deliberately our own frozen dataclass, not a pynmea2 object: pynmea2's attribute
access hands back raw strings when a conversion fails (FIELD-NOTES), so every field here is
converted and range-checked once, at the border, and the estimator never sees a string.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone


class FixMode(enum.IntEnum):
    """NMEA/gpsd fix mode (gpsd's TPV `mode`: 0 unknown, 1 no fix, 2 2D, 3 3D)."""

    UNKNOWN = 0
    NO_FIX = 1
    FIX_2D = 2
    FIX_3D = 3


class Quality(enum.IntEnum):
    """GGA fix quality indicator (NMEA 0183 field 6)."""

    INVALID = 0
    GPS = 1
    DGPS = 2
    PPS = 3
    RTK = 4
    FLOAT_RTK = 5
    DEAD_RECKONING = 6
    MANUAL = 7
    SIMULATION = 8


@dataclass(frozen=True, slots=True)
class Fix:
    """One position epoch, UTC, SI units (m, m/s, degrees)."""

    time: datetime            # timezone-aware UTC
    lat: float                # degrees, -90..90
    lon: float                # degrees, -180..180
    alt: float | None = None  # metres above MSL
    speed: float | None = None  # speed over ground, m/s
    course: float | None = None  # degrees true, 0..360
    mode: FixMode = FixMode.UNKNOWN
    quality: Quality | None = None
    sats: int | None = None
    hdop: float | None = None
    eph: float | None = None  # 1-sigma horizontal error, metres (GST), when the receiver says

    @property
    def t(self) -> float:
        """POSIX seconds; what the estimator works in."""
        return self.time.timestamp()

    def horizontal_error(self, uere: float = 4.07) -> float:
        """Best 1-sigma horizontal error in metres: GST if given, else HDOP x UERE.

        4.07 m is Newson & Krumm's measured GPS sigma, used when nothing better is known.
        """
        if self.eph is not None and self.eph > 0:
            return self.eph
        if self.hdop is not None and self.hdop > 0:
            return max(self.hdop * uere, 1.0)
        return uere * 2.0

    def to_json(self) -> dict:
        """The `forewarn decode` line shape (DESIGN.md)."""
        return {
            "time": self.time.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
            "lat": round(self.lat, 9),
            "lon": round(self.lon, 9),
            "alt": self.alt,
            "speed": self.speed,
            "course": self.course,
            "mode": int(self.mode),
            "sats": self.sats,
            "hdop": self.hdop,
        }

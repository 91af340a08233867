"""Field converters for NMEA 0183 text fields.

Why our own: pynmea2's attribute access hands back the raw string when its conversion
fails (FIELD-NOTES), so a `'04'` or `''` would leak into arithmetic. Each converter here
returns a number or None, never raises, and range-checks what the standard allows.
"""
from __future__ import annotations

import math
from datetime import date

KNOT: float = 1852.0 / 3600.0  # m/s per knot
KMH: float = 1000.0 / 3600.0   # m/s per km/h


def num(text: str) -> float | None:
    """A finite decimal, or None for empty/garbled (never inf/nan: receivers don't mean it)."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def integer(text: str) -> int | None:
    """A non-negative integer, or None (satellite counts, quality indicators)."""
    if not text or not text.isdigit():
        return None
    return int(text)


def angle(value: str, hemisphere: str, max_degrees: int) -> float | None:
    """`ddmm.mmmm` / `dddmm.mmmm` plus N/S/E/W into signed degrees, or None.

    Minutes must be below 60 and the result within ±max_degrees; anything else is a
    corrupted field, not a position.
    """
    if hemisphere not in ("N", "S", "E", "W") or not value:
        return None
    dot = value.find(".")
    head = dot if dot >= 0 else len(value)
    if head < 3 or not value[:head - 2].isdigit():
        return None
    minutes = num(value[head - 2:])
    if minutes is None or not 0.0 <= minutes < 60.0 or value[head - 2] in "+-":
        return None
    degrees = int(value[:head - 2]) + minutes / 60.0
    if degrees > max_degrees:
        return None
    return -degrees if hemisphere in ("S", "W") else degrees


def time_of_day(text: str) -> float | None:
    """`hhmmss[.sss]` into seconds since midnight, or None (60 s allowed: leap second)."""
    if len(text) < 6 or not text[:6].isdigit():
        return None
    h, m = int(text[0:2]), int(text[2:4])
    s = num(text[4:])
    if s is None or h > 23 or m > 59 or not 0.0 <= s < 61.0:
        return None
    return h * 3600 + m * 60 + s


def rmc_date(text: str) -> date | None:
    """RMC `ddmmyy` into a date (yy < 80 means 20yy, as gpsd), or None."""
    if len(text) != 6 or not text.isdigit():
        return None
    yy = int(text[4:6])
    return calendar_date(yy + (2000 if yy < 80 else 1900), int(text[2:4]), int(text[0:2]))


def calendar_date(year: int, month: int, day: int) -> date | None:
    """A real calendar date or None (ZDA sends the fields separately)."""
    try:
        return date(year, month, day)
    except ValueError:
        return None

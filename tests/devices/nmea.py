"""Build well-formed NMEA sentences for tests, rendered (and checksummed) by pynmea2."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pynmea2

KNOT = 1852.0 / 3600.0


def sentence(address: str, *fields: str) -> str:
    """`sentence("GPRMC", "123519", "A", ...)` -> "$GPRMC,123519,A,...*hh"."""
    talker, kind = address[:2], address[2:]
    cls = pynmea2.TalkerSentence.sentence_types[kind]
    return cls(talker, kind, list(fields)).render()


def ddmm(value: float, width: int) -> str:
    """Degrees -> NMEA ddmm.mmmmmm with `width` degree digits."""
    value = abs(value)
    deg = int(value)
    return f"{deg:0{width}d}{(value - deg) * 60:09.6f}"


def epoch(when: datetime, lat: float, lon: float, *, speed: float = 10.0, course: float = 90.0,
          talker: str = "GP", alt: float = 100.0, with_date: bool = True) -> list[str]:
    """RMC + GGA + GSA for one instant (GGA first, as SiRF chips do)."""
    hms = when.strftime("%H%M%S.") + f"{when.microsecond // 10000:02d}"
    ns, ew = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
    la, lo = ddmm(lat, 2), ddmm(lon, 3)
    out = [sentence(f"{talker}GGA", hms, la, ns, lo, ew, "1", "08", "0.9", f"{alt:.1f}", "M",
                    "47.0", "M", "", "")]
    out.append(sentence(f"{talker}GSA", "A", "3", *(["01"] * 12), "1.5", "0.9", "1.2"))
    if with_date:
        out.append(sentence(f"{talker}RMC", hms, "A", la, ns, lo, ew, f"{speed / KNOT:.2f}",
                            f"{course:.1f}", when.strftime("%d%m%y"), "", "", "A"))
    return out


def drive(start: datetime, n: int, *, lat: float = 51.24, lon: float = 6.74,
          speed: float = 10.0, step_s: float = 1.0, **kw: object) -> list[str]:
    """`n` epochs of a vehicle going east at `speed` m/s."""
    lines: list[str] = []
    for i in range(n):
        when = start + timedelta(seconds=i * step_s)
        dlon = speed * i * step_s / (111_320.0 * math.cos(math.radians(lat)))
        lines += epoch(when, lat, lon + dlon, speed=speed, **kw)  # type: ignore[arg-type]
    return lines


T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=timezone.utc)

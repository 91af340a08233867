"""What one receiver epoch has said so far, across all its sentences and talkers.

Why merge instead of emitting per sentence: a multi-constellation receiver reports the same
instant in RMC, GGA, GSA, VTG… from GN, GP and GL talkers. Each carries a different part
(date only in RMC, altitude only in GGA, 2D/3D only in GSA), and the daemon wants exactly
one fix per instant.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import datetime as dt

from ._fix import FixMode, Quality

#: Which talker's position wins inside an epoch: the combined solution first.
TALKER_RANK = {"GN": 3, "GP": 2}

#: RMC/GNS/GLL mode indicator (NMEA 2.3+) -> GGA-style quality.
MODE_QUALITY = {
    "A": Quality.GPS, "D": Quality.DGPS, "P": Quality.PPS, "R": Quality.RTK,
    "F": Quality.FLOAT_RTK, "E": Quality.DEAD_RECKONING, "M": Quality.MANUAL,
    "S": Quality.SIMULATION, "N": Quality.INVALID,
}


@dataclass(slots=True)
class Epoch:
    """Mutable accumulator; becomes a `Fix` when the epoch is complete."""

    tod: float                      # seconds since UTC midnight
    primary_time: bool = True       # tod came from RMC/GGA/GNS, not GLL
    lat: float | None = None
    lon: float | None = None
    pos_rank: int = -1
    alt: float | None = None
    speed: float | None = None
    course: float | None = None
    rmc_motion: bool = False        # RMC gave speed/course: VTG must not override it
    date: dt.date | None = None
    invalid: bool = False           # some sentence said "no fix" (RMC V, GGA 0, ...)
    quality: Quality | None = None  # from GGA
    mode_quality: Quality | None = None  # from RMC/GNS/GLL mode indicator
    gsa_mode: int = 0
    sats: int | None = None
    hdop: float | None = None
    gsa_hdop: float | None = None
    eph: float | None = None
    seen: dict[str, int] = field(default_factory=dict)  # address -> count, end-of-cycle
    last_address: str = ""
    emitted: bool = False

    def set_position(self, talker: str, lat: float | None, lon: float | None) -> bool:
        """Keep the best talker's position; later sentences of the same rank win (as gpsd).
        True if this one won: its altitude/satellites/HDOP belong with it (a Galileo-only
        GAGGA must not lend its 3 satellites to the GP solution, Telit PLS83)."""
        if lat is None or lon is None:
            return False
        rank = TALKER_RANK.get(talker, 1)
        if rank < self.pos_rank:
            return False
        self.lat, self.lon, self.pos_rank = lat, lon, rank
        return True

    def fix_mode(self) -> FixMode:
        """3D whenever the epoch carries an altitude from 4+ satellites, else GSA's word,
        else 2D.

        This is gpsd's rule: several receivers in the corpus (CH-4711, Quectel EC25, Telit
        PLS83) send GSA "2D" beside a GGA altitude, and gpsd reports those epochs as 3D;
        with 3 satellites (SL869) an altitude is a guess and the fix is 2D.
        """
        if self.alt is not None and (self.sats is None or self.sats >= 4):
            return FixMode.FIX_3D
        if self.gsa_mode in (2, 3):
            return FixMode(self.gsa_mode)
        return FixMode.FIX_2D

    def fix_quality(self) -> Quality | None:
        """GGA's indicator when present, else the mode letter of RMC/GNS/GLL."""
        return self.quality if self.quality is not None else self.mode_quality

"""The bundled real drive (config/demo/drive.nmea), cut into epochs, and when it ends."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from tests.daemon.helpers import DRIVE


def epochs() -> list[list[str]]:
    """The drive as a list of epochs (each ends with its VTG sentence), lines without CRLF."""
    out: list[list[str]] = [[]]
    for line in DRIVE.read_text().splitlines():
        out[-1].append(line)
        if line.startswith("$GPVTG"):
            out.append([])
    return [e for e in out if e]


def epoch_time(epoch: list[str]) -> datetime:
    """UTC time of an epoch, from its RMC sentence."""
    rmc = next(ln for ln in epoch if ln.startswith("$GPRMC")).split(",")
    hhmmss, ddmmyy = rmc[1], rmc[9]
    return datetime.strptime(ddmmyy + hhmmss.split(".")[0], "%d%m%y%H%M%S").replace(tzinfo=timezone.utc)


LAST_FIX = epoch_time(epochs()[-1])


def write_rest(path: Path, after: datetime | None) -> int:
    """Write the part of the drive after `after` (all of it for None): where the truck is now.

    A restarted daemon must not see the truck teleport back to the depot, which is what
    replaying the whole file again would show it. Returns the number of epochs written.
    """
    rest = [e for e in epochs() if after is None or epoch_time(e) > after]
    path.write_text("".join(ln + "\r\n" for e in rest for ln in e))
    return len(rest)


def ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def at_end(position: dict | None) -> bool:
    """A `position` payload of the drive's last fix: the replay is over."""
    return position is not None and ts(position["ts"]) >= LAST_FIX

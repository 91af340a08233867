"""Time on the wire is ISO 8601 UTC with `Z` (DESIGN.md); one helper so every topic agrees."""
from __future__ import annotations

from datetime import datetime, timezone


def iso(t: datetime | float | None) -> str | None:
    if t is None:
        return None
    if not isinstance(t, datetime):
        t = datetime.fromtimestamp(t, tz=timezone.utc)
    return t.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)

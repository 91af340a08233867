"""The wire format every topic and document agrees on: ISO 8601 UTC times with `Z`, compact JSON."""
from __future__ import annotations

import json
from datetime import datetime, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo


def iso(t: datetime | float | None) -> str | None:
    if t is None:
        return None
    if not isinstance(t, datetime):
        t = datetime.fromtimestamp(t, tz=timezone.utc)
    return t.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


def from_iso(s: str) -> datetime:
    """The inverse of `iso`: a time from a topic or a replay document."""
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def zone(name: object) -> tzinfo:
    """A route's IANA zone for display; UTC when there is none or this machine does not know it."""
    try:
        return ZoneInfo(str(name)) if name else timezone.utc
    except (ValueError, KeyError):
        return timezone.utc


def local_clock(ts: object, tz: tzinfo, fmt: str = "%H:%M") -> str:
    """An ISO time of a payload or document on a route's clock; '-' for one missing or malformed."""
    try:
        return from_iso(str(ts)).astimezone(tz).strftime(fmt)
    except ValueError:
        return "-"


def dumps(doc: dict) -> str:
    """Compact JSON; numpy scalars (from the estimator) become plain numbers instead of crashing."""
    return json.dumps(doc, separators=(",", ":"), default=lambda o: o.item() if hasattr(o, "item") else str(o))


@lru_cache(maxsize=4096)
def _window_iso(window) -> tuple[str | None, str | None]:
    return iso(window.start), iso(window.end)


def window_json(window) -> dict:
    """A stop's promised window as it appears in `eta` payloads and replay documents (a
    `Window` is immutable: its strings are formatted once, not on every fix)."""
    start, end = _window_iso(window)
    return {"start": start, "end": end}

"""The wire format every topic and document agrees on: ISO 8601 UTC times with `Z`, compact JSON."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache


def iso(t: datetime | float | None) -> str | None:
    if t is None:
        return None
    if not isinstance(t, datetime):
        t = datetime.fromtimestamp(t, tz=timezone.utc)
    return t.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


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

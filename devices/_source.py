"""The one interface every GPS source offers the daemon, and the decoding they share.

Why a Protocol plus a small base: the daemon only ever needs `async for fix in
source.fixes()` and a `status` to publish; how bytes arrive (serial, gpsd, MQTT, file) is
each source's business. Sources that receive NMEA text share one `NmeaDecoder`, whose
counters *are* the status counters, so the `status` topic shows the same numbers that
`forewarn decode` prints.
"""
from __future__ import annotations

import asyncio
from datetime import date, datetime, timezone
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from ._decoder import NmeaDecoder
from ._fix import Fix
from ._status import GpsStatus

#: After this long without a line, the epoch in progress is emitted rather than held.
IDLE_FLUSH_S = 1.5

#: No live fix can be dated before this code was written: a receiver that says 2006 or
#: 1999 has stale firmware after a GPS week-number rollover and is one 1024-week era behind.
LIVE_NOT_BEFORE = date(2026, 1, 1)


@runtime_checkable
class GpsSource(Protocol):
    """What the daemon codes against."""

    status: GpsStatus

    def fixes(self) -> AsyncIterator[Fix]:
        """Fixes until cancelled; device trouble is waited out, never raised."""
        ...


def utc_today() -> date:
    """The system clock's UTC date: what a live GGA-only receiver's epochs are dated with
    until an RMC or ZDA says otherwise (gateways keep their clock by NTP over cellular)."""
    return datetime.now(timezone.utc).date()


class NmeaLineSource:
    """Base for sources that receive NMEA lines: decode, and keep `status` current."""

    #: Live sources date GGA-only streams from the system clock; replays must not.
    live: bool = True

    def __init__(
        self,
        decoder: NmeaDecoder | None = None,
        *,
        stale_after_s: float = 5.0,
        max_speed_mps: float = 90.0,
    ) -> None:
        """Pass `stale_after_s`/`max_speed_mps` (config values) rather than a decoder, so a
        live source keeps its live defaults (date from the clock, rollover repair)."""
        if decoder is None:
            live = {"date_hint": utc_today, "not_before": LIVE_NOT_BEFORE} if self.live else {}
            decoder = NmeaDecoder(stale_after_s=stale_after_s, max_speed_mps=max_speed_mps,
                                  **live)  # type: ignore[arg-type]
        self.decoder = decoder
        self.status = GpsStatus(stale_after_s=self.decoder.stale_after_s)
        self.status.counters = self.decoder.counters  # one set of numbers, not two

    def _decode(self, line: bytes | str) -> list[Fix]:
        fixes = self.decoder.feed(line)
        return self._note(fixes)

    def _flush(self) -> list[Fix]:
        return self._note(self.decoder.flush())

    def _note(self, fixes: list[Fix]) -> list[Fix]:
        for fix in fixes:
            self.status.record(fix)
        self.status.has_fix = self.decoder.has_fix
        return fixes


class Backoff:
    """Exponential wait between reopen attempts, reset once data flows again.

    Why: a vanished USB receiver must not turn the daemon into a busy loop, yet a replug
    should be noticed within seconds.
    """

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high
        self.delay = low

    def reset(self) -> None:
        self.delay = self.low

    async def wait(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.high, self.delay * 2)

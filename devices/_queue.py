"""NMEA pushed in by someone else: the daemon's MQTT task (`<prefix>/<vehicle>/nmea`).

Why decode on push: a message may carry one line or a whole epoch, and the MQTT task
should not hold raw text for a consumer that may be slow; fixes are small and the queue
is bounded, dropping the *oldest* fix when full because the estimator wants the newest.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ._aio import wait_for
from ._decoder import NmeaDecoder
from ._fix import Fix
from ._source import IDLE_FLUSH_S, NmeaLineSource


class LineQueueSource(NmeaLineSource):
    """`source.push(payload)` from the MQTT callback; `async for fix in source.fixes()`."""

    def __init__(
        self,
        *,
        maxsize: int = 1000,
        decoder: NmeaDecoder | None = None,
        stale_after_s: float = 5.0,
        max_speed_mps: float = 90.0,
    ) -> None:
        super().__init__(decoder, stale_after_s=stale_after_s, max_speed_mps=max_speed_mps)
        self._queue: asyncio.Queue[Fix] = asyncio.Queue(maxsize)
        self._wake = asyncio.Event()  # flush timing restarts on every push

    def push(self, payload: bytes | bytearray | memoryview | str | object) -> None:
        """One MQTT message: one or many NMEA lines. Never raises.

        aiomqtt hands payloads over as bytes, bytearray, str, int, float or None; anything
        that is not text or bytes is counted as garbage rather than trusted."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "replace")
        elif isinstance(payload, (bytearray, memoryview)):
            payload = bytes(payload)
        elif not isinstance(payload, bytes):
            self.status.counters["garbage"] += 1
            return
        self.status.device_present = True
        for line in payload.splitlines():
            for fix in self._decode(line):
                self._put(fix)
        self._wake.set()

    def _put(self, fix: Fix) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.status.counters["queue_overflow"] += 1
        self._queue.put_nowait(fix)

    async def fixes(self) -> AsyncIterator[Fix]:
        """Fixes as they are pushed; a quiet second completes the epoch in progress."""
        while True:
            if self._queue.empty():
                self._wake.clear()
                try:
                    await wait_for(self._wake.wait(), IDLE_FLUSH_S)
                except TimeoutError:
                    for fix in self._flush():
                        self._put(fix)
                if self._queue.empty():
                    continue
            yield self._queue.get_nowait()

"""NMEA replay from a file or stdin, as fast as possible or paced by the data's own clock.

Why pace by the fixes' timestamps rather than by line count: receivers send a variable
number of sentences per epoch and logs have gaps; only the UTC times in the data say how
long the drive really took. `speed=60` makes a one-hour drive last a minute (the demo).
"""
from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

from ._decoder import NmeaDecoder
from ._fix import Fix
from ._source import NmeaLineSource

_CHUNK = 1 << 16
#: A jump in data time larger than this (concatenated logs, a day's gap) re-anchors the
#: pacing instead of sleeping through it.
MAX_PACED_GAP_S = 300.0


def read_lines(stream: BinaryIO) -> Iterator[bytes]:
    """Lines of a binary stream (\n or \r\n endings), chunk by chunk."""
    carry = b""
    while chunk := _read_chunk(stream):
        lines, carry = split_chunk(carry, chunk)
        yield from lines
    if carry:
        yield carry


def _read_chunk(stream: BinaryIO) -> bytes:
    """Up to 64 KiB, returning as soon as *some* bytes are there: on a live pipe
    (`gpspipe -r | forewarn decode -`) `read(n)` would wait for all n."""
    read1 = getattr(stream, "read1", None)
    return read1(_CHUNK) if read1 is not None else stream.read(_CHUNK)


def split_chunk(carry: bytes, chunk: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines of `carry + chunk`, and the unterminated rest."""
    lines = (carry + chunk).split(b"\n")
    return lines, lines.pop()


class FileSource(NmeaLineSource):
    """`FileSource("drive.nmea", speed=60)`; path "-" reads stdin."""

    live = False  # a recording's GGA-only epochs must not be dated with today

    def __init__(
        self,
        path: str | Path,
        speed: float | None = None,
        *,
        decoder: NmeaDecoder | None = None,
        stale_after_s: float = 5.0,
        max_speed_mps: float = 90.0,
    ) -> None:
        super().__init__(decoder, stale_after_s=stale_after_s, max_speed_mps=max_speed_mps)
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self.path = path
        self.speed = speed

    async def fixes(self) -> AsyncIterator[Fix]:
        """Every fix in the file, then returns (a replay ends; it is not a device)."""
        try:
            stream = sys.stdin.buffer if str(self.path) == "-" else open(self.path, "rb")
        except OSError as exc:
            self.status.detail = f"open {self.path}: {exc.strerror or exc}"
            self.status.counters["open_failed"] += 1
            return
        self.status.device_present = True
        loop = asyncio.get_running_loop()
        anchor: tuple[float, float] | None = None  # (loop time, data time) pairs
        last_data_t: float | None = None
        carry = b""
        try:
            while chunk := await self._read(stream):
                lines, carry = split_chunk(carry, chunk)
                for line in lines:
                    for fix in self._decode(line):
                        anchor, last_data_t = await self._pace(loop, fix, anchor, last_data_t)
                        yield fix
                await asyncio.sleep(0)  # as-fast-as-possible must not starve the loop
            for fix in (self._decode(carry) if carry else []) + self._flush():
                anchor, last_data_t = await self._pace(loop, fix, anchor, last_data_t)
                yield fix
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
            self.status.device_present = False
            if not self.status.detail:      # "no-device" after a replay: say why
                self.status.detail = f"end of {self.path}"

    async def _read(self, stream: BinaryIO) -> bytes:
        """The next chunk, or b"" (end) when the read fails, counted: a replay of a file on
        a failing SD card ends with a reason instead of an exception."""
        try:
            return await asyncio.to_thread(_read_chunk, stream)
        except (OSError, ValueError) as exc:
            self.status.counters["read_failed"] += 1
            self.status.detail = f"read {self.path}: {exc}"
            return b""

    async def _pace(
        self,
        loop: asyncio.AbstractEventLoop,
        fix: Fix,
        anchor: tuple[float, float] | None,
        last_data_t: float | None,
    ) -> tuple[tuple[float, float] | None, float]:
        """Sleep until `fix` is due; returns the (possibly re-made) anchor."""
        t = fix.t
        if self.speed is None:
            return anchor, t
        if anchor is None or last_data_t is None or not 0 <= t - last_data_t <= MAX_PACED_GAP_S:
            return (loop.time(), t), t
        due = anchor[0] + (t - anchor[1]) / self.speed
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        return anchor, t

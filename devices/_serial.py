"""NMEA from a serial port (USB receiver, UART), surviving unplug/replug and unknown bauds.

Why pyserial-asyncio-fast: it reads through `loop.add_reader` on the port's descriptor, so
a read is cancellable and no thread sits in a blocking `readline()` (FIELD-NOTES). Why the
reopen loop: a bumped USB cable makes the device node vanish and come back, possibly as a
new node behind the same udev symlink; we close, wait with backoff, and open the path again.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import serial_asyncio_fast

from ._aio import wait_for
from ._decoder import NmeaDecoder
from ._fix import Fix
from ._source import IDLE_FLUSH_S, Backoff, NmeaLineSource

#: Tried in this order with baudrate="auto": the common rates first, NMEA's 4800 second.
AUTO_BAUDS: tuple[int, ...] = (9600, 4800, 38400, 115200, 57600, 19200)
#: How long one baud rate may stay silent or garbled before the next is tried.
PROBE_S = 2.5


class SerialSource(NmeaLineSource):
    """`async for fix in SerialSource("/dev/ttyUSB0").fixes()`."""

    def __init__(
        self,
        device: str | Path,
        baudrate: int | Literal["auto"] = "auto",
        *,
        reopen_backoff: tuple[float, float] = (0.5, 30.0),
        decoder: NmeaDecoder | None = None,
        probe_s: float = PROBE_S,
        stale_after_s: float = 5.0,
        max_speed_mps: float = 90.0,
    ) -> None:
        """`probe_s`: with baudrate="auto", how long each rate may go without one
        checksum-valid sentence before the next rate is tried."""
        super().__init__(decoder, stale_after_s=stale_after_s, max_speed_mps=max_speed_mps)
        self.probe_s = probe_s
        self.device = str(device)
        self.baudrate = baudrate
        self.found_baud: int | None = baudrate if isinstance(baudrate, int) else None
        self._backoff = Backoff(*reopen_backoff)
        self.opened = asyncio.Event()  # set while the port is open (tests wait on it)

    async def fixes(self) -> AsyncIterator[Fix]:
        """Fixes until cancelled; reopens the port whenever it fails."""
        while True:
            for baud in self._bauds():
                try:
                    reader, writer = await serial_asyncio_fast.open_serial_connection(
                        url=self.device, baudrate=baud)
                except Exception as exc:  # absent node, permissions, not a tty
                    self.status.device_present = False
                    self.status.detail = f"open {self.device}: {exc.__class__.__name__}: {exc}"
                    self.status.counters["open_failed"] += 1
                    break
                self.status.device_present = True
                self.status.detail = f"{self.device} @ {baud}"
                self.opened.set()
                probing = self.baudrate == "auto"
                try:
                    async for fix in self._read(reader, baud, probing=probing):
                        yield fix
                finally:
                    self.opened.clear()
                    writer.close()
                if not probing or self.found_baud == baud:
                    break  # the port failed after working: reopen from the top
            await self._backoff.wait()

    def _bauds(self) -> tuple[int, ...]:
        """Configured rate, or every usual rate with the last one that worked first."""
        if isinstance(self.baudrate, int):
            return (self.baudrate,)
        if self.found_baud is None:
            return AUTO_BAUDS
        return (self.found_baud, *(b for b in AUTO_BAUDS if b != self.found_baud))

    async def _read(
        self, reader: asyncio.StreamReader, baud: int, *, probing: bool
    ) -> AsyncIterator[Fix]:
        """Lines until the port fails; while probing, give up after `probe_s` with no
        checksum-valid sentence (wrong baud rates read as garbage)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.probe_s
        start_sentences = self.decoder.sentences
        while True:
            timeout = IDLE_FLUSH_S
            if probing:
                timeout = min(timeout, deadline - loop.time())
                if timeout <= 0:
                    self.status.counters["baud_probe_failed"] += 1
                    self.status.device_present = False
                    return
            try:
                line = await wait_for(reader.readline(), timeout)
            except TimeoutError:
                for fix in self._flush():
                    yield fix
                continue
            except ValueError:  # a "line" longer than the stream limit: binary noise
                self.status.counters["garbage"] += 1
                continue
            except Exception as exc:  # the device went away under us
                line, why = b"", f"read {self.device}: {exc.__class__.__name__}: {exc}"
            else:
                why = f"{self.device}: end of file"
            if not line:
                self._lost(why)
                for fix in self._flush():  # the epoch in progress is as good as it gets
                    yield fix
                return
            for fix in self._decode(line):
                yield fix
            if self.decoder.sentences > start_sentences:
                if probing:
                    probing = False
                    self.found_baud = baud
                self._backoff.reset()

    def _lost(self, why: str) -> None:
        self.status.device_present = False
        self.status.detail = why
        self.status.counters["device_lost"] += 1

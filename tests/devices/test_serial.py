"""SerialSource on real pseudo-terminals: configured and automatic baud, unplug/replug."""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from forewarn.devices import Fix, SerialSource, iter_fixes
from tests.devices.nmea import T0, drive
from tests.devices.pty_gps import PtyReceiver

pytestmark = pytest.mark.timeout(60)
WAIT = 10.0  # generous bound for a loaded 2-core machine; waits end as soon as it happens


async def wait_until(cond, timeout: float = WAIT) -> None:  # type: ignore[no-untyped-def]
    """Poll a condition on the loop (no bare sleeps elsewhere)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


class Pump:
    """Runs `source.fixes()` in a task and hands fixes over through a queue."""

    def __init__(self, source: SerialSource) -> None:
        self.source = source
        self.queue: asyncio.Queue[Fix] = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        it: AsyncIterator[Fix] = self.source.fixes()
        async for fix in it:
            await self.queue.put(fix)

    async def get(self, n: int) -> list[Fix]:
        return [await asyncio.wait_for(self.queue.get(), WAIT) for _ in range(n)]

    async def stop(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


@pytest.mark.parametrize("baud", [9600, "auto"])
def test_fixes_arrive_from_a_pty_at_configured_or_automatic_baud(baud: int | str) -> None:
    async def main() -> None:
        gps = PtyReceiver()
        source = SerialSource(gps.slave_path, baud, reopen_backoff=(0.05, 0.2))  # type: ignore[arg-type]
        pump = Pump(source)
        await asyncio.wait_for(source.opened.wait(), WAIT)
        gps.send(drive(T0, 3))
        fixes = await pump.get(3)  # the third by end-of-cycle learning or the idle flush
        assert [f.time for f in fixes] == [T0 + timedelta(seconds=i) for i in range(3)]
        assert source.status.state == "3D" and source.found_baud == 9600
        await pump.stop()
        gps.unplug()

    asyncio.run(main())


def test_unplug_and_replug_behind_a_symlink_reopens_without_busy_looping(tmp_path: Path) -> None:
    async def main() -> None:
        link = tmp_path / "gps0"
        first = PtyReceiver()
        first.link(link)
        source = SerialSource(link, 9600, reopen_backoff=(0.05, 0.4))
        pump = Pump(source)
        await asyncio.wait_for(source.opened.wait(), WAIT)
        first.send(drive(T0, 3))
        assert len(await pump.get(3)) == 3

        link.unlink()             # the cable is pulled: node gone, reader hung up
        first.unplug()
        await wait_until(lambda: source.status.state == "no-device")
        await wait_until(lambda: source.status.counters["open_failed"] >= 3)
        # backoff doubles up to 0.4 s: over 1 s of absence there are only a handful of tries
        opens_before = source.status.counters["open_failed"]
        await asyncio.sleep(1.0)  # deliberately idle time, to count reopen attempts in it
        assert source.status.counters["open_failed"] - opens_before <= 5

        second = PtyReceiver()    # plugged back in, as a new tty behind the same name
        second.link(link)
        await asyncio.wait_for(source.opened.wait(), WAIT)
        later = T0 + timedelta(seconds=60)
        second.send(drive(later, 3))
        fixes = await pump.get(3)
        assert fixes[0].time == later and source.status.state == "3D"
        assert source.status.counters["device_lost"] == 1
        await pump.stop()
        second.unplug()

    asyncio.run(main())


def test_binary_noise_on_the_port_is_counted_and_fixes_still_come_through() -> None:
    async def main() -> None:
        gps = PtyReceiver()
        source = SerialSource(gps.slave_path, 9600, reopen_backoff=(0.05, 0.2))
        pump = Pump(source)
        await asyncio.wait_for(source.opened.wait(), WAIT)
        os.write(gps.master, b"\xb5\x62\x01\x07\x00\xff\x00\r\n" * 3)
        gps.send(drive(T0, 2))
        fixes = await pump.get(2)
        assert len(fixes) == 2 and source.status.counters["garbage"] == 3
        await pump.stop()
        gps.unplug()

    asyncio.run(main())


def test_auto_baud_moves_on_from_a_rate_that_reads_garbage() -> None:
    """At a wrong rate a receiver reads as noise: the probe gives up on 9600 and the next
    rate (4800) is kept once checksum-valid sentences arrive."""
    async def main() -> None:
        gps = PtyReceiver()
        source = SerialSource(gps.slave_path, "auto", reopen_backoff=(0.05, 0.2), probe_s=1.0)
        pump = Pump(source)
        await asyncio.wait_for(source.opened.wait(), WAIT)
        os.write(gps.master, b"\x8a\xf3\x11\x9c\xfe\r\n" * 4)      # what a wrong baud looks like
        await wait_until(lambda: source.status.counters["baud_probe_failed"] >= 1)
        await wait_until(lambda: source.status.detail.endswith("@ 4800"))
        gps.send(drive(T0, 3))
        fixes = await pump.get(3)
        assert len(fixes) == 3 and source.found_baud == 4800
        assert source.status.counters["garbage"] >= 4
        await pump.stop()
        gps.unplug()

    asyncio.run(main())


def test_a_path_that_never_appears_is_waited_for_with_backoff(tmp_path: Path) -> None:
    async def main() -> None:
        source = SerialSource(tmp_path / "ttyUSB9", 9600, reopen_backoff=(0.01, 0.08))
        pump = Pump(source)
        await wait_until(lambda: source.status.counters["open_failed"] >= 6)
        assert source.status.state == "no-device"
        assert "ttyUSB9" in source.status.to_json()["detail"]
        await pump.stop()

    asyncio.run(main())


def test_a_real_drive_through_a_pty_gives_the_same_fixes_as_decoding_the_file() -> None:
    """The tizen 10-minute drive, 4171 lines, written into the pty as fast as it drains."""
    log = Path(__file__).parent.parent / "data" / "tizen-replay" / "nmea_replay.log"
    data = log.read_bytes()
    expected = list(iter_fixes(data.split(b"\n")))

    async def main() -> list[Fix]:
        gps = PtyReceiver()
        source = SerialSource(gps.slave_path, 9600, reopen_backoff=(0.05, 0.2))
        pump = Pump(source)
        await asyncio.wait_for(source.opened.wait(), WAIT)
        writer = asyncio.create_task(asyncio.to_thread(gps.send_bytes, data))
        fixes = await pump.get(len(expected))
        await writer
        await pump.stop()
        gps.unplug()
        return fixes

    fixes = asyncio.run(main())
    assert [(f.time, f.lat, f.lon, f.speed) for f in fixes] == [
        (f.time, f.lat, f.lon, f.speed) for f in expected]

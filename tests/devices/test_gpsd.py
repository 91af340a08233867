"""GpsdSource against the distribution's real gpsd, fed NMEA through a pseudo-terminal."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from forewarn.devices import Fix, GpsdSource, iter_fixes
from tests.devices.nmea import T0, drive
from tests.fakes.gpsd import GpsdProcess

pytestmark = pytest.mark.timeout(60)
WAIT = 10.0


async def next_fixes(it, n: int) -> list[Fix]:  # type: ignore[no-untyped-def]
    return [await asyncio.wait_for(anext(it), WAIT) for _ in range(n)]


def test_tpv_reports_become_the_same_fixes_our_decoder_makes(gpsd: GpsdProcess) -> None:
    lines = drive(T0, 6, speed=12.0)
    expected = list(iter_fixes(lines))

    async def main() -> list[Fix]:
        source = GpsdSource("127.0.0.1", gpsd.port)
        it = source.fixes()
        first = asyncio.ensure_future(anext(it))
        await asyncio.wait_for(source.connected.wait(), WAIT)
        gpsd.receiver.send(lines)
        fixes = [await asyncio.wait_for(first, WAIT), *await next_fixes(it, 4)]
        assert source.status.state == "3D"
        await it.aclose()
        return fixes

    fixes = asyncio.run(main())
    ours = {f.time: f for f in expected}
    assert len(fixes) == 5
    for fix in fixes:   # gpsd may skip the very first epoch while it identifies the device
        twin = ours[fix.time]
        assert fix.lat == pytest.approx(twin.lat, abs=1e-7)
        assert fix.lon == pytest.approx(twin.lon, abs=1e-7)
        assert fix.speed == pytest.approx(12.0, abs=0.01) and fix.mode == 3


def test_source_survives_gpsd_restarting(gpsd: GpsdProcess) -> None:
    async def main() -> None:
        source = GpsdSource("127.0.0.1", gpsd.port, reconnect_backoff=(0.05, 0.3))
        queue: asyncio.Queue[Fix] = asyncio.Queue()

        async def pump() -> None:
            async for fix in source.fixes():
                await queue.put(fix)

        task = asyncio.create_task(pump())
        await asyncio.wait_for(source.connected.wait(), WAIT)
        gpsd.receiver.send(drive(T0, 4))
        await asyncio.wait_for(queue.get(), WAIT)

        gpsd.stop()                                   # daemon gone (upgrade, crash)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while source.counters["connect_failed"] < 2:  # it keeps trying, with backoff
            assert loop.time() < deadline
            await asyncio.sleep(0.02)
        assert source.status.state == "no-device" and source.counters["disconnected"] == 1

        gpsd.start()                                  # back on the same port
        await asyncio.wait_for(source.connected.wait(), WAIT)
        later = T0 + timedelta(minutes=5)
        gpsd.receiver.send(drive(later, 4))
        while (fix := await asyncio.wait_for(queue.get(), WAIT)).time < later:
            pass                                      # fixes from before the restart
        assert fix.time == later or fix.time == later + timedelta(seconds=1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_tpv_without_a_fix_or_with_garbage_is_counted() -> None:
    source = GpsdSource()
    assert source.tpv_to_fix({"class": "TPV", "mode": 1}) is None
    assert source.tpv_to_fix({"class": "TPV", "mode": 3, "lat": 91.0, "lon": 0.0,
                              "time": "2026-11-23T10:00:00Z"}) is None
    assert source.tpv_to_fix({"class": "TPV", "mode": 3, "lat": "x", "lon": None,
                              "time": "yesterday"}) is None
    assert source.counters == {"invalid_fix": 2, "no_time": 1}


def test_hostile_json_from_gpsd_is_counted_not_raised() -> None:
    """A tiny TCP server speaking broken gpsd: the source counts and keeps reading."""
    async def main() -> GpsdSource:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readline()  # our ?WATCH
            writer.write(b'{"class":"WATCH"}\n' + b"[" * 100_000 + b"\n" + b"not json\n"
                         + b'{"class":"TPV","mode":3,"status":[1],"lat":1,"lon":1,'
                           b'"time":"2026-11-23T10:00:00Z"}\n'
                         + b'{"class":"TPV","mode":"3"}\n42\n')
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        source = GpsdSource("127.0.0.1", port, reconnect_backoff=(5.0, 5.0))
        it = source.fixes()
        fix = await asyncio.wait_for(anext(it), WAIT)
        assert fix.lat == 1.0 and fix.quality is None
        await it.aclose()
        server.close()
        return source

    source = asyncio.run(main())
    assert source.counters["gpsd_bad_json"] >= 2


async def serve_once(payload: bytes) -> tuple[asyncio.AbstractServer, int]:
    """A one-shot TCP server that answers our ?WATCH with `payload` (gpsd-shaped JSON)."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(payload)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_sky_report_gives_satellites_and_hdop_to_the_next_fix() -> None:
    """Older gpsd (no uSat): satellites flagged "used" are counted."""
    async def main() -> Fix:
        server, port = await serve_once(
            b'{"class":"WATCH"}\n'
            b'{"class":"SKY","hdop":0.8,"satellites":[{"PRN":1,"used":true},'
            b'{"PRN":2,"used":false}]}\n'
            b'{"class":"TPV","mode":3,"lat":1.0,"lon":2.0,"time":"2026-11-23T10:00:00Z",'
            b'"altMSL":12.5,"speed":3.0,"track":370.0,"status":2}\n')
        it = GpsdSource("127.0.0.1", port).fixes()
        fix = await asyncio.wait_for(anext(it), WAIT)
        await it.aclose()
        server.close()
        return fix

    fix = asyncio.run(main())
    assert fix.sats == 1 and fix.hdop == 0.8 and fix.alt == 12.5 and fix.speed == 3.0
    assert fix.course == 10.0 and fix.quality is not None and fix.quality.name == "DGPS"


def test_a_real_drive_through_gpsd_agrees_with_our_own_decoding(gpsd: GpsdProcess) -> None:
    """The tizen 10-minute drive (2009) into gpsd's pty: the gpsd path and the NMEA path
    give the same fixes for every epoch both report. gpsd 3.22 dates a 2009 recording one
    1024-week GPS era later (2029, its week-rollover guard; same as in rst39.log.chk), so
    its times are mapped back before comparing."""
    data = (Path(__file__).parent.parent / "data" / "tizen-replay" / "nmea_replay.log"
            ).read_bytes()
    ours = {f.time: f for f in iter_fixes(data.split(b"\n"))}
    last = max(ours)
    era = timedelta(weeks=1024)

    def our_time(fix: Fix) -> datetime:
        return fix.time if fix.time in ours else fix.time - era

    async def main() -> list[Fix]:
        source = GpsdSource("127.0.0.1", gpsd.port)
        got: list[Fix] = []

        async def pump() -> None:
            async for fix in source.fixes():
                got.append(fix)
                if our_time(fix) >= last:
                    return

        task = asyncio.create_task(pump())
        await asyncio.wait_for(source.connected.wait(), WAIT)
        await asyncio.to_thread(gpsd.receiver.send_bytes, data)
        await asyncio.wait_for(task, 30)
        return got

    got = asyncio.run(main())
    assert len(got) >= 590                     # gpsd may spend an epoch or two identifying
    for fix in got:
        twin = ours[our_time(fix)]
        assert abs(fix.lat - twin.lat) <= 1e-6 and abs(fix.lon - twin.lon) <= 1e-6
        # Standing still, this receiver leaves RMC speed/course empty and its VTG says 0;
        # gpsd then derives a speed from successive positions, we keep the receiver's 0.
        if twin.course is not None and fix.speed is not None and twin.speed is not None:
            assert abs(fix.speed - twin.speed) <= 0.001


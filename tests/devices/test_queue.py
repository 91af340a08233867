"""LineQueueSource: what the daemon's MQTT task pushes becomes fixes."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from forewarn.devices import Fix, LineQueueSource
from tests.devices.nmea import T0, drive


async def take(source: LineQueueSource, n: int) -> list[Fix]:
    it = source.fixes()
    return [await asyncio.wait_for(anext(it), 5.0) for _ in range(n)]


def test_one_message_with_many_lines_and_one_line_per_message_both_work() -> None:
    async def main() -> list[Fix]:
        source = LineQueueSource()
        lines = drive(T0, 4)
        source.push("\r\n".join(lines[:6]).encode())      # two epochs in one message
        for line in lines[6:]:
            source.push(line.encode())                     # then one line per message
        fixes = await take(source, 4)                      # the last comes by idle flush
        assert source.status.state == "3D"
        return fixes

    fixes = asyncio.run(main())
    assert [f.time for f in fixes] == [T0.replace(second=i) for i in range(4)]


def test_garbage_messages_are_counted_not_raised() -> None:
    source = LineQueueSource()
    source.push(b"\x00\xff\xfe binary")
    source.push(b"$GPRMC,1")
    assert source.status.counters["garbage"] == 1 and source.status.counters["truncated"] == 1
    assert source.status.state == "no-fix"


def test_a_full_queue_drops_the_oldest_fix() -> None:
    async def main() -> list[Fix]:
        source = LineQueueSource(maxsize=2)
        source.push("\n".join(drive(T0, 5)).encode())
        return await take(source, 2)

    fixes = asyncio.run(main())
    assert [f.time.second for f in fixes] == [3, 4]


def test_live_sources_repair_week_rollover_and_date_gga_only_streams() -> None:
    async def main() -> list[Fix]:
        source = LineQueueSource()
        old = T0 - timedelta(weeks=1024)                      # what a stale receiver says
        source.push("\n".join(drive(old, 2)).encode())
        gga_only = drive(datetime.now(timezone.utc).replace(microsecond=0), 2, with_date=False)
        source.push("\n".join(gga_only).encode())
        return await take(source, 4)

    fixes = asyncio.run(main())
    assert [f.time for f in fixes[:2]] == [T0, T0 + timedelta(seconds=1)]
    assert fixes[2].time.date() == datetime.now(timezone.utc).date() or fixes[2].time.hour == 0


def test_payload_types_aiomqtt_may_hand_over_are_all_accepted_or_counted() -> None:
    source = LineQueueSource()
    line = drive(T0, 1)[0]
    for payload in (bytearray(line.encode()), memoryview(line.encode()), line, None, 42, 4.2):
        source.push(payload)
    assert source.status.counters["garbage"] == 3 and source.decoder.sentences == 3

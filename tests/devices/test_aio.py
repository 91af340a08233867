"""`wait_for` and `cancellable` of the long-running loops: a cancellation is never lost.

The tests cancel a task in the same loop iteration as what it waits for arrives, or while a
call that swallows cancellations runs: where Python 3.11's `asyncio.wait_for` returns the
result and forgets the cancellation (CPython gh-86296), and aiomqtt 2's publish with it. A
task looping on such a wait runs forever: the daemon hung on shutdown this way.
"""
from __future__ import annotations

import asyncio

import pytest

from forewarn.devices import LineQueueSource
from forewarn.devices._aio import cancellable, wait_for
from tests.devices.nmea import T0, drive


def test_returns_the_result_or_raises_timeout() -> None:
    async def main() -> None:
        ev = asyncio.Event()
        ev.set()
        assert await wait_for(ev.wait(), 1.0) is True
        with pytest.raises(TimeoutError):
            await wait_for(asyncio.Event().wait(), 0.01)

    asyncio.run(main())


def test_a_cancellation_that_comes_with_the_result_wins() -> None:
    async def main() -> None:
        ev = asyncio.Event()
        loops = 0

        async def loop_until_cancelled() -> None:
            nonlocal loops
            while True:                      # the shape of the MQTT writer and the sender
                loops += 1
                try:
                    await wait_for(ev.wait(), 0.05)
                except TimeoutError:
                    pass
                ev.clear()

        task = asyncio.create_task(loop_until_cancelled())
        await asyncio.sleep(0)               # it waits on the event now
        ev.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 2.0)
        assert loops == 1

    asyncio.run(main())


def test_a_call_that_eats_cancellation_cannot_keep_our_task_alive() -> None:
    """What aiomqtt 2 does on Python 3.11 when an ack and our cancel arrive together."""
    async def main() -> None:
        finished = asyncio.Event()

        async def eats_cancellation() -> str:
            try:
                await asyncio.sleep(0.2)
            except asyncio.CancelledError:
                pass
            finished.set()
            return "ack"

        async def loop() -> None:
            for _ in range(10):              # the shape of the MQTT writer (bounded: a failure
                await cancellable(eats_cancellation())   # here must not hang the suite)

        task = asyncio.create_task(loop())
        await asyncio.sleep(0.01)            # inside the call now
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=0.1)   # at once, not when the call is done
        assert task in done and task.cancelled()
        await asyncio.wait_for(finished.wait(), 1.0)   # the call was cancelled too, and ended

    asyncio.run(main())


def test_a_cancellable_call_returns_its_result_and_raises_its_errors() -> None:
    async def main() -> None:
        async def ok() -> int:
            await asyncio.sleep(0)
            return 7

        async def fails() -> None:
            raise ValueError("broker said no")

        assert await cancellable(ok()) == 7
        with pytest.raises(ValueError, match="broker said no"):
            await cancellable(fails())

    asyncio.run(main())


def test_the_mqtt_line_source_stops_when_cancelled_as_a_line_arrives() -> None:
    async def main() -> None:
        source = LineQueueSource()
        task = asyncio.create_task(anext(source.fixes()))
        await asyncio.sleep(0)               # waiting for lines
        source.push(drive(T0, 1)[0].encode())   # wakes it: the first line of an epoch
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 3.0)   # not a fix a second later, at the idle flush

    asyncio.run(main())

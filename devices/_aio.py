"""asyncio helpers every long-running loop of the daemon shares.

Why they exist: on Python 3.11 (our floor) `asyncio.wait_for` swallows a cancellation that
arrives in the same loop iteration as the awaited result (CPython gh-86296; 3.12 rebuilt it on
`asyncio.timeout`). A `while True:` task then never ends and the TaskGroup holding it waits
forever: the daemon hung on shutdown this way, its MQTT writer cancelled just as a publish
was acknowledged (aiomqtt 2 waits for its acks with `asyncio.wait_for`) or as it was woken
(the shutdown that cancels it also wakes it).

Not a way out: looking at `Task.cancelling()` after the fact. On 3.11 a TaskGroup whose child
failed leaves its parent's count raised for good (the MQTT link's reconnect loop would then
take every outage for a shutdown; tried, and the broker-outage test caught it).
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_for(aw: Awaitable[T], timeout: float) -> T:
    """`asyncio.wait_for` as Python 3.12 does it, on `asyncio.timeout`: a cancellation always
    wins (the result that came with it is dropped, which is what cancelling means). Raises
    TimeoutError when `timeout` s pass first."""
    async with asyncio.timeout(timeout):
        return await aw


async def cancellable(aw: Awaitable[T]) -> T:
    """Await a library call that may swallow our cancellation (aiomqtt 2's publish and
    subscribe, through 3.11's `asyncio.wait_for`): it runs as a task of its own behind a
    shield, so a cancellation of ours is raised here at once whatever the call does with
    its own; the call is then cancelled too."""
    inner = asyncio.ensure_future(aw)
    try:
        return await asyncio.shield(inner)
    except asyncio.CancelledError:
        inner.cancel()
        raise

"""Helpers for the notify tests: real SQLite files, the real twilio library against the
fake server, and event collection that waits on conditions instead of sleeping."""
from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from forewarn.daemon.notify import OutgoingMessage, Sender, TwilioNotifier
from forewarn.daemon.outbox import Outbox
from forewarn.daemon.store import open_db

PHONE = "+14165550123"
FROM = "+14165550199"


def make_msg(key: str = "R1/S1/window/0", *, to: str = PHONE, channel: str = "sms",
             text: str = "Hi Ana, your delivery is planned today between 10:00 and 12:00.",
             **kw) -> OutgoingMessage:
    route, stop, kind, _ = key.split("/")
    kw.setdefault("created_at", time.time())
    return OutgoingMessage(key=key, route_id=route, stop_id=stop, kind=kind, channel=channel,
                           to=to, text=text, **kw)


class Events:
    """on_event sink; `wait_for` awaits a condition on the collected events."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self._changed = asyncio.Event()

    def __call__(self, ev: dict) -> None:
        self.items.append(ev)
        self._changed.set()

    def of(self, type_: str) -> list[dict]:
        return [e for e in self.items if e["type"] == type_]

    async def wait_for(self, predicate, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    async def wait_type(self, type_: str, n: int = 1, timeout: float = 5.0) -> list[dict]:
        await self.wait_for(lambda ev: len(ev.of(type_)) >= n, timeout)
        return self.of(type_)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "state.db"


@pytest.fixture
def outbox(db_path):
    conn = open_db(db_path)
    yield Outbox(conn)
    conn.close()


@pytest.fixture
def notifier(twilio_server):
    return TwilioNotifier(twilio_server.account_sid, twilio_server.auth_token, from_=FROM,
                          api_base=twilio_server.url, allowed_countries=("CA", "US"), timeout=5.0)


@contextlib.asynccontextmanager
async def running(sender: Sender):
    """Run the sender for the body of the block, then drain it like SIGTERM would."""
    task = asyncio.create_task(sender.run())
    try:
        yield task
    finally:
        await sender.drain(5.0)
        try:
            async with asyncio.timeout(5.0):
                await task
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()


def fast_sender(outbox: Outbox, notifier, events: Events, **kw) -> Sender:
    kw.setdefault("backoff", (0.05, 0.2))
    kw.setdefault("status_interval", 0.05)
    kw.setdefault("idle", 0.5)
    return Sender(outbox, notifier, on_event=events, **kw)

"""The demo's notifier: prints what a customer would receive instead of paying Twilio."""
from __future__ import annotations

import itertools
from typing import TextIO

from ._message import OutgoingMessage, SendResult
from ._phone import mask_phone


class ConsoleNotifier:
    """Prints each message; every message is 'delivered' at once. Remembers what it sent
    so reconciliation behaves as with a real provider within one process."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._n = itertools.count(1)
        self._sent: dict[str, tuple[str, str, str]] = {}  # sid -> (channel, to, text)

    async def send(self, msg: OutgoingMessage) -> SendResult:
        sid = f"console-{next(self._n)}"
        self._sent[sid] = (msg.channel, msg.to, msg.text)
        icon = "call" if msg.channel == "voice" else "sms"
        print(f"[{icon} to {mask_phone(msg.to)}] {msg.text}", file=self._stream, flush=True)
        return SendResult(sid=sid, status="completed" if msg.channel == "voice" else "delivered")

    async def find_existing(self, msg: OutgoingMessage, *, exclude: frozenset[str] = frozenset(),
                            channel: str | None = None) -> str | None:
        channel = channel or msg.channel
        for sid, (ch, to, text) in self._sent.items():
            if sid not in exclude and ch == channel and to == msg.to and (ch == "voice" or text == msg.text):
                return sid
        return None

    async def status(self, sid: str, channel: str) -> str:
        return "completed" if channel == "voice" else "delivered"

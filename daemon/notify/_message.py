"""The message as the alert policy hands it over and the Notifier contract it goes through."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

KINDS = ("window", "delay", "approaching", "delivered", "back_on_time", "sorry_late", "early", "held_up", "attempted")
CHANNELS = ("sms", "voice")

# Provider statuses after which nothing changes any more: polling stops there.
FINAL_SMS = frozenset({"delivered", "undelivered", "failed", "read", "canceled"})
FINAL_CALL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# Final statuses meaning the customer did not get it: a dispatcher may want to call.
NOT_DELIVERED = frozenset({"undelivered", "failed", "canceled", "busy", "no-answer"})


@dataclass(frozen=True)
class OutgoingMessage:
    """One customer message, already rendered. `key` is its identity forever: the outbox
    refuses a second row with the same key, which is what makes "at most once" hold
    across policy re-evaluations, manifest reloads and restarts."""

    key: str            # f"{route_id}/{stop_id}/{kind}/{seq}"
    route_id: str
    stop_id: str
    kind: str
    channel: str        # "sms" | "voice"
    to: str             # E.164
    text: str
    locale: str = "en"
    created_at: float = 0.0
    not_before: float = 0.0
    voice_fallback: bool = False
    # POSIX time after which it is not worth sending: "about 9 min away" that could not go out
    # (no signal, the gateway off) is wrong once those minutes have passed. None = never stale
    not_after: float | None = None

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, not {self.channel!r}")
        if not self.key:
            raise ValueError("key must not be empty")


class DeliveryStatus(str):
    """A provider status that is still a plain str (the Notifier contract) but may carry
    the provider's error code (Twilio 30003 unreachable, 30007 filtered...) for the
    dispatcher's event."""

    error_code: int | None

    def __new__(cls, status: str, error_code: int | None = None) -> "DeliveryStatus":
        obj = super().__new__(cls, status)
        obj.error_code = error_code
        return obj


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str


def is_final(status: str | None, channel: str) -> bool:
    return status in (FINAL_CALL if channel == "voice" else FINAL_SMS)


@runtime_checkable
class Notifier(Protocol):
    """A way to reach customers. Implementations raise NotifyError subclasses only."""

    async def send(self, msg: OutgoingMessage) -> SendResult: ...

    async def find_existing(self, msg: OutgoingMessage, *, exclude: frozenset[str] = frozenset(),
                            channel: str | None = None) -> str | None:
        """SID of a message/call already made for `msg` (same number, since created_at,
        same body for SMS), ignoring SIDs in `exclude` (already owned by other rows).
        `channel` overrides msg.channel (an SMS row that fell back to a call)."""
        ...

    async def status(self, sid: str, channel: str) -> str: ...

"""The delivery loop: the one task that moves outbox rows from pending to sent or failed,
and follows each sent message until the provider reports a final status.

Rules it enforces, because a duplicate SMS or a silently lost one both cost trust:
- the row is `sending` (synced to disk) before the provider is called;
- whenever an attempt may have reached the provider unanswered (crash, dropped
  connection, 5xx), the provider's log is searched before anything is sent again;
- permanent errors are not retried; transient ones back off exponentially with jitter
  up to `max_attempts`; an SMS to a landline becomes one call when the customer allows it.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from forewarn.daemon._wire import iso
from forewarn.devices._aio import wait_for

from ._errors import NetworkError, NotifyError, NotMobile
from ._message import NOT_DELIVERED, Notifier, OutgoingMessage, SendResult, is_final
from ._phone import mask_phone

if TYPE_CHECKING:  # the outbox module imports OutgoingMessage from this package
    from forewarn.daemon.outbox import Outbox, OutboxRow

log = logging.getLogger("forewarn.notify")

_DELIVERED = frozenset({"delivered", "read", "completed"})
LOOKUP_MAX_WAIT_S = 60.0   # between looks in the provider's log for a message that may be out


class Sender:
    """Owner of the outbox rows while the daemon runs; provider calls run in worker
    threads (the twilio library is synchronous), outbox writes in the loop's thread."""

    def __init__(self, outbox: Outbox, notifier: Notifier, *, on_event: Callable[[dict], None],
                 clock: Callable[[], float] = time.time, backoff: tuple[float, float] = (2.0, 300.0),
                 max_attempts: int = 8, poll_status: bool = True, status_interval: float = 30.0,
                 status_give_up: float = 2 * 86400.0, idle: float = 5.0) -> None:
        self._outbox = outbox
        self._notifier = notifier
        self._on_event = on_event
        self._clock = clock
        self._backoff = backoff
        self._max_attempts = max_attempts
        self._poll_status = poll_status
        self._status_interval = status_interval
        self._status_give_up = status_give_up
        self._idle = idle
        self._wake = asyncio.Event()
        self._draining = False
        self._deadline = float("inf")          # monotonic: no send starts after it (drain)
        self._running = False
        self._stopped = asyncio.Event()
        self._rate = 1.0                       # clock seconds per real second (replay runs faster)
        self._rate_ref: tuple[float, float] | None = None
        self._rate_known = False
        self._reconciled = False
        self._inflight: asyncio.Task | None = None
        self._next_poll = 0.0
        self._poll_at: dict[str, float] = {}   # key -> clock time of its next status poll
        self._lookup_fails: dict[str, int] = {}   # key -> provider log lookups failed in a row

    # -- public ------------------------------------------------------------------------
    def kick(self) -> None:
        """Something was enqueued: look now (call from the event loop's thread)."""
        self._wake.set()

    async def reconcile(self) -> None:
        """Rows left in `sending` by a crash may be out already: mark them ambiguous, then
        look each up in the provider's log; found ones become `sent` without a resend.
        A lookup that fails leaves the row ambiguous; run() retries the lookup first."""
        for row in await self._db(self._outbox.in_state, "sending"):
            log.warning("outbox %s was interrupted while sending to %s: checking the provider's log",
                        row.key, mask_phone(row.to))
            await self._db(self._outbox.retry_later, row.key, self._clock(),
                           "interrupted while sending", ambiguous=True)
        for row in await self._db(self._outbox.due, float("inf"), 10_000):
            if row.ambiguous:
                await self._lookup(row)
        self._reconciled = True

    async def run(self) -> None:
        """Until cancelled or drained: send due rows, poll delivery statuses."""
        self._running = True
        self._stopped.clear()
        try:
            if not self._reconciled:
                await self.reconcile()
            while not self._past_deadline():
                self._wake.clear()
                worked = False
                for row in await self._db(self._outbox.due, self._clock()):
                    if self._past_deadline():
                        break
                    self._inflight = asyncio.ensure_future(self._process(row))
                    await asyncio.shield(self._inflight)
                    worked = True
                if self._draining and not worked:
                    break  # everything due is out: done
                if self._poll_status and time.monotonic() >= self._next_poll and not self._draining:
                    self._next_poll = time.monotonic() + self._status_interval
                    self._inflight = asyncio.ensure_future(self._poll_statuses())
                    try:
                        await asyncio.shield(self._inflight)
                    except Exception:  # status is a nicety; sending must go on
                        log.exception("delivery status polling failed")
                if worked:
                    continue
                await self._sleep()
        finally:
            self._running = False
            self._stopped.set()

    async def drain(self, timeout: float) -> None:
        """SIGTERM: keep sending what is due for up to `timeout` (the truck may be switched
        off for the night: a 'delivered' left pending would reach the customer tomorrow),
        start nothing after it, then return. run() returns once drained. A send cut off
        by the deadline stays `sending` and is reconciled at the next start."""
        self._draining = True
        self._deadline = min(self._deadline, time.monotonic() + timeout)
        self._wake.set()
        if not self._running:
            return
        try:
            async with asyncio.timeout(max(0.0, self._deadline - time.monotonic())):
                await self._stopped.wait()
        except TimeoutError:
            log.warning("drain: a send is still in flight at the deadline; it will be reconciled at start")

    def _past_deadline(self) -> bool:
        return time.monotonic() >= self._deadline

    # -- internals ---------------------------------------------------------------------
    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # In the loop's thread on purpose: the connection is shared with components that
        # run BEGIN..COMMIT from the loop (learned history); an outbox write from a worker
        # thread could land inside their transaction and vanish with its ROLLBACK. Each
        # outbox write is one small synced statement, as the tracker's enqueue already is.
        return fn(*args, **kwargs)

    def _clock_rate(self) -> float:
        """How fast the injected clock runs against real time: 1 live, the replay speed in
        the demo. Waits for clock-time deadlines are divided by it."""
        mono, now = time.monotonic(), self._clock()
        if self._rate_ref is not None and mono - self._rate_ref[0] >= 0.5:
            measured = (now - self._rate_ref[1]) / (mono - self._rate_ref[0])
            self._rate = min(max(measured, 1.0), 10_000.0)
            self._rate_ref = (mono, now)
            self._rate_known = True
        elif self._rate_ref is None:
            self._rate_ref = (mono, now)
        return self._rate

    async def _sleep(self) -> None:
        timeout = self._idle
        nxt = await self._db(self._outbox.next_due_at)
        if nxt is not None:
            rate = self._clock_rate()
            timeout = min(timeout, max(0.0, nxt - self._clock()) / rate)
            if not self._rate_known:
                timeout = min(timeout, 0.5)   # until the clock's speed has been measured
        if self._poll_status:
            timeout = min(timeout, max(0.0, self._next_poll - time.monotonic()))
        try:
            await wait_for(self._wake.wait(), max(timeout, 0.001))
        except TimeoutError:
            pass

    def _delay(self, attempts: int) -> float:
        base, cap = self._backoff
        return min(cap, base * 2 ** max(0, attempts - 1)) * random.uniform(0.5, 1.0)

    def _emit(self, type_: str, row: OutboxRow, via: str, *, sid: str | None = None,
              code: int | None = None, reason: str | None = None, **extra: Any) -> None:
        ev = {"type": type_, "key": row.key, "route_id": row.route_id, "stop_id": row.stop_id,
              "kind": row.kind, "channel": via, "to": mask_phone(row.to), "sid": sid, "code": code,
              "reason": reason, "at": iso(self._clock()), **extra}
        level = logging.INFO if type_ in ("alert_sent", "alert_delivered") else logging.WARNING
        log.log(level, "%s %s %s to %s sid=%s code=%s%s", type_, row.key, via, ev["to"], sid, code,
                f" reason={reason}" if reason else "")
        try:
            self._on_event(ev)
        except Exception:  # a broken subscriber must not stop customer messages
            log.exception("on_event handler failed for %s", type_)

    async def _lookup(self, row: OutboxRow) -> bool:
        """For an ambiguous row: True if it turned out to be sent (row now `sent`)."""
        exclude = await self._db(self._outbox.sids)
        try:
            sid = await self._notifier.find_existing(row.msg, exclude=exclude, channel=row.via)
        except NotifyError as e:
            # lookups are not attempts (giving up would lose a message that may not be out), so
            # they back off on their own count: through an hour in a dead zone they ran every
            # second or two, a WARNING each. At most a minute apart: the signal comes back, and
            # a delay message should not wait five more minutes for the next look
            n = self._lookup_fails[row.key] = self._lookup_fails.get(row.key, 0) + 1
            log.log(logging.WARNING if n == 1 else logging.INFO,
                    "lookup of %s failed (%d in a row), will retry before any resend: %s", row.key, n, e.reason)
            wait = min(self._delay(row.attempts + n), LOOKUP_MAX_WAIT_S)
            await self._db(self._outbox.retry_later, row.key, self._clock() + wait,
                           f"lookup failed: {e.reason}", ambiguous=True, code=e.code)
            return True  # not safe to send now
        self._lookup_fails.pop(row.key, None)
        if sid is None:
            await self._db(self._outbox.retry_later, row.key, self._clock(), row.reason or "not found in log")
            return False
        await self._db(self._outbox.mark_sent, row.key, sid, via=row.via)
        self._emit("alert_sent", row, row.via, sid=sid, reconciled=True)
        return True

    async def _process(self, row: OutboxRow) -> None:
        try:
            if row.ambiguous and await self._lookup(row):
                return
            from forewarn.daemon.outbox import OutboxError  # here: outbox imports this package
            stale = row.msg.not_after
            if stale is not None and self._clock() > stale:
                reason = f"not sent by {iso(stale)}, when its news went stale"
                await self._db(self._outbox.expire, row.key, reason)
                log.info("%s to %s: %s", row.key, mask_phone(row.to), reason)
                self._emit("alert_expired", row, row.via, reason=reason)
                return
            try:
                await self._db(self._outbox.mark_sending, row.key)
            except OutboxError:
                log.info("%s was discarded before it could be sent", row.key)
                return
            msg: OutgoingMessage = row.msg if row.via == row.channel else replace(row.msg, channel=row.via)
            try:
                res = await self._notifier.send(msg)
            except NotifyError as e:
                await self._failed(row, e)
                return
            except Exception as e:  # unknown trouble: treat like a lost answer
                await self._failed(row, NetworkError(f"{type(e).__name__} while sending"))
                return
            await self._sent(row, res)
        except Exception:
            log.exception("outbox row %s: unexpected error; it stays for the next pass", row.key)

    async def _sent(self, row: OutboxRow, res: SendResult) -> None:
        await self._db(self._outbox.mark_sent, row.key, res.sid, via=row.via, status=res.status)
        extra = {"fallback_from": row.channel} if row.via != row.channel else {}
        self._emit("alert_sent", row, row.via, sid=res.sid, status=res.status, **extra)
        if is_final(res.status, row.via):
            self._emit_final(row, row.via, res.sid, res.status)

    def _emit_final(self, row: OutboxRow, via: str, sid: str, status: str, code: int | None = None) -> None:
        if status in NOT_DELIVERED:
            self._emit("alert_undelivered", row, via, sid=sid, code=code, reason=status, status=status)
        elif status in _DELIVERED:
            self._emit("alert_delivered", row, via, sid=sid, status=status)

    async def _failed(self, row: OutboxRow, e: NotifyError) -> None:
        attempts = row.attempts + 1
        if isinstance(e, NotMobile) and row.via == "sms" and row.msg.voice_fallback:
            log.info("%s: %s is not a mobile number, calling instead", row.key, mask_phone(row.to))
            await self._db(self._outbox.set_via, row.key, "voice")
            await self._db(self._outbox.retry_later, row.key, self._clock(), e.reason, code=e.code)
            return
        if e.permanent or attempts >= self._max_attempts:
            reason = e.reason if e.permanent else f"gave up after {attempts} attempts: {e.reason}"
            await self._db(self._outbox.mark_failed, row.key, e.code, reason)
            self._emit("alert_failed", row, row.via, code=e.code, reason=reason, status=e.status)
            return
        at = self._clock() + max(self._delay(attempts), min(e.retry_after or 0.0, self._backoff[1]))
        log.info("%s to %s: attempt %d failed (%s), retry in %.1fs", row.key, mask_phone(row.to),
                 attempts, e.reason, at - self._clock())
        await self._db(self._outbox.retry_later, row.key, at, e.reason, ambiguous=e.ambiguous, code=e.code)

    async def _poll_statuses(self) -> None:
        since = self._clock() - self._status_give_up
        for row in await self._db(self._outbox.awaiting_status, since):
            now = self._clock()
            if self._draining:
                return
            if self._poll_at.get(row.key, 0.0) > now:
                continue
            # Some carriers never report delivery: poll a message less often as it ages
            # (every status_interval at first, at most hourly), until status_give_up.
            age = max(0.0, now - (row.sent_at or now))
            self._poll_at[row.key] = now + max(self._status_interval, min(age / 4, 3600.0))
            try:
                status = await self._notifier.status(row.sid, row.via)
            except NotifyError as e:
                log.debug("status of %s unavailable: %s", row.key, e.reason)
                continue
            if is_final(status, row.via):
                self._poll_at.pop(row.key, None)
            if status == row.delivery_status:
                continue
            await self._db(self._outbox.set_delivery_status, row.key, str(status))
            if is_final(status, row.via):
                self._emit_final(row, row.via, row.sid, str(status), getattr(status, "error_code", None))

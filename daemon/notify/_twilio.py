"""Twilio SMS (Messages API) and voice (Calls API with inline TwiML) through the `twilio`
library.

Two seams the library leaves us (FIELD-NOTES, twilio 9.13):
- its base URL is hard-coded, so `api_base` is applied by a TwilioHttpClient subclass
  that rewrites scheme/host of every request; tests point it at a local server;
- the HTTP client must never retry: a retried POST can send a message twice. Retries
  belong to the outbox, which knows whether a lookup must come first.

The library is synchronous (requests); calls run in a worker thread so the event loop
keeps serving GPS and MQTT while Twilio answers.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse
from urllib3.util.retry import Retry

from ._errors import (InvalidNumber, NetworkError, NotifyError, NotMobile, PermanentError,
                      ProviderUnavailable, RateLimited, TransientError, Unsubscribed)
from ._gsm import to_gsm
from ._message import DeliveryStatus, OutgoingMessage, SendResult
from ._phone import mask_phone, mask_phones_in, normalize_phone
from ._templates import extra_text, voice_language

log = logging.getLogger("forewarn.notify.twilio")
T = TypeVar("T")

# How far before created_at a provider record may be dated and still be "ours": clocks of
# the truck and of Twilio disagree a little.
_CLOCK_SKEW = 300.0

_PERMANENT_CODES = {
    21211: InvalidNumber, 21217: InvalidNumber, 21214: InvalidNumber, 21421: InvalidNumber,
    21408: PermanentError, 21612: PermanentError,
    21610: Unsubscribed,
    21614: NotMobile,
}


class RebasedHttpClient(TwilioHttpClient):
    """TwilioHttpClient that sends every request to `api_base` instead of twilio.com and
    never retries at the transport level."""

    def __init__(self, api_base: str, timeout: float) -> None:
        super().__init__(pool_connections=True, timeout=timeout)
        base = urlsplit(api_base.rstrip("/"))
        if base.scheme not in ("http", "https") or not base.netloc:
            raise ValueError("api_base must be an http(s) URL")
        self._base = base
        self._local = threading.local()
        no_retry = Retry(total=0, connect=0, read=False, redirect=0, status=0, other=0)
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, HTTPAdapter(max_retries=no_retry))

    def request(self, method, url, params=None, data=None, headers=None, auth=None,
                timeout=None, allow_redirects=False) -> Response:
        u = urlsplit(url)
        url = urlunsplit((self._base.scheme, self._base.netloc, self._base.path + u.path, u.query, u.fragment))
        self._local.retry_after = None
        resp = super().request(method, url, params=params, data=data, headers=headers, auth=auth,
                               timeout=timeout, allow_redirects=allow_redirects)
        self._local.retry_after = _retry_after(resp.headers)
        return resp

    def last_retry_after(self) -> float | None:
        """Retry-After (seconds) of the last answer seen by the calling thread: the library's
        exception does not carry response headers."""
        return getattr(self._local, "retry_after", None)


def _retry_after(headers) -> float | None:
    try:
        value = (headers or {}).get("Retry-After")
        return min(float(value), 3600.0) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP-date: rare from Twilio; our own backoff applies


def _comparable(body: str) -> str:
    """A body as Twilio may hand it back: smart encoding can replace characters outside
    GSM-7 and whitespace may differ, and a missed match would mean a duplicate SMS."""
    return " ".join(to_gsm(body).split()).casefold()


def _quiet_library_logs() -> None:
    # The library logs each request's URL and parameters at INFO, To= number included.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)


class TwilioNotifier:
    """Notifier over Twilio. Errors come out as NotifyError subclasses with scrubbed text."""

    def __init__(self, account_sid: str, auth_token: str, *, from_: str | None = None,
                 messaging_service_sid: str | None = None, api_base: str = "https://api.twilio.com",
                 allowed_countries: Collection[str] = (), timeout: float = 10.0,
                 confirm_url: str | None = None, voice: str | None = None) -> None:
        if not (from_ or messaging_service_sid):
            raise ValueError("twilio: set from_ or messaging_service_sid")
        self._token = auth_token
        self._from = from_
        self._mss = messaging_service_sid
        self._allowed = tuple(allowed_countries)
        self._confirm_url = confirm_url
        self._voice = voice
        _quiet_library_logs()
        self._http = RebasedHttpClient(api_base, timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)

    # -- helpers -----------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        text = mask_phones_in(text)
        if self._token:
            text = text.replace(self._token, "***")
        return text

    def _classify(self, e: Exception, what: str) -> NotifyError:
        if isinstance(e, (TwilioRestException, TwilioServiceException)):
            status = int(e.status) if e.status is not None else None
            code = int(e.code) if e.code is not None else None
            raw = getattr(e, "msg", None) or getattr(e, "detail", None) or getattr(e, "title", "") or ""
            reason = self._scrub(f"{what}: HTTP {status} code {code}: {raw}")
            if code in _PERMANENT_CODES:
                return _PERMANENT_CODES[code](reason, code=code, status=status)
            if status == 429 or code == 20429:
                return RateLimited(reason, code=code, status=status)
            if status is not None and status >= 500:
                return ProviderUnavailable(reason, code=code, status=status)
            if status in (401, 403, 408, 409):
                # Credentials or a conflict: fixable without changing the message.
                return TransientError(reason, code=code, status=status)
            return PermanentError(reason, code=code, status=status)
        if isinstance(e, requests.exceptions.RequestException):
            return NetworkError(self._scrub(f"{what}: {type(e).__name__}: {e}"))
        if isinstance(e, NotifyError):
            return e
        return NetworkError(self._scrub(f"{what}: {type(e).__name__}: {e}"))

    async def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one library call in a worker thread; failures come out classified, with
        the Retry-After the answer carried (read in the same thread that got it)."""
        def in_thread() -> tuple[T | None, tuple[Exception, float | None] | None]:
            try:
                return fn(*args, **kwargs), None
            except Exception as e:  # everything the library or requests may raise
                return None, (e, self._http.last_retry_after())

        result, failure = await asyncio.to_thread(in_thread)
        if failure is not None:
            err = self._classify(failure[0], what)
            err.retry_after = failure[1]
            raise err from None
        return result

    def twiml(self, msg: OutgoingMessage) -> str:
        """The call's script: the text said in the customer's language (twice: the first
        words of a call are often missed), with an optional press-1 confirmation."""
        lang = voice_language(msg.locale)
        resp = VoiceResponse()
        kw = {"language": lang}
        if self._voice:
            kw["voice"] = self._voice
        if self._confirm_url:
            g = resp.gather(num_digits=1, action=self._confirm_url, method="POST", timeout=6)
            g.say(msg.text, **kw)
            g.pause(length=1)
            g.say(msg.text, **kw)
            g.say(extra_text(msg.locale, "confirm"), **kw)
        else:
            resp.say(msg.text, **kw)
            resp.pause(length=1)
            resp.say(msg.text, **kw)
        return str(resp)

    # -- Notifier ----------------------------------------------------------------------
    async def send(self, msg: OutgoingMessage) -> SendResult:
        try:
            to = normalize_phone(msg.to, self._allowed)
        except ValueError as e:
            raise InvalidNumber(str(e)) from None
        if msg.channel == "voice":
            return await self.call(msg, to)
        kwargs = {"to": to, "body": msg.text}
        if self._mss:
            kwargs["messaging_service_sid"] = self._mss
        else:
            kwargs["from_"] = self._from
        m = await self._call("sms", self._client.messages.create, **kwargs)
        log.debug("twilio sms %s to %s accepted: %s", msg.key, mask_phone(to), m.sid)
        return SendResult(sid=m.sid, status=m.status or "queued")

    async def call(self, msg: OutgoingMessage, to: str | None = None) -> SendResult:
        """Place a voice call saying msg.text (also the fallback for landlines)."""
        if not self._from:
            raise PermanentError("voice: no 'from' number configured (a messaging service cannot call)")
        if to is None:
            try:
                to = normalize_phone(msg.to, self._allowed)
            except ValueError as e:
                raise InvalidNumber(str(e)) from None
        c = await self._call("voice", self._client.calls.create, to=to, from_=self._from, twiml=self.twiml(msg))
        return SendResult(sid=c.sid, status=c.status or "queued")

    async def find_existing(self, msg: OutgoingMessage, *, exclude: frozenset[str] = frozenset(),
                            channel: str | None = None) -> str | None:
        channel = channel or msg.channel
        try:
            to = normalize_phone(msg.to)   # Twilio's log holds the E.164 form send() used
        except ValueError:
            return None                    # never sendable, so never sent
        since = msg.created_at - _CLOCK_SKEW
        # Twilio filters DateSent/StartTime by day (YYYY-MM-DD); the exact cut is ours.
        day_s = datetime.fromtimestamp(since, tz=timezone.utc).date().isoformat()
        if channel == "voice":
            recs = await self._call("voice lookup", self._client.calls.list, to=to,
                                    start_time_after=day_s, limit=100)
            # Not yet started calls have no start_time and fall outside that filter.
            recs += await self._call("voice lookup", self._client.calls.list, to=to, limit=20)
            match = lambda r: True  # a call's script is not in the log; time and number decide
        else:
            recs = await self._call("sms lookup", self._client.messages.list, to=to,
                                    date_sent_after=day_s, limit=100)
            # Still queued messages have no date_sent and fall outside that filter.
            recs += await self._call("sms lookup", self._client.messages.list, to=to, limit=20)
            want = _comparable(msg.text)
            match = lambda r: _comparable(r.body or "") == want
        found = sorted(
            (r for r in recs if r.sid not in exclude and match(r)
             and r.date_created is not None and r.date_created.timestamp() >= since),
            key=lambda r: r.date_created)
        return found[0].sid if found else None

    async def status(self, sid: str, channel: str) -> str:
        if channel == "voice":
            r = await self._call("voice status", lambda: self._client.calls(sid).fetch())
        else:
            r = await self._call("sms status", lambda: self._client.messages(sid).fetch())
        code = getattr(r, "error_code", None)
        try:
            code = int(code) if code not in (None, "") else None
        except (TypeError, ValueError):
            code = None
        return DeliveryStatus(str(r.status or "unknown"), code)

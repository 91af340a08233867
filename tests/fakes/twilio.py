"""A local stand-in for Twilio's REST API (2010-04-01 Messages and Calls), for the real
`twilio` library to talk HTTP to.

It answers like Twilio does (201 JSON with a SID, legacy error bodies with `code`,
`message`, `status`, list pages with `messages`/`calls` plus paging keys, RFC 2822 dates,
no `date_sent`/`start_time` before a message is sent / a call starts), records every
request, and can be scripted to fail: an HTTP status with a Twilio code, or a dropped
connection, optionally after the record was created (the request "reached Twilio").

Each status fetch advances a record one step along `progression[resource]`, so a poller
sees queued -> sent -> delivered without anyone sleeping.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "tok-" + "5ec7e7" * 4

_ERRORS = {
    21211: "The 'To' number {to} is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient {to}",
    21614: "'To' number {to} is not a valid mobile number",
    20429: "Too Many Requests",
}


@dataclass
class Recorded:
    method: str
    resource: str            # "Messages" | "Calls"
    sid: str | None          # for fetches
    query: dict[str, str]
    form: dict[str, str]
    authorized: bool
    at: float = field(default_factory=time.monotonic)


@dataclass
class Failure:
    status: int
    code: int | None = None
    message: str | None = None
    drop: bool = False       # close the connection without an answer
    create: bool = False     # create the record first (the request reached Twilio)
    hang: bool = False       # hold the request open until release_hung(), then drop it
    retry_after: int | None = None   # a Retry-After header on the error answer
    body: dict | str | None = None   # the error body as is (e.g. RFC 9457 problem details)


@dataclass
class FakeTwilio:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    records: dict[str, dict[str, dict]] = field(default_factory=lambda: {"Messages": {}, "Calls": {}})
    progression: dict[str, list[str]] = field(default_factory=lambda: {
        "Messages": ["queued", "sent", "delivered"],
        "Calls": ["queued", "ringing", "in-progress", "completed"]})

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._script: dict[tuple[str, str], deque[Failure]] = {}
        self._release = threading.Event()

    # -- scripting ---------------------------------------------------------------------
    def fail_next(self, resource: str = "Messages", status: int = 500, *, code: int | None = None,
                  message: str | None = None, drop: bool = False, create: bool = False,
                  hang: bool = False, retry_after: int | None = None, body: dict | str | None = None,
                  method: str = "POST", times: int = 1) -> None:
        """Script the next `times` requests of `method` on `resource` to fail."""
        with self._lock:
            q = self._script.setdefault((method, resource), deque())
            q.extend(Failure(status, code, message, drop, create, hang, retry_after, body) for _ in range(times))

    def release_hung(self) -> None:
        """Let requests held by a `hang` failure end (by dropping their connection)."""
        self._release.set()

    def add_record(self, resource: str, **fields: object) -> dict:
        """A record made by someone else (another row, an earlier run) before the test."""
        with self._lock:
            return self._create(resource, {k: str(v) for k, v in fields.items()})

    # -- inspection --------------------------------------------------------------------
    def posts(self, resource: str = "Messages") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.resource == resource]

    def created(self, resource: str = "Messages") -> list[dict]:
        with self._lock:
            return list(self.records[resource].values())

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        """Block until predicate(self) holds (checked on every request)."""
        with self._lock:
            return self._lock.wait_for(lambda: predicate(self), timeout)

    # -- behaviour ---------------------------------------------------------------------
    def _create(self, resource: str, form: dict[str, str]) -> dict:
        now = datetime.now(timezone.utc)
        prefix = "SM" if resource == "Messages" else "CA"
        sid = prefix + secrets.token_hex(16)
        rec = {
            "sid": sid, "account_sid": self.account_sid, "to": form.get("To"),
            "from": form.get("From"), "status": self.progression[resource][0],
            "date_created": format_datetime(now, usegmt=True),
            "date_updated": format_datetime(now, usegmt=True),
            "direction": "outbound-api", "price": None, "error_code": None, "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/{resource}/{sid}.json",
            "_step": 0, "_created": now,
        }
        if resource == "Messages":
            rec.update(body=form.get("Body"), date_sent=None, num_segments="1",
                       messaging_service_sid=form.get("MessagingServiceSid"))
        else:
            rec.update(start_time=None, end_time=None, duration=None, _twiml=form.get("Twiml"))
        self.records[resource][sid] = rec
        return rec

    def _advance(self, resource: str, rec: dict) -> None:
        steps = self.progression[resource]
        rec["_step"] = min(rec["_step"] + 1, len(steps) - 1)
        rec["status"] = steps[rec["_step"]]
        stamp = format_datetime(datetime.now(timezone.utc), usegmt=True)
        if resource == "Messages" and rec["status"] != "queued" and rec["date_sent"] is None:
            rec["date_sent"] = stamp
        if resource == "Calls" and rec["status"] not in ("queued",) and rec["start_time"] is None:
            rec["start_time"] = stamp
        if resource == "Messages" and rec["status"] in ("undelivered", "failed"):
            rec["error_code"] = 30003
            rec["error_message"] = "Unreachable destination handset"

    @staticmethod
    def public(rec: dict) -> dict:
        return {k: v for k, v in rec.items() if not k.startswith("_")}

    def _list(self, resource: str, query: dict[str, str]) -> list[dict]:
        out = [r for r in self.records[resource].values() if not query.get("To") or r["to"] == query["To"]]
        for fld, param in (("date_sent", "DateSent>"), ("start_time", "StartTime>")):
            if param in query:
                since = query[param][:10]  # Twilio filters these by date (YYYY-MM-DD)
                out = [r for r in out if r.get(fld) and
                       datetime.strptime(r[fld], "%a, %d %b %Y %H:%M:%S %Z").date().isoformat() >= since]
        out.sort(key=lambda r: r["_created"], reverse=True)
        return out[: int(query.get("PageSize", 50))]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _reply(self, status: int, body: dict | str, headers: dict[str, str] | None = None) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> tuple[str | None, str | None, dict[str, str]]:
        u = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(u.query).items()}
        prefix = f"/2010-04-01/Accounts/{self.server.fake.account_sid}/"
        if not u.path.startswith(prefix) or not u.path.endswith(".json"):
            return None, None, query
        parts = u.path[len(prefix):-5].split("/")
        if parts[0] not in ("Messages", "Calls") or len(parts) > 2:
            return None, None, query
        return parts[0], (parts[1] if len(parts) == 2 else None), query

    def _authorized(self) -> bool:
        import base64
        want = base64.b64encode(f"{self.server.fake.account_sid}:{self.server.fake.auth_token}".encode()).decode()
        return self.headers.get("Authorization") == f"Basic {want}"

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        form = {k: v[-1] for k, v in parse_qs(raw).items()}
        resource, sid, query = self._route()
        if self._respond(fake, method, resource, sid, query, form) == "hang":
            fake._release.wait(timeout=30)
            self.close_connection = True

    def _respond(self, fake: FakeTwilio, method: str, resource: str | None, sid: str | None,
                 query: dict[str, str], form: dict[str, str]) -> str | None:
        with fake._lock:
            fake.requests.append(Recorded(method, resource or self.path, sid, query, form, self._authorized()))
            fake._lock.notify_all()
            if resource is None:
                return self._reply(404, {"code": 20404, "message": "Not found", "status": 404})
            if not self._authorized():
                return self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
            q = fake._script.get((method, resource))
            failure = q.popleft() if q else None
            if failure and failure.create and method == "POST":
                fake._create(resource, form)
            if failure and failure.hang:
                return "hang"
            if failure and failure.drop:
                self.close_connection = True
                return None
            if failure:
                msg = failure.message or _ERRORS.get(failure.code or 0, "Internal error").format(to=form.get("To"))
                if failure.body is not None:
                    return self._reply(failure.status, failure.body)
                return self._reply(failure.status, {"code": failure.code or failure.status, "message": msg,
                                                    "more_info": f"https://www.twilio.com/docs/errors/{failure.code}",
                                                    "status": failure.status},
                                   {"Retry-After": str(failure.retry_after)} if failure.retry_after else None)
            if method == "POST" and sid is None:
                need = ["To", "Body"] if resource == "Messages" else ["To", "From"]
                missing = [k for k in need if not form.get(k)]
                if resource == "Messages" and not (form.get("From") or form.get("MessagingServiceSid")):
                    missing.append("From")
                if resource == "Calls" and not (form.get("Twiml") or form.get("Url")):
                    missing.append("Url")
                if missing:
                    return self._reply(400, {"code": 21604, "message": f"A '{missing[0]}' is required",
                                             "status": 400})
                return self._reply(201, fake.public(fake._create(resource, form)))
            if method == "GET" and sid is not None:
                rec = fake.records[resource].get(sid)
                if rec is None:
                    return self._reply(404, {"code": 20404, "message": f"{sid} not found", "status": 404})
                fake._advance(resource, rec)
                return self._reply(200, fake.public(rec))
            if method == "GET":
                items = [fake.public(r) for r in fake._list(resource, query)]
                key = resource.lower()
                path = urlsplit(self.path).path
                return self._reply(200, {key: items, "first_page_uri": path, "next_page_uri": None,
                                         "previous_page_uri": None, "page": 0,
                                         "page_size": int(query.get("PageSize", 50)),
                                         "start": 0, "end": max(0, len(items) - 1), "uri": path})
            return self._reply(405, {"code": 20004, "message": "Method not allowed", "status": 405})

    def do_POST(self) -> None:
        self._handle("POST")

    def do_GET(self) -> None:
        self._handle("GET")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeTwilio


@pytest.fixture
def twilio_server():
    """A running FakeTwilio on 127.0.0.1:<free port>; `.url` is the api_base to use."""
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.fake = FakeTwilio()
    srv.fake.url = f"http://127.0.0.1:{srv.server_address[1]}"
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-twilio", daemon=True)
    t.start()
    try:
        yield srv.fake
    finally:
        srv.fake.release_hung()
        srv.shutdown()
        srv.server_close()
        t.join(timeout=5)

"""The dispatcher link: the only module that imports aiomqtt (pinned 2.x; 3.0 changes the API).

Outgoing traffic has two kinds:
- *retained state* (`status`, `position`, `eta`): only the newest value matters, so we keep
  one per topic in memory and (re)publish it whenever we are connected and it changed;
- *events*: every one matters, in order. They go to a SQLite queue first (durable across
  broker outages and restarts), and are deleted only after the broker acknowledged them
  (QoS 1). Each carries `seq`, the queue row id, so a subscriber can drop the rare duplicate
  that a crash between PUBACK and DELETE can cause (at-least-once, like QoS 1 itself).

On (re)connect the retained state goes first, newest values, then the event backlog: a
dispatcher wants where the truck is now before the history (traccar-client-android #178).
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
import ssl
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

import aiomqtt

from forewarn.config import read_secret
from forewarn.config._settings import MqttSettings
from forewarn.devices._aio import cancellable, wait_for

from ._wire import dumps, iso

log = logging.getLogger("forewarn.mqtt")

RETAINED_QOS = {"status": 1, "position": 0, "eta": 1}
INBOUND = {"route": 1, "nmea": 0, "cmd": 1}
EVENTS_PER_ROUND = 10   # events published between two refreshes of the retained state, at least
MAX_INBOUND_BYTES = 1_000_000
#: On SIGTERM, a broker that acknowledged nothing for this long is not going to take the
#: rest: the events stay queued on disk instead of eating systemd's stop timeout.
FLUSH_STALL_S = 2.0

Handler = Callable[[str, bytes], Awaitable[None]]


@dataclass
class LinkStats:
    connected: bool = False
    connects: int = 0
    published_events: int = 0
    published_retained: int = 0
    last_error: str = ""


class EventQueue:
    """Durable FIFO of event payloads (table `mqtt_queue`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        conn.execute("CREATE TABLE IF NOT EXISTS mqtt_queue (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                     " topic TEXT NOT NULL, payload TEXT NOT NULL, created REAL NOT NULL)")

    def put(self, topic: str, payload: dict) -> None:
        self._conn.execute("INSERT INTO mqtt_queue (topic, payload, created) VALUES (?,?,?)",
                           (topic, dumps(payload), time.time()))

    def head(self, n: int = 100) -> list[tuple[int, str, str]]:
        return self._conn.execute("SELECT seq, topic, payload FROM mqtt_queue ORDER BY seq LIMIT ?", (n,)).fetchall()

    def ack(self, seq: int) -> None:
        self._conn.execute("DELETE FROM mqtt_queue WHERE seq=?", (seq,))

    def depth(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM mqtt_queue").fetchone()[0]


class MqttLink:
    def __init__(self, settings: MqttSettings, vehicle_id: str, conn: sqlite3.Connection, *,
                 on_message: Handler | None = None, backoff: tuple[float, float] = (1.0, 60.0),
                 nmea_topic: str | None = None, on_reject: Callable[[dict], None] | None = None) -> None:
        self.s = settings
        self.on_reject = on_reject
        self.base = f"{settings.prefix}/{vehicle_id}"
        # inbound topic -> what it carries; the NMEA topic may be another device's (gps.topic)
        self.inbound = {self.topic("route"): "route", self.topic("cmd"): "cmd", nmea_topic or self.topic("nmea"): "nmea"}
        self.queue = EventQueue(conn)
        self.on_message = on_message
        self.backoff = backoff
        self.stats = LinkStats()
        self._retained: dict[str, bytes] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._status: dict = {}
        self.heartbeat = time.monotonic()

    # -- what the rest of the daemon calls -------------------------------------------------
    def topic(self, suffix: str) -> str:
        return f"{self.base}/{suffix}"

    def set_retained(self, suffix: str, payload: dict) -> None:
        self._retained[suffix] = dumps(payload).encode()
        self._dirty.add(suffix)
        self._wake.set()

    def event(self, payload: dict) -> None:
        self.queue.put(self.topic("events"), payload)
        self._wake.set()

    def queue_depth(self) -> int:
        return self.queue.depth()

    # -- the connection loop ---------------------------------------------------------------
    def _client(self) -> aiomqtt.Client:
        # MQTT has no password without a user name (3.1.1, 3.1.2.9): a broker without auth needs none
        password = read_secret(self.s.password_file, "mqtt-password", "MQTT password") if self.s.username else None
        tls = None
        if self.s.tls:
            tls = ssl.create_default_context(cafile=self.s.ca_file)
            if self.s.cert_file:
                tls.load_cert_chain(self.s.cert_file, self.s.key_file)
        will = aiomqtt.Will(self.topic("status"), json.dumps({"ts": iso(time.time()), "state": "offline"}), qos=1, retain=True)
        return aiomqtt.Client(
            self.s.host, self.s.port, username=self.s.username, password=password,
            identifier=self.s.client_id or f"forewarn-{self.base.replace('/', '-')}",
            clean_session=False, will=will, keepalive=self.s.keepalive_s, tls_context=tls, timeout=10)

    async def run(self) -> None:
        """Connect, serve, reconnect with exponential backoff and jitter; until cancelled."""
        delay = self.backoff[0]
        while True:
            try:
                async with self._client() as client:
                    self.stats.connected = True
                    self.stats.connects += 1
                    delay = self.backoff[0]
                    log.info("mqtt connected to %s:%s", self.s.host, self.s.port)
                    for topic, kind in self.inbound.items():
                        await cancellable(client.subscribe(topic, qos=INBOUND[kind]))
                    self._dirty.update(self._retained)   # refresh retained state first
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._reader(client), name="mqtt-reader")
                        tg.create_task(self._writer(client), name="mqtt-writer")
            except* aiomqtt.MqttError as eg:
                self.stats.last_error = str(eg.exceptions[0])
                log.warning("mqtt link down: %s; retrying in %.0f s", self.stats.last_error, delay)
            except* OSError as eg:  # TLS files, DNS
                self.stats.last_error = str(eg.exceptions[0])
                log.warning("mqtt cannot connect: %s; retrying in %.0f s", self.stats.last_error, delay)
            self.stats.connected = False
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.backoff[1])

    async def _reader(self, client: aiomqtt.Client) -> None:
        async for msg in client.messages:
            self.heartbeat = time.monotonic()
            suffix = self.inbound.get(str(msg.topic))
            if suffix is None:
                continue
            payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload or "").encode()
            if len(payload) > MAX_INBOUND_BYTES:
                log.warning("mqtt: %s payload of %d bytes refused (limit %d)", suffix, len(payload), MAX_INBOUND_BYTES)
                self._rejected(suffix, f"payload of {len(payload)} bytes exceeds {MAX_INBOUND_BYTES}")
                continue
            if self.on_message is not None and payload:
                try:
                    await self.on_message(suffix, payload)
                except Exception as e:  # one bad message must not take the link down
                    log.exception("handler for %s failed", suffix)
                    self._rejected(suffix, f"internal error: {e}")

    def _rejected(self, suffix: str, reason: str) -> None:
        """An inbound message we refused: told through the daemon's own `emit` when it gave
        us one (so the event carries vehicle and route and is logged like every other)."""
        ev = {"type": "input_rejected", "topic": suffix, "reason": reason}
        if self.on_reject is not None:
            self.on_reject(ev)
        else:
            self.event({"ts": iso(time.time()), **ev})

    async def _writer(self, client: aiomqtt.Client) -> None:
        while True:
            self.heartbeat = time.monotonic()
            self._wake.clear()
            for suffix in [s for s in ("status", "position", "eta") if s in self._dirty] + \
                    [s for s in self._dirty if s not in RETAINED_QOS]:
                self._dirty.discard(suffix)
                await cancellable(client.publish(self.topic(suffix), self._retained[suffix],
                                                 qos=RETAINED_QOS.get(suffix, 1), retain=True))
                self.stats.published_retained += 1
            for i, (seq, topic, payload) in enumerate(self.queue.head(50)):
                # fresher retained state jumps the backlog, but only after a few events each round:
                # a truck updating its eta on every fix must not starve the events (it did)
                if self._dirty and i >= EVENTS_PER_ROUND:
                    break
                doc = json.loads(payload)
                doc["seq"] = seq
                await cancellable(client.publish(topic, dumps(doc), qos=1, timeout=30))
                self.queue.ack(seq)
                self.stats.published_events += 1
            if self._dirty or self.queue.head(1):
                continue
            try:
                await wait_for(self._wake.wait(), 5.0)
            except TimeoutError:
                pass

    async def flush(self, timeout: float) -> bool:
        """SIGTERM: give the writer up to `timeout` s to publish what is pending. True if all went."""
        end = time.monotonic() + timeout
        progress, moved_at = (-1, -1), time.monotonic()
        while (self._dirty or self.queue.depth()) and self.stats.connected and time.monotonic() < end:
            now = time.monotonic()
            done = (self.stats.published_events, self.stats.published_retained)
            if done != progress:
                progress, moved_at = done, now
            elif now - moved_at > FLUSH_STALL_S:   # connected on paper, silent in fact (a hung broker)
                log.warning("mqtt: the broker acknowledged nothing for %.0f s; not waiting for it any longer",
                            FLUSH_STALL_S)
                break
            self._wake.set()
            await asyncio.sleep(0.05)
        return not self._dirty and not self.queue.depth()

"""A dispatcher on the broker: a paho-mqtt client in its own thread that records every
message, so a test can wait for a condition on what arrived (no sleeping).

`persistent=True` uses a persistent session (clean_session=False, QoS 1): the broker keeps
QoS 1 messages for it while it is away, and across a broker restart (the broker fixture
runs with persistence on), as a real dispatcher backend would.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt


@dataclass
class Msg:
    topic: str          # the suffix after <prefix>/<vehicle>/
    payload: bytes
    retain: bool
    at: float = field(default_factory=time.monotonic)

    def json(self) -> dict:
        return json.loads(self.payload)


class Watcher:
    def __init__(self, host: str, port: int, base: str, *, suffixes: tuple[str, ...] = ("status", "position", "eta", "events"),
                 persistent: bool = False) -> None:
        self.base = base
        self.suffixes = suffixes
        self.msgs: list[Msg] = []
        self.subscribes = 0
        self._cond = threading.Condition()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}",
                                   clean_session=not persistent)
        self._client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._client.connect(host, port, keepalive=10)
        self._client.loop_start()
        if not self.wait(lambda w: w.subscribes > 0, 10):
            raise TimeoutError("watcher could not connect")

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            return
        # subscribe every time: harmless when the session was kept, needed when it was not
        client.subscribe([(f"{self.base}/{s}", 1) for s in self.suffixes])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._cond:
            self.subscribes += 1     # counted once subscribed: only then is the watcher listening
            self._cond.notify_all()

    def _on_message(self, client, userdata, message) -> None:
        with self._cond:
            self.msgs.append(Msg(message.topic.rsplit("/", 1)[-1], message.payload, bool(message.retain)))
            self._cond.notify_all()

    def wait(self, predicate: Callable[["Watcher"], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    # views ------------------------------------------------------------------------------
    def of(self, suffix: str) -> list[Msg]:
        with self._cond:
            return [m for m in self.msgs if m.topic == suffix]

    def events(self, type_: str | None = None) -> list[dict]:
        evs = [m.json() for m in self.of("events")]
        return [e for e in evs if type_ is None or e.get("type") == type_]

    def last(self, suffix: str) -> dict | None:
        ms = self.of(suffix)
        return ms[-1].json() if ms else None

    def publish(self, suffix: str, payload: bytes | str, *, qos: int = 1, retain: bool = False) -> None:
        info = self._client.publish(f"{self.base}/{suffix}", payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=10)

    def connected(self) -> bool:
        return self._client.is_connected()

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


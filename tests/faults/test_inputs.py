"""Garbage on the daemon's inbound MQTT topics mid-route (issue 6): malformed JSON, JSON of
the wrong shape, bytes that are not text, payloads over 1 MB, on `route`, `cmd` and `nmea`.

Each bad `route`/`cmd` message gets one clear `events` message (route_rejected /
input_rejected with a reason), oversized ones are refused before parsing, the daemon keeps
running the route it has, and the customers get exactly what an undisturbed run sends.
"""
from __future__ import annotations

import json
import random

from tests.daemon.helpers import manifest

from ._drive import write_rest
from ._route import config_with_drive, finish_route, sent_keys, sent_twice
from ._watch import Watcher

SPEED = 40.0
BIG = 1_100_000


def _garbage() -> list[tuple[str, bytes, str, str]]:
    """(topic, payload, expected event type, a word its reason must contain)."""
    rng = random.Random(7)
    wrong_shape = manifest(route_id=5, stops="S1")
    bad_phone = manifest()
    bad_phone["stops"][0]["customer"]["phone"] = "12345"
    return [
        ("route", b'{"route_id": "R1", "stops": [', "route_rejected", "JSON"),
        ("route", b"[1, 2, 3]", "route_rejected", "object"),
        ("route", json.dumps(wrong_shape).encode(), "route_rejected", "route_id"),
        ("route", json.dumps(bad_phone).encode(), "route_rejected", "phone"),
        ("route", b"\xff\xfe\x00garbage", "route_rejected", "JSON"),    # a UTF-16 BOM: decoded, then not JSON
        ("route", b'{"route_id": "\xc3\x28"}', "route_rejected", "UTF-8"),
        ("route", b'{"route_id": "' + b"x" * BIG + b'"}', "input_rejected", "exceeds"),
        ("cmd", b"{oops", "input_rejected", "JSON"),
        ("cmd", b'["complete", "S1"]', "input_rejected", "object"),
        ("cmd", b'{"cmd": "complete"}', "input_rejected", "stop_id"),
        ("cmd", b'{"cmd": "launch", "stop_id": "S1"}', "input_rejected", "launch"),
        ("cmd", b'{"cmd": "complete", "stop_id": "NOPE"}', "input_rejected", "unknown stop"),
        ("cmd", b'{"cmd": "skip", "stop_id": ["S1"]}', "input_rejected", "unknown stop"),
        ("cmd", bytes(rng.getrandbits(8) for _ in range(300)), "input_rejected", ""),
        ("cmd", b"{" * BIG, "input_rejected", "exceeds"),
        ("nmea", b"$" * BIG, "input_rejected", "exceeds"),
    ]


def test_garbage_on_inbound_topics_is_rejected_clearly_and_the_route_goes_on(
        tmp_path, twilio_server, broker, unique_prefix, spawn, reference_sent):
    config = config_with_drive(tmp_path, twilio_server, broker, unique_prefix, SPEED)
    epochs = write_rest(tmp_path / "drive.nmea", None)
    state = tmp_path / "state.db"
    watcher = Watcher(broker.host, broker.port, f"{unique_prefix}/demo-truck", suffixes=("position", "eta", "events"))
    try:
        daemon = spawn(config)
        assert watcher.wait(lambda w: w.events("alert_sent") and w.of("eta"), 60), daemon.output()[-3000:]
        route_id = watcher.events("route_loaded")[0]["route_id"]

        cases = _garbage()
        # not-JSON nmea lines are the GPS decoder's business (counted there); with a file
        # source they are ignored, and must not disturb anything either
        noise = [bytes(random.Random(i).getrandbits(8) for _ in range(500)) for i in range(5)]
        for topic, payload, _, _ in cases:
            watcher.publish(topic, payload, retain=(topic == "route"))
        for payload in noise:
            watcher.publish("nmea", payload, qos=0)

        def rejections(w: Watcher) -> list[dict]:
            return [e for e in w.events() if e["type"] in ("route_rejected", "input_rejected")]

        assert watcher.wait(lambda w: len(rejections(w)) >= len(cases), 30), \
            (rejections(watcher), daemon.output()[-3000:])
        got = rejections(watcher)
        assert len(got) == len(cases), got
        for (topic, _, type_, word), ev in zip(cases, got):   # QoS 1 from one publisher: in order
            reason = json.dumps(ev.get("reason"))
            assert ev["type"] == type_ and word in reason and len(reason) > 10, (topic, ev)
            assert ev["vehicle"] == "demo-truck" and ev["route_id"] == route_id, ev
            assert ev.get("topic", topic) == topic or ev.get("origin") == "mqtt", ev

        assert daemon.alive()
        assert not watcher.events("route_updated") and len(watcher.events("route_loaded")) == 1
        finish_route(daemon, watcher, state, epochs)
        assert watcher.last("eta")["route_id"] == route_id
    finally:
        watcher.close()

    assert not sent_twice(twilio_server), sent_twice(twilio_server)
    got_keys = sent_keys(state)
    assert got_keys == reference_sent, f"missing {sorted(reference_sent - got_keys)}, extra {sorted(got_keys - reference_sent)}"

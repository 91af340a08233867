"""Garbage on the daemon's inbound MQTT topics mid-route (issue 6): malformed JSON, JSON of
the wrong shape, bytes that are not text, payloads over 1 MB, on `route`, `cmd` and `nmea`.

Each bad `route`/`cmd` message gets one clear `events` message (route_rejected /
input_rejected with a reason), oversized ones are refused before parsing, the daemon keeps
running the route it has, and the customers get exactly what an undisturbed run sends.
"""
from __future__ import annotations

import json
import random
import threading

from forewarn.daemon._runtime import STATUS_EVERY_S   # counters alone republish `status` this often
from tests.daemon.helpers import manifest

from ._drive import write_rest
from ._route import assert_same_messages, config_with_drive, finish_route
from ._watch import Watcher


SPEED = 40.0
BIG = 1_100_000


def _garbage() -> list[tuple[str, bytes, str, str]]:
    """(topic, payload, expected event type, a word its reason must contain)."""
    rng = random.Random(7)
    wrong_shape = manifest(route_id=5, stops="S1")
    backwards = manifest()          # (a bad phone no longer refuses a route: tests/daemon/test_route_files.py)
    backwards["stops"][0]["window"] = {"start": "2009-07-07T15:00:00Z", "end": "2009-07-07T14:00:00Z"}
    return [
        ("route", b'{"route_id": "R1", "stops": [', "route_rejected", "JSON"),
        ("route", b"[1, 2, 3]", "route_rejected", "object"),
        ("route", json.dumps(wrong_shape).encode(), "route_rejected", "route_id"),
        ("route", json.dumps(backwards).encode(), "route_rejected", "before it starts"),
        ("route", b"\xff\xfe\x00garbage", "route_rejected", "JSON"),    # a UTF-16 BOM: decoded, then not JSON
        ("route", b'{"route_id": "\xc3\x28"}', "route_rejected", "UTF-8"),
        ("route", b'{"route_id": "' + b"x" * BIG + b'"}', "input_rejected", "exceeds"),
        ("cmd", b"{oops", "input_rejected", "JSON"),
        ("cmd", b'["complete", "S1"]', "input_rejected", "object"),
        ("cmd", b'{"cmd": "complete"}', "input_rejected", "stop_id"),
        ("cmd", b'{"cmd": "launch", "stop_id": "S1"}', "input_rejected", "launch"),
        ("cmd", b'{"cmd": "complete", "stop_id": "NOPE"}', "input_rejected", "unknown stop"),
        ("cmd", b'{"cmd": "skip", "stop_id": ["S1"]}', "input_rejected", "unknown stop"),
        ("cmd", b'{"cmd": "reorder"}', "input_rejected", "order"),
        ("cmd", b'{"cmd": "reorder", "order": ["S3", "S9"]}', "input_rejected", "unknown stop 'S9'"),
        ("cmd", bytes(rng.getrandbits(8) for _ in range(300)), "input_rejected", ""),
        ("cmd", b"{" * BIG, "input_rejected", "exceeds"),
        ("nmea", b"$" * BIG, "input_rejected", "exceeds"),
    ]


def test_garbage_on_inbound_topics_is_rejected_clearly_and_the_route_goes_on(
        tmp_path, twilio_server, broker, unique_prefix, spawn, reference_outbox):
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

    assert_same_messages(state, twilio_server, reference_outbox)


def test_garbage_in_an_mqtt_nmea_feed_is_counted_and_fixes_go_on(tmp_path, broker, unique_prefix, spawn):
    """gps.source = "mqtt": the NMEA feed itself carries the noise. Noise is the GPS decoder's
    to count (a message per bad line on `events` would flood dispatchers at GPS rate); only
    an oversized message is refused with an event."""
    from ._drive import epoch_time, epochs, ts
    from tests.daemon.helpers import DRIVE

    config = config_with_drive(tmp_path, None, broker, unique_prefix, SPEED)
    text = config.read_text()
    config.write_text(text.replace(f'source = "file"\npath = "{tmp_path / "drive.nmea"}"\nspeed = {SPEED}',
                                   'source = "mqtt"'))
    assert 'source = "mqtt"' in config.read_text() and str(DRIVE) not in config.read_text()
    drive = epochs()
    rng = random.Random(11)
    watcher = Watcher(broker.host, broker.port, f"{unique_prefix}/demo-truck", suffixes=("status", "position", "events"))

    rhythm = threading.Event()   # never set: its wait() is the receiver's pace between epochs

    def feed(part: list[list[str]]) -> None:
        for epoch in part:
            watcher.publish("nmea", "".join(ln + "\r\n" for ln in epoch), qos=0)
            rhythm.wait(0.01)

    def reached(w: Watcher, t) -> bool:
        """A position at least as new as `t` was published (positions coalesce: newest wins)."""
        return any(ts(m.json()["ts"]) >= t for m in w.of("position"))

    def gps(w: Watcher) -> dict:
        st = w.last("status")
        return st["gps"] if st else {}

    try:
        daemon = spawn(config)
        assert daemon.wait_for_line("mqtt connected", 60), daemon.output()[-3000:]
        feed(drive[:40])
        assert watcher.wait(lambda w: reached(w, epoch_time(drive[39])), 30), daemon.output()[-3000:]
        counted_before = sum(gps(watcher).get("counters", {}).values())
        noise = [bytes(rng.getrandbits(8) for _ in range(4000)) for _ in range(20)] + [
            b"\xff\xfe" * 300, b"{\"not\": \"nmea\"}", b"$GPGGA,,,,,,,,*00\r\n" * 50,
            b"$GPRMC," + b"9" * 900_000, b"\r\n\r\n\r\n"]
        for payload in noise:
            watcher.publish("nmea", payload, qos=0)
        watcher.publish("nmea", b"$" * BIG, qos=0)
        feed(drive[40:120])
        assert watcher.wait(lambda w: reached(w, epoch_time(drive[119])), 30), daemon.output()[-3000:]
        assert watcher.wait(lambda w: sum(gps(w).get("counters", {}).values()) >= counted_before + 50, STATUS_EVERY_S + 10), gps(watcher)
        refused = watcher.events("input_rejected")
        assert len(refused) == 1 and refused[0]["topic"] == "nmea" and "exceeds" in refused[0]["reason"], refused
        assert daemon.alive()
        code, took = daemon.terminate()
        assert code == 0 and took < 10, daemon.output()[-3000:]
    finally:
        watcher.close()

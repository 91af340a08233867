"""`{"cmd": "reorder", "order": [...]}`: the driver's order of the remaining stops, kept across
restarts and re-delivered manifests, dropped when dispatch publishes a new plan."""
from __future__ import annotations

import asyncio
import json

from forewarn.config import load_settings, parse_manifest
from forewarn.daemon._runtime import Daemon, Hooks

from .helpers import ROUTE, manifest, write_config


class Truck:
    """A daemon on the demo route, driven through its inbound `cmd` handler (what MQTT calls)."""

    def __init__(self, config) -> None:
        self.events: list[dict] = []
        self.d = Daemon(load_settings(config), config_path=str(config), hooks=Hooks(on_event=self.events.append))
        self.d.scan_routes_dir()

    def cmd(self, doc: dict) -> None:
        asyncio.run(self.d._on_mqtt("cmd", json.dumps(doc).encode()))

    def order(self) -> list[str]:
        return [s.id for s in self.d.tracker.route.stops]

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]

    def close(self) -> None:
        self.d.state.close()


def test_reorder_is_driven_kept_over_a_restart_and_dropped_by_a_new_plan(tmp_path):
    config = write_config(tmp_path)
    t = Truck(config)
    assert t.order() == ["S1", "S2", "S3"] and t.d.tracker.route.geometry
    t.cmd({"cmd": "reorder", "order": ["S3", "S1", "S2"]})
    assert t.order() == ["S3", "S1", "S2"]
    assert t.d.tracker.route.geometry is None, "the planned roads follow the old order"
    assert t.of("route_updated")[-1]["origin"] == "cmd"
    t.cmd({"cmd": "reorder", "order": ["S2", "S3", "S1"]})          # the driver changes it again
    t.cmd({"cmd": "reorder", "order": ["S3", "S1", "S2"]})          # ... and back
    t.d.accept_route(parse_manifest(ROUTE.read_bytes()), "mqtt")   # retained manifest re-delivered
    assert t.order() == ["S3", "S1", "S2"] and len(t.of("route_updated")) == 3, t.of("route_updated")
    t.close()

    again = Truck(config)                                   # restart: the driver's order holds
    assert again.order() == ["S3", "S1", "S2"]
    again.d.accept_route(parse_manifest(ROUTE.read_bytes()), "mqtt")   # retained manifest re-delivered
    assert again.order() == ["S3", "S1", "S2"] and not again.of("route_updated")
    replanned = manifest(detour_factor=1.4)                 # dispatch publishes a new plan
    again.d.accept_route(parse_manifest(json.dumps(replanned)), "mqtt")
    assert again.order() == ["S1", "S2", "S3"]
    again.close()
    assert Truck(config).order() == ["S1", "S2", "S3"], "the new plan's order survives a restart too"


def test_a_bad_reorder_names_each_problem_and_changes_nothing(tmp_path):
    t = Truck(write_config(tmp_path))
    t.cmd({"cmd": "complete", "stop_id": "S1"})
    bad = [
        ({"cmd": "reorder"}, "missing field 'order'"),
        ({"cmd": "reorder", "order": "S3,S2"}, "list of stop ids"),
        ({"cmd": "reorder", "order": ["S3", "S9", "S2"]}, "unknown stop 'S9'"),
        ({"cmd": "reorder", "order": ["S3", "S3", "S2"]}, "'S3' appears more than once"),
        ({"cmd": "reorder", "order": ["S3", "S2", "S1"]}, "'S1' is already completed"),
        ({"cmd": "reorder", "order": ["S3"]}, "leaves out S2"),
    ]
    for doc, words in bad:
        t.cmd(doc)
        assert words in t.of("input_rejected")[-1]["reason"], (doc, t.of("input_rejected")[-1])
    assert len(t.of("input_rejected")) == len(bad)
    assert t.order() == ["S1", "S2", "S3"] and not t.of("route_updated")
    t.cmd({"cmd": "reorder", "order": ["S3", "S2"]})        # only the stops not yet done
    assert t.order() == ["S1", "S3", "S2"]
    t.close()


def test_a_reorder_over_mqtt_reaches_the_dispatchers_eta(tmp_path, broker, unique_prefix):
    """The whole path: `cmd` on a real broker -> the daemon -> `route_updated` and an `eta` in the new order.

    A replay at 60x refreshes the retained eta many times a second: the events must still flow
    meanwhile (they once waited behind the eta until the drive was over)."""
    import aiomqtt

    from forewarn.daemon._runtime import Daemon, Hooks

    config = write_config(tmp_path, broker_url=broker.url, prefix=unique_prefix, speed=60.0)
    base = f"{unique_prefix}/demo-truck"
    order = ["S2", "S1", "S3"]

    async def scenario() -> tuple[dict, list]:
        async with aiomqtt.Client(broker.host, broker.port) as dispatch:
            await dispatch.subscribe(f"{base}/events", qos=1)
            await dispatch.subscribe(f"{base}/eta", qos=1)
            daemon = Daemon(load_settings(config), hooks=Hooks(exit_at_eof=True))
            run = asyncio.create_task(daemon.run())
            updated, reordered_eta = None, None
            async with asyncio.timeout(60):
                async for msg in dispatch.messages:
                    doc = json.loads(msg.payload)
                    if msg.topic.matches(f"{base}/events") and doc["type"] == "route_loaded":
                        await dispatch.publish(f"{base}/cmd", json.dumps({"cmd": "reorder", "order": order}), qos=1)
                    elif msg.topic.matches(f"{base}/events") and doc["type"] == "route_updated":
                        updated = doc
                    elif msg.topic.matches(f"{base}/eta") and updated is not None:
                        reordered_eta = doc
                        break
            await asyncio.wait_for(run, timeout=60)
            return updated, [s["id"] for s in reordered_eta["stops"]]

    updated, eta_ids = asyncio.run(scenario())
    assert updated["origin"] == "cmd" and "+order-" in updated["version"]
    assert eta_ids == [s for s in order if s in eta_ids] and eta_ids, eta_ids


def test_messages_of_stops_that_leave_the_plan_are_withdrawn(tmp_path):
    """Held overnight (quiet hours), the window messages wait in the outbox; by morning dispatch
    has moved S2 to another truck, then given this one another route. Neither the moved
    customer nor the old route's customers hear from this truck."""
    from datetime import datetime, timezone
    t = Truck(write_config(tmp_path))
    night = datetime(2009, 7, 7, 4, 0, tzinfo=timezone.utc).timestamp()    # 06:00 in Ratingen
    t.d._publish_step(t.d.tracker.start(night), None)
    held = {r.stop_id: r.state for r in t.d.outbox.rows("DEMO-2009-07-07-RATINGEN")}
    assert held == {"S1": "pending", "S2": "pending", "S3": "pending"}, held
    doc = manifest()
    doc["stops"] = [s for s in doc["stops"] if s["id"] != "S2"]
    t.d.accept_route(parse_manifest(json.dumps(doc)), "mqtt")
    states = {r.stop_id: r.state for r in t.d.outbox.rows("DEMO-2009-07-07-RATINGEN")}
    assert states == {"S1": "pending", "S2": "discarded", "S3": "pending"}, states
    assert [(e["stop_id"], e["messages"]) for e in t.of("withdrawn")] == [("S2", 1)]
    t.d.accept_route(parse_manifest(json.dumps(manifest(route_id="OTHER-ROUTE"))), "mqtt")
    states = {r.stop_id: r.state for r in t.d.outbox.rows("DEMO-2009-07-07-RATINGEN")}
    assert set(states.values()) == {"discarded"}, states
    assert [(e["route_id"], e["stop_id"]) for e in t.of("withdrawn")][1:] == [
        ("DEMO-2009-07-07-RATINGEN", "S1"), ("DEMO-2009-07-07-RATINGEN", "S3")]
    t.close()


def test_a_newer_promise_replaces_one_still_waiting(tmp_path):
    """At 06:00 the window message is held for quiet hours; at 06:30 dispatch moves the window
    (a new manifest): at 08:00 the customer must hear the new window only, not both."""
    from datetime import datetime, timezone
    t = Truck(write_config(tmp_path))
    night = datetime(2009, 7, 7, 4, 0, tzinfo=timezone.utc).timestamp()    # 06:00 in Ratingen
    t.d._publish_step(t.d.tracker.start(night), None)
    doc = manifest()
    doc["stops"][0]["window"] = {"start": "2009-07-07T15:00:00Z", "end": "2009-07-07T15:30:00Z"}
    t.d.accept_route(parse_manifest(json.dumps(doc)), "mqtt")
    t.d._publish_step(t.d.tracker.start(night + 1800), None)
    rows = {r.key: r.state for r in t.d.outbox.rows("DEMO-2009-07-07-RATINGEN") if r.stop_id == "S1"}
    assert rows == {"DEMO-2009-07-07-RATINGEN/S1/window/1": "discarded",
                    "DEMO-2009-07-07-RATINGEN/S1/window/2": "pending"}, rows
    assert "17:00 and 17:30" in t.d.outbox.get("DEMO-2009-07-07-RATINGEN/S1/window/2").msg.text
    assert [(e["stop_id"], e["reason"]) for e in t.of("withdrawn")] == [("S1", "superseded by window")]
    t.close()


def test_fail_at_the_door_sends_attempted_not_delivered_and_late_fail_withdraws_a_held_delivered(tmp_path):
    """Nobody in: the driver taps "not delivered" at the door; or only after driving off, when
    GPS already said "delivered" and that message still waits for the morning."""
    from datetime import datetime, timezone
    t = Truck(write_config(tmp_path))
    rid = "DEMO-2009-07-07-RATINGEN"
    t.d._publish_step(t.d.tracker.start(datetime(2009, 7, 7, 14, 40, tzinfo=timezone.utc).timestamp()), None)
    t.cmd({"cmd": "fail", "stop_id": "S1"})
    s1 = {r.kind: r.state for r in t.d.outbox.rows(rid) if r.stop_id == "S1"}
    assert s1.get("attempted") == "pending" and "delivered" not in s1, s1
    assert t.d.tracker.record("S1").state.value == "failed"
    assert "could not" in t.d.outbox.get(f"{rid}/S1/attempted/1").msg.text
    # S2: completed by GPS at 21:30 local (the 'delivered' held for quiet hours), failed afterwards
    evening = datetime(2009, 7, 7, 19, 30, tzinfo=timezone.utc).timestamp()
    t.d._publish_step(t.d.tracker.command("complete", "S2", evening), None)
    assert t.d.outbox.get(f"{rid}/S2/delivered/1").state == "pending"
    t.cmd({"cmd": "fail", "stop_id": "S2"})
    assert t.d.outbox.get(f"{rid}/S2/delivered/1").state == "discarded"
    assert t.d.outbox.get(f"{rid}/S2/attempted/1") is not None and t.d.tracker.record("S2").state.value == "failed"
    t.cmd({"cmd": "fail", "stop_id": "S2"})                     # twice: ignored, said once
    assert [e["reason"] for e in t.of("cmd_ignored")] == ["stop already failed"]
    t.close()

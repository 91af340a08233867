"""What happens to messages when the plan changes under them, and the driver's "not delivered":
held messages of stops that leave the plan are withdrawn, a newer promise replaces a waiting
one, and `fail` sends "attempted" instead of "delivered"."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from forewarn.config import parse_manifest

from .helpers import Truck, manifest, write_config


def test_messages_of_stops_that_leave_the_plan_are_withdrawn(tmp_path):
    """Held overnight (quiet hours), the window messages wait in the outbox; by morning dispatch
    has moved S2 to another truck, then given this one another route. Neither the moved
    customer nor the old route's customers hear from this truck."""
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

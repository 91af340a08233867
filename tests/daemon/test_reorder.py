"""`{"cmd": "reorder", "order": [...]}`: the driver's order of the remaining stops, kept across
restarts and re-delivered manifests, dropped when dispatch publishes a new plan."""
from __future__ import annotations

import asyncio
import json

from forewarn.config import load_settings, parse_manifest
from forewarn.daemon._runtime import Daemon, Hooks

from .helpers import ROUTE, Truck, manifest, write_config


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

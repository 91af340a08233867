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

"""Route manifests in the routes dir: a broken file is refused loudly and the running route goes on;
a new version of the same route keeps stop states and messages already sent; a bad phone costs
its customer's messages, not the route."""
from __future__ import annotations

import asyncio
import json

from forewarn.config import load_settings
from forewarn.daemon._runtime import Daemon, Hooks
from forewarn.daemon.cli import main

from .helpers import manifest, write_config


def test_bad_file_is_rejected_and_new_version_keeps_state(tmp_path):
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "route.json").write_text(json.dumps(manifest()))
    config = write_config(tmp_path, speed=30, routes_dir=routes)
    events: list[dict] = []
    got = {k: asyncio.Event() for k in ("route_rejected", "route_updated", "arrival")}

    def on_event(ev: dict) -> None:
        events.append(ev)
        if ev["type"] in got:
            got[ev["type"]].set()

    async def scenario() -> Daemon:
        daemon = Daemon(load_settings(config), hooks=Hooks(on_event=on_event))
        run = asyncio.create_task(daemon.run())
        await asyncio.wait_for(got["arrival"].wait(), timeout=60)        # S1 reached: messages went out
        before = [r.key for r in daemon.outbox.rows()]
        (routes / "zz-broken.json").write_text('{"route_id": "X", "stops": [')
        await asyncio.wait_for(got["route_rejected"].wait(), timeout=30)
        assert daemon.tracker.route.route_id == "DEMO-2009-07-07-RATINGEN"
        doc = manifest()
        doc["stops"][2]["service_s"] = 90                                 # dispatch edits a stop
        (routes / "route.json").write_text(json.dumps(doc))
        await asyncio.wait_for(got["route_updated"].wait(), timeout=30)
        assert daemon.tracker.record("S1").state.value in ("arrived", "completed")
        assert daemon.tracker.route.stop("S3").service_s == 90
        after_update = [r.key for r in daemon.outbox.rows()]
        assert after_update[:len(before)] == before
        assert not [k for k in after_update if k.endswith("/window/2")], "same windows: not announced again"
        daemon.stop()
        await asyncio.wait_for(run, timeout=15)
        return daemon

    asyncio.run(scenario())
    rejected = next(e for e in events if e["type"] == "route_rejected")
    assert "zz-broken.json" in rejected["origin"] and "not valid JSON" in rejected["reason"][0]


def test_one_bad_phone_leaves_that_customer_untold_not_the_whole_route(tmp_path):
    """A mistyped number used to reject the manifest: the truck ran with no route and no
    customer of the day heard anything. Now that one stop is kept without messages, dispatch
    is told which, and `forewarn check` still calls it a problem."""
    routes = tmp_path / "routes"
    routes.mkdir()
    doc = manifest()
    doc["stops"][1]["customer"]["phone"] = "+49 151 1234"              # too short: not a valid number
    (routes / "route.json").write_text(json.dumps(doc))
    events: list[dict] = []
    d = Daemon(load_settings(write_config(tmp_path, routes_dir=routes)), hooks=Hooks(on_event=events.append))
    d.scan_routes_dir()
    assert d.tracker is not None and [s.id for s in d.tracker.route.stops] == ["S1", "S2", "S3"]
    s2 = d.tracker.route.stop("S2").customer
    assert s2.channel == "none" and s2.name == doc["stops"][1]["customer"]["name"]
    assert d.tracker.route.stop("S1").customer.channel == "sms"
    [ev] = [e for e in events if e["type"] == "customer_unreachable"]
    assert ev["field"] == "stops[1].customer.phone" and "not a valid number" in ev["reason"]
    assert not [e for e in events if e["type"] == "route_rejected"]
    d.state.close()
    assert main(["check", str(routes / "route.json")]) == 2

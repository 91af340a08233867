"""Route manifests in the routes dir: a broken file is refused loudly and the running route goes on;
a new version of the same route keeps stop states and messages already sent."""
from __future__ import annotations

import asyncio
import json

from forewarn.config import load_settings
from forewarn.daemon._runtime import Daemon, Hooks

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

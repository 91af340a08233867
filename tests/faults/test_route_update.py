"""Dispatch changes the route on the retained `route` topic mid-route (issue 6).

An invalid manifest is refused with an `events` message saying why, and the route in hand
runs on. A valid new version of the same route (a stop's service time changed) replaces it
without losing stop states or repeating any customer message.
"""
from __future__ import annotations

import json
from collections import Counter

from tests.daemon.helpers import manifest

from ._drive import write_rest
from ._route import config_with_drive, finish_route, outbox, sent_twice
from ._watch import Watcher

SPEED = 40.0
DONE = ("completed", "skipped", "failed")


def _stop_states(w: Watcher) -> dict[str, str]:
    """Each stop's latest state, from the `stop_state` events."""
    states: dict[str, str] = {}
    for e in w.events("stop_state"):
        states[e["stop_id"]] = e["state"]
    return states


def test_invalid_update_is_refused_and_a_new_version_keeps_states_and_messages(
        tmp_path, twilio_server, broker, unique_prefix, spawn):
    config = config_with_drive(tmp_path, twilio_server, broker, unique_prefix, SPEED)
    epochs = write_rest(tmp_path / "drive.nmea", None)
    state = tmp_path / "state.db"
    watcher = Watcher(broker.host, broker.port, f"{unique_prefix}/demo-truck", suffixes=("position", "eta", "events"))
    try:
        daemon = spawn(config)
        # S1 done, its customer told: the update comes with history to keep
        assert watcher.wait(lambda w: _stop_states(w).get("S1") == "completed"
                            and any(e["stop_id"] == "S1" and e["kind"] == "delivered" for e in w.events("alert_sent")),
                            60), daemon.output()[-3000:]
        loaded = watcher.events("route_loaded")[0]
        sent_before = set(outbox(state))

        broken = manifest()
        broken["stops"][1]["window"] = {"start": "2009-07-07T15:00:00Z", "end": "2009-07-07T14:00:00Z"}
        watcher.publish("route", json.dumps(broken), retain=True)
        assert watcher.wait(lambda w: w.events("route_rejected"), 15), daemon.output()[-3000:]
        why = json.dumps(watcher.events("route_rejected")[0]["reason"])
        assert "stops.1.window" in why or "window" in why, why

        changed = manifest()
        changed["stops"][1]["service_s"] = 90
        watcher.publish("route", json.dumps(changed), retain=True)
        assert watcher.wait(lambda w: w.events("route_updated"), 15), daemon.output()[-3000:]
        updated = watcher.events("route_updated")[0]
        assert updated["route_id"] == loaded["route_id"] and updated["version"] != loaded["version"]
        n_states = len(watcher.events("stop_state"))

        finish_route(daemon, watcher, state, epochs)
    finally:
        watcher.close()

    # stop states survived: nothing that was done went back to an earlier state
    after = watcher.events("stop_state")[n_states:]
    assert not [e for e in after if e["stop_id"] == "S1"], after
    assert not [e for e in after if e["state"] in ("planned", "notified")], after
    # messages survived: every one sent before is still there, none repeated, none re-decided
    rows = outbox(state)
    assert sent_before <= set(rows)
    assert not sent_twice(twilio_server), sent_twice(twilio_server)
    per_kind = Counter(k.rsplit("/", 1)[0] for k in rows)
    assert all(n == 1 for n in per_kind.values()), per_kind
    assert {"window", "delivered"} <= {k.split("/")[2] for k in rows if k.split("/")[1] == "S2"}, rows
    assert loaded["route_id"] == json.loads(json.dumps(changed))["route_id"]

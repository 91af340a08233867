"""The whole pipeline in one process: a real recorded drive -> estimator -> policy -> outbox ->
the real twilio library -> a local HTTP server; and the same run seen by an MQTT subscriber."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime

import aiomqtt

from forewarn.config import load_settings
from forewarn.daemon._runtime import Daemon, Hooks

from .helpers import LATE_STOP, WINDOW_END, write_config


def _ts(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def run_daemon(config, **hooks) -> tuple[Daemon, list]:
    """Run the daemon until the recorded drive ends; return it and the outbox rows it left."""
    settings = load_settings(config)
    rows: list = []
    daemon = Daemon(settings, config_path=str(config),
                    hooks=Hooks(exit_at_eof=True, on_stop=lambda d: rows.extend(d.outbox.rows()), **hooks))
    asyncio.run(asyncio.wait_for(daemon.run(), timeout=120))
    return daemon, rows


def test_delay_sms_goes_out_before_the_window_ends_and_nothing_twice(tmp_path, twilio_server):
    # 60x: the warning goes out ~4.5 min of log time before the window ends, 4.5 s of wall time:
    # room for a loaded CI machine (at 300x that margin was under a second and flaked)
    _, rows = run_daemon(write_config(tmp_path, twilio=twilio_server, speed=60))
    sms = [(r.form["To"], r.form["Body"]) for r in twilio_server.posts("Messages")]
    calls = [(r.form["To"], r.form.get("Twiml", "")) for r in twilio_server.posts("Calls")]

    late_phone = "+4915112345673"
    delays = [body for to, body in sms if to == late_phone and "retard" in body]
    assert len(delays) == 1, sms
    delay_row = next(r for r in rows if r.stop_id == LATE_STOP and r.kind == "delay")
    assert delay_row.state == "sent" and delay_row.sid
    assert delay_row.sent_at < _ts(WINDOW_END[LATE_STOP]), "the warning must precede the broken promise"

    # no customer hears the same thing twice, and on-time stops get no delay message
    assert len(sms) == len(set(sms)) and len(calls) == len(set(calls))
    kinds = {(r.stop_id, r.kind) for r in rows}
    assert ("S1", "delay") not in kinds and ("S2", "delay") not in kinds
    assert {("S1", "window"), ("S1", "delivered"), ("S2", "delivered")} <= kinds
    assert ("S3", "window") not in kinds, "S3's window is lost from the start: the delay message comes first"
    # S2's customer asked for calls: Twilio's Calls API got TwiML with <Say>
    assert calls and all(to == "+4915112345672" and "<Say" in twiml for to, twiml in calls)
    # at 300x a stop can be finished before its "approaching" went out: then it is discarded, never late-sent
    assert all(r.state == "sent" or (r.state == "discarded" and r.kind == "approaching") for r in rows), \
        [(r.key, r.state, r.reason) for r in rows]


def test_dispatcher_sees_retained_eta_and_every_event(tmp_path, twilio_server, broker, unique_prefix):
    config = write_config(tmp_path, twilio=twilio_server, broker_url=broker.url, prefix=unique_prefix)
    base = f"{unique_prefix}/demo-truck"
    seen: list[dict] = []

    async def scenario() -> tuple[dict, dict]:
        async with aiomqtt.Client(broker.host, broker.port) as sub:
            await sub.subscribe(f"{base}/events", qos=1)

            async def collect() -> None:
                async for msg in sub.messages:
                    seen.append(json.loads(msg.payload))

            task = asyncio.create_task(collect())
            settings = load_settings(config)
            daemon = Daemon(settings, hooks=Hooks(exit_at_eof=True))
            await asyncio.wait_for(daemon.run(), timeout=120)
            # events are flushed before the daemon exits; QoS 1 delivery to us may lag a little
            async with asyncio.timeout(10):
                while not any(e["type"] == "arrival" and e["stop_id"] == LATE_STOP for e in seen):
                    await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        # a dashboard that connects late still gets the newest ETA and status
        retained: dict[str, dict] = {}
        async with aiomqtt.Client(broker.host, broker.port) as late:
            await late.subscribe(f"{base}/eta", qos=1)
            await late.subscribe(f"{base}/status", qos=1)
            async with asyncio.timeout(10):
                async for msg in late.messages:
                    assert msg.retain
                    retained[str(msg.topic).rsplit("/", 1)[1]] = json.loads(msg.payload)
                    if len(retained) == 2:
                        break
        return retained["eta"], retained["status"]

    eta, status = asyncio.run(scenario())
    assert eta["route_id"] == "DEMO-2009-07-07-RATINGEN" and "ts" in eta
    assert status["state"] == "offline"     # said on clean shutdown, before the Will would have
    types = [e["type"] for e in seen]
    assert "route_loaded" in types
    assert any(e["type"] == "risk" and e["stop_id"] == LATE_STOP and e["risk"] == "late" for e in seen)
    sent = [e for e in seen if e["type"] == "alert_sent"]
    assert any(e["kind"] == "delay" and e["stop_id"] == LATE_STOP for e in sent)
    assert all("*" in e["to"] for e in sent), "phone numbers are masked on MQTT"
    # the dispatcher heard about the risk before the customer was told
    i_risk = next(i for i, e in enumerate(seen) if e["type"] == "risk" and e["stop_id"] == LATE_STOP)
    i_delay = next(i for i, e in enumerate(seen) if e["type"] == "alert_sent" and e["kind"] == "delay")
    assert i_risk < i_delay
    seqs = [e["seq"] for e in seen]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), "events arrive in order, none twice"


def test_out_of_order_fixes_do_not_rewind_the_route(tmp_path):
    """A forwarder's buffer replayed after an outage: older fixes are ignored, not re-judged."""
    from forewarn.config import AlertSettings
    from forewarn.daemon._tracker import RouteTracker
    from forewarn.daemon.outbox import Outbox
    from forewarn.daemon.store import open_db
    from forewarn.config import load_route
    from forewarn.devices import iter_fixes

    from .helpers import DRIVE, ROUTE
    conn = open_db(":memory:")
    tracker = RouteTracker(load_route(ROUTE), AlertSettings(arrival_dwell_s=8, sustain_s=20), Outbox(conn), conn=conn)
    fixes = list(iter_fixes(DRIVE.open("rb")))
    events = [e for f in fixes for e in tracker.on_fix(f).events]
    replayed = [e for f in fixes[100:300] for e in tracker.on_fix(f).events]
    assert replayed == [] and tracker.out_of_order == 200
    assert sum(1 for e in events if e["type"] == "arrival") == 3


def test_one_multipath_jump_does_not_deliver(tmp_path):
    """After arrival, a single fix 300 m away (multipath, a poor first fix) is not a departure."""
    from dataclasses import replace

    from forewarn.config import AlertSettings, load_route
    from forewarn.daemon._tracker import RouteTracker
    from forewarn.daemon.outbox import Outbox
    from forewarn.daemon.store import open_db
    from forewarn.devices import iter_fixes

    from .helpers import DRIVE, ROUTE
    conn = open_db(":memory:")
    tracker = RouteTracker(load_route(ROUTE), AlertSettings(arrival_dwell_s=8, sustain_s=20), Outbox(conn), conn=conn)
    fixes = list(iter_fixes(DRIVE.open("rb")))
    departures: list[tuple[str, str]] = []
    jumped = False
    for f in fixes:
        if not jumped and tracker.record("S1").state.value == "arrived":
            f = replace(f, lat=f.lat + 0.0027)     # ~300 m north, one fix
            jumped = True
        for e in tracker.on_fix(f).events:
            if e["type"] == "departure":
                departures.append((e["stop_id"], e["at"]))
    assert jumped
    assert departures[0] == ("S1", "2009-07-07T14:45:42Z"), departures   # the real departure, not the jump

"""`forewarn watch` shows what a dispatcher needs from the retained topics."""
from __future__ import annotations

import asyncio
import io
import json

import aiomqtt

from forewarn.daemon._watch import watch


def test_watch_shows_vehicle_eta_risk_and_last_alert(broker, unique_prefix):
    base = f"{unique_prefix}/truck-9"
    status = {"ts": "2026-11-23T15:00:00Z", "state": "online", "gps": {"state": "3D"}, "queue_depth": 0}
    eta = {"ts": "2026-11-23T15:00:00Z", "route_id": "R-9", "stops": [
        {"id": "S4", "eta": "2026-11-23T15:40:00Z", "p10": "2026-11-23T15:30:00Z", "p90": "2026-11-23T15:55:00Z",
         "p_late": 0.82, "risk": "late", "state": "en_route"}]}

    async def scenario() -> str:
        async with aiomqtt.Client(broker.host, broker.port) as pub:
            await pub.publish(f"{base}/status", json.dumps(status), qos=1, retain=True)
            await pub.publish(f"{base}/eta", json.dumps(eta), qos=1, retain=True)
            # retained here only so the watcher gets it whenever it subscribes (the daemon does not retain events)
            await pub.publish(f"{base}/events", json.dumps({"type": "alert_sent", "kind": "delay", "stop_id": "S4",
                                                            "to": "+1416555**23", "ts": "2026-11-23T15:01:00Z"}),
                              qos=1, retain=True)
            out = io.StringIO()
            await watch(broker.url, unique_prefix, once=True, timeout=1.5, out=out)
            return out.getvalue()

    text = asyncio.run(scenario())
    assert "truck-9  [online]  route R-9  gps 3D" in text
    assert "S4" in text and "P(late) 0.82" in text and "late" in text
    assert "last alert: alert_sent delay stop S4 to +1416555**23" in text


def test_watch_reports_an_unreachable_broker(capsys):
    from forewarn.daemon._watch import run_watch
    from tests.fakes.mosquitto import free_port
    assert run_watch(f"mqtt://127.0.0.1:{free_port()}", "fleet", once=True, timeout=0.5) == 1
    assert "cannot reach" in capsys.readouterr().err

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
    eta = {"ts": "2026-11-23T15:00:00Z", "route_id": "R-9", "timezone": "America/Toronto", "stops": [
        {"id": "S4", "eta": "2026-11-23T15:40:00Z", "p10": "2026-11-23T15:30:00Z", "p90": "2026-11-23T15:55:00Z",
         "window": {"start": "2026-11-23T15:00:00Z", "end": "2026-11-23T15:30:00Z"},
         "p_late": 0.82, "risk": "late", "state": "en_route"}]}
    position = {"ts": "2026-11-23T15:00:00Z", "lat": 43.65, "lon": -79.38, "speed": 12.5, "off_route": False}

    async def scenario() -> str:
        async with aiomqtt.Client(broker.host, broker.port) as pub:
            await pub.publish(f"{base}/status", json.dumps(status), qos=1, retain=True)
            await pub.publish(f"{base}/eta", json.dumps(eta), qos=1, retain=True)
            await pub.publish(f"{base}/position", json.dumps(position), qos=0, retain=True)
            # retained here only so the watcher gets it whenever it subscribes (the daemon does not retain events)
            await pub.publish(f"{base}/events", json.dumps({"type": "alert_sent", "kind": "delay", "stop_id": "S4",
                                                            "to": "+1416555**23", "ts": "2026-11-23T15:01:00Z"}),
                              qos=1, retain=True)
            out = io.StringIO()
            await watch(broker.url, unique_prefix, once=True, timeout=1.5, out=out)
            return out.getvalue()

    text = asyncio.run(scenario())
    assert "truck-9  [online]  route R-9  gps 3D  queue 0  times America/Toronto" in text
    # the route's clock (15:40Z is 10:40 in Toronto), beside the window the customer was promised
    assert "S4         eta 10:40  p10-p90 10:30-10:55  window 10:00-10:30  P(late) 0.82  late" in text
    assert "at 43.65, -79.38  45 km/h" in text
    assert "last alert: alert_sent delay stop S4 to +1416555**23 at 10:01:00" in text


def test_watch_without_a_zone_shows_utc_and_survives_odd_payloads():
    from forewarn.daemon._watch import VehicleView, render
    v = VehicleView(eta={"route_id": "R", "stops": [{"id": "S1", "eta": "not a time", "p10": None,
                                                     "p90": "2026-11-23T15:55:00Z", "p_late": 0.1}]},
                    position={"lat": 1.0, "lon": 2.0, "speed": None},
                    status={"state": "online", "gps": {"state": "no-device", "detail": "open /dev/ttyUSB0: No such file"}})
    text = render({"t": v})
    assert "gps no-device (open /dev/ttyUSB0: No such file)" in text
    assert "times UTC" in text and "S1         eta -  p10-p90 --15:55  window --" in text and "at 1.0, 2.0  -" in text


def test_watch_reports_an_unreachable_broker(capsys):
    from forewarn.daemon._watch import run_watch
    from tests.fakes.mosquitto import free_port
    assert run_watch(f"mqtt://127.0.0.1:{free_port()}", "fleet", once=True, timeout=0.5) == 1
    assert "cannot reach" in capsys.readouterr().err

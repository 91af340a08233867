"""GPS from MQTT: raw NMEA lines, many per message, on <prefix>/<vehicle>/nmea (gps.source = "mqtt")."""
from __future__ import annotations

import asyncio
import json
import sqlite3

import aiomqtt
import pytest

from forewarn.config import load_settings
from forewarn.config._settings import MqttSettings
from forewarn.daemon._mqtt import MqttLink
from forewarn.daemon._runtime import Daemon, Hooks

from .helpers import DRIVE, write_config


def test_nmea_over_mqtt_drives_the_tracker(tmp_path, broker, unique_prefix):
    config = write_config(tmp_path, broker_url=broker.url, prefix=unique_prefix)
    text = config.read_text().replace('source = "file"', 'source = "mqtt"')
    config.write_text(text)
    base = f"{unique_prefix}/demo-truck"
    lines = DRIVE.read_bytes().splitlines()
    seen: list[dict] = []
    arrived = asyncio.Event()

    def on_event(ev: dict) -> None:
        seen.append(ev)
        if ev["type"] == "arrival" and ev["stop_id"] == "S1":
            arrived.set()

    async def scenario() -> None:
        daemon = Daemon(load_settings(config), hooks=Hooks(on_event=on_event))
        run = asyncio.create_task(daemon.run())
        async with asyncio.timeout(60):
            while not (daemon.link and daemon.link.stats.connected):
                await asyncio.sleep(0.05)
        async with aiomqtt.Client(broker.host, broker.port) as pub:
            for i in range(0, len(lines), 40):      # ~6 epochs per message, as a forwarder would batch
                await pub.publish(f"{base}/nmea", b"\r\n".join(lines[i:i + 40]), qos=1)
                if arrived.is_set():
                    break
                await asyncio.sleep(0)
            await asyncio.wait_for(arrived.wait(), timeout=60)
        daemon.stop()
        assert await asyncio.wait_for(run, timeout=15) == 0

    asyncio.run(scenario())
    assert any(e["type"] == "arrival" and e["stop_id"] == "S1" for e in seen)
    assert json.dumps(seen)  # every event is plain JSON


def test_the_mqtt_writer_stops_when_cancelled_as_it_is_woken() -> None:
    """Shutdown both wakes the writer (the final status) and cancels it; on Python 3.11 the
    writer used to lose that cancellation now and then and loop on, so the daemon never
    returned from SIGTERM (caught as a hung TLS test, 1 run in ~15)."""
    async def main() -> None:
        link = MqttLink(MqttSettings(), "v1", sqlite3.connect(":memory:"))
        task = asyncio.create_task(link._writer(None))   # nothing to publish: no client needed
        await asyncio.sleep(0.05)             # waiting to be woken
        link._wake.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 2.0)

    asyncio.run(main())


def test_the_mqtt_writer_stops_when_a_publish_ate_its_cancellation() -> None:
    """aiomqtt 2 waits for each publish's ack with `asyncio.wait_for`, which on Python 3.11
    drops a cancellation that arrives with the ack; the writer must end all the same."""
    class AckArrivesWithTheCancel:           # the library's behaviour, not ours
        published: list[str] = []

        async def publish(self, topic: str, payload, **kwargs) -> None:
            self.published.append(topic)
            try:
                await asyncio.sleep(0.02)
            except asyncio.CancelledError:
                pass

    async def main() -> None:
        link = MqttLink(MqttSettings(), "v1", sqlite3.connect(":memory:"))
        link.set_retained("status", {"state": "online"})
        client = AckArrivesWithTheCancel()
        task = asyncio.create_task(link._writer(client))
        while not client.published:
            await asyncio.sleep(0)
        task.cancel()                        # while it publishes
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 2.0)

    asyncio.run(main())

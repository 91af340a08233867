"""GpsStatus: what the `status` MQTT topic shows, driven through a real source."""
from __future__ import annotations

import asyncio
import json

from forewarn.devices import GpsStatus, LineQueueSource
from tests.devices.nmea import T0, drive, epoch, sentence


def test_states_follow_the_data_no_device_no_fix_3d_2d_stale() -> None:
    async def main() -> None:
        source = LineQueueSource(stale_after_s=0.2)
        it = source.fixes()
        assert source.status.state == "no-device"          # nothing ever arrived
        source.push(sentence("GPGGA", "100000.00", "", "", "", "", "0", "00", "", "", "M",
                             "", "M", "", ""))
        assert source.status.state == "no-fix"
        source.push("\n".join(drive(T0, 2)).encode())
        await asyncio.wait_for(anext(it), 5)
        assert source.status.state == "3D"
        rmc = [ln for ln in epoch(T0.replace(second=5), 51.24, 6.74) if "RMC" in ln]
        gsa_2d = sentence("GPGSA", "A", "2", *(["01"] * 12), "1.5", "0.9", "1.2")
        source.push(f"{gsa_2d}\n{rmc[0]}".encode())         # receiver says 2D, no altitude
        while (await asyncio.wait_for(anext(it), 5)).time.second != 5:
            pass
        assert source.status.state == "2D"
        loop = asyncio.get_running_loop()
        end = loop.time() + 5
        while source.status.state != "stale":               # no new fix for > 0.2 s
            assert loop.time() < end
            await asyncio.sleep(0.01)
        body = source.status.to_json()
        assert body["state"] == "stale" and source.status.age_s() >= 0.2  # type: ignore[operator]
        assert body["last_fix"]["time"] == "2026-11-23T10:00:05Z"
        assert json.loads(json.dumps(body)) == body           # publishable as is
        await it.aclose()

    asyncio.run(main())


def test_status_counters_are_the_decoders_counters() -> None:
    source = LineQueueSource()
    source.push(b"$GPGGA,1*00\n\xff\xfe\n")
    assert source.status.counters is source.decoder.counters
    assert isinstance(source.status, GpsStatus) and source.status.counters["garbage"] == 1

"""Fixes from a running gpsd over its JSON protocol on TCP (default 127.0.0.1:2947).

Why support gpsd at all: on gateways where gpsd already owns the receiver (shared with
chrony or other clients), opening the serial port ourselves would fight it. gpsd has
already assembled epochs, so TPV reports map to fixes directly; we only convert, range
check, and apply the same plausibility gate as the NMEA path.
"""
from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from ._fix import Fix, FixMode, Quality
from ._gate import FixGate
from ._source import Backoff
from ._status import GpsStatus

WATCH = b'?WATCH={"enable":true,"json":true}\n'

#: TPV `status` -> our quality (gpsd: 1 normal, 2 DGPS, 3 RTK fixed, 4 RTK float, 5 DR,
#: 6 GNSS+DR, 7 time only/surveyed, 8 simulated).
_STATUS_QUALITY = {
    1: Quality.GPS, 2: Quality.DGPS, 3: Quality.RTK, 4: Quality.FLOAT_RTK,
    5: Quality.DEAD_RECKONING, 6: Quality.DEAD_RECKONING, 7: Quality.MANUAL,
    8: Quality.SIMULATION,
}


class GpsdSource:
    """`async for fix in GpsdSource().fixes()`; reconnects with backoff."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 2947,
        *,
        max_speed_mps: float = 90.0,
        stale_after_s: float = 5.0,
        reconnect_backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        self.host, self.port = host, port
        self.status = GpsStatus(stale_after_s=stale_after_s)
        self.counters: Counter[str] = self.status.counters
        self._gate = FixGate(max_speed_mps, counters=self.counters)
        self._backoff = Backoff(*reconnect_backoff)
        self._sky: dict[str, Any] = {}
        self.connected = asyncio.Event()  # set while gpsd has acknowledged our WATCH

    async def fixes(self) -> AsyncIterator[Fix]:
        """Fixes until cancelled; gpsd restarts and refused connections are waited out."""
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                self.status.device_present = False
                self.status.detail = f"connect {self.host}:{self.port}: {exc.strerror or exc}"
                self.counters["connect_failed"] += 1
                await self._backoff.wait()
                continue
            try:
                writer.write(WATCH)
                await writer.drain()
                self.status.detail = f"gpsd {self.host}:{self.port}"
                async for fix in self._reports(reader):
                    yield fix
            except (OSError, asyncio.IncompleteReadError) as exc:
                self.status.detail = f"gpsd {self.host}:{self.port}: {exc}"
            finally:
                self.connected.clear()
                self.status.device_present = False
                writer.close()
            self.counters["disconnected"] += 1
            await self._backoff.wait()

    async def _reports(self, reader: asyncio.StreamReader) -> AsyncIterator[Fix]:
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # over-long line
                self.counters["gpsd_bad_json"] += 1
                continue
            if not line:
                return
            try:
                report = json.loads(line)
            except (ValueError, RecursionError):
                self.counters["gpsd_bad_json"] += 1
                continue
            if not isinstance(report, dict):
                self.counters["gpsd_bad_json"] += 1
                continue
            cls = report.get("class")
            if cls == "WATCH":
                self.connected.set()  # gpsd has our watch: reports from now on reach us
            elif cls == "DEVICES":
                self.status.device_present = any(
                    isinstance(d, dict) and d.get("activated") for d in report.get("devices", []))
            elif cls == "DEVICE":
                self.status.device_present = bool(report.get("activated"))
            elif cls == "SKY":
                self._sky = report
            elif cls == "TPV":
                self.status.device_present = True
                self._backoff.reset()
                try:
                    fix = self.tpv_to_fix(report)
                except Exception:  # a report shape we did not foresee costs one report
                    self.counters["internal_error"] += 1
                    continue
                if fix is not None:
                    self.status.record(fix)
                    yield fix

    def tpv_to_fix(self, tpv: dict[str, Any]) -> Fix | None:
        """A TPV report as a `Fix`, or None with the reason counted."""
        mode = tpv.get("mode")
        if mode not in (2, 3):
            self.counters["invalid_fix"] += 1
            self.status.has_fix = False
            return None
        lat, lon, when = _num(tpv.get("lat")), _num(tpv.get("lon")), _time(tpv.get("time"))
        if when is None:
            self.counters["no_time"] += 1
            return None
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            self.counters["invalid_fix"] += 1
            return None
        alt = _num(tpv.get("altMSL", tpv.get("alt")))
        speed, course = _num(tpv.get("speed")), _num(tpv.get("track"))
        hdop, used = _num(self._sky.get("hdop")), _used_satellites(self._sky)
        status = tpv.get("status", 1)
        quality = _STATUS_QUALITY.get(status, Quality.GPS) if isinstance(status, int) else None
        fix = Fix(
            time=when, lat=lat, lon=lon, alt=alt,
            speed=speed if speed is not None and speed >= 0 else None,
            course=course % 360.0 if course is not None else None,
            mode=FixMode(mode), quality=quality,
            sats=used if used is not None and used >= 0 else None,
            hdop=hdop if hdop is not None and hdop > 0 else None,
            eph=None,  # gpsd's eph is a DOP-based guess of unstated certainty, not GST's 1-sigma
        )
        if self._gate.check(fix) is not None:  # counted by the gate
            return None
        return fix


def _used_satellites(sky: dict[str, Any]) -> int | None:
    """SKY's `uSat`, or (gpsd before 3.20) the satellites flagged `used`."""
    used = sky.get("uSat")
    if isinstance(used, int) and not isinstance(used, bool):
        return used
    sats = sky.get("satellites")
    if isinstance(sats, list):
        return sum(1 for sat in sats if isinstance(sat, dict) and sat.get("used") is True)
    return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)

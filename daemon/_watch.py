"""`forewarn watch`: the dispatcher's terminal view of every vehicle on the broker."""
from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiomqtt

from ._wire import local_clock, zone


@dataclass
class VehicleView:
    status: dict = field(default_factory=dict)
    position: dict = field(default_factory=dict)
    eta: dict = field(default_factory=dict)
    last_alert: dict = field(default_factory=dict)
    last_event: dict = field(default_factory=dict)


def _speed(v: object) -> str:
    return f"{float(v) * 3.6:.0f} km/h" if isinstance(v, (int, float)) else "-"


def render(views: dict[str, VehicleView]) -> str:
    """Times on each route's own clock (the one its customers were promised windows in), named
    in the vehicle's line; a dispatcher compares an ETA with the window beside it."""
    lines = [f"forewarn watch  {time.strftime('%H:%M:%S')}  {len(views)} vehicle(s)", ""]
    for vid in sorted(views):
        v = views[vid]
        gps = v.status.get("gps", {})
        gps_state = str(gps.get("state", "?"))
        if gps_state not in ("2D", "3D") and gps.get("detail"):
            gps_state += f" ({gps['detail']})"        # why: "open /dev/ttyUSB0: No such file", "end of day.nmea"
        tz = zone(v.eta.get("timezone"))
        lines.append(f"{vid}  [{v.status.get('state', '?')}]  route {v.eta.get('route_id') or v.status.get('route_id') or '-'}"
                     f"  gps {gps_state}  queue {v.status.get('queue_depth', '-')}  times {tz}")
        if v.position:
            lines.append(f"  at {v.position.get('lat')}, {v.position.get('lon')}  {_speed(v.position.get('speed'))}"
                         f"  {'OFF ROUTE' if v.position.get('off_route') else ''}".rstrip())
        for s in (v.eta.get("stops") or [])[:5]:
            w = s.get("window") or {}
            lines.append(f"  {s['id']:<10} eta {local_clock(s.get('eta'), tz)}  p10-p90 {local_clock(s.get('p10'), tz)}-{local_clock(s.get('p90'), tz)}"
                         f"  window {local_clock(w.get('start'), tz)}-{local_clock(w.get('end'), tz)}"
                         f"  P(late) {s.get('p_late', 0):.2f}  {s.get('risk', ''):<8} {s.get('state', '')}")
        if v.last_alert:
            a = v.last_alert
            lines.append(f"  last alert: {a.get('type')} {a.get('kind')} stop {a.get('stop_id')} to {a.get('to')}"
                         f" at {local_clock(a.get('ts'), tz, '%H:%M:%S')}")
        lines.append("")
    return "\n".join(lines)


async def watch(broker: str, prefix: str, *, once: bool, timeout: float, out=sys.stdout) -> int:
    u = urlsplit(broker)
    views: dict[str, VehicleView] = {}
    async with aiomqtt.Client(u.hostname or "localhost", u.port or 1883, username=u.username, password=u.password) as client:
        for suffix in ("status", "position", "eta", "events"):
            await client.subscribe(f"{prefix}/+/{suffix}", qos=1)

        async def consume() -> None:
            async for msg in client.messages:
                parts = str(msg.topic).split("/")
                if len(parts) < 3:
                    continue
                vid, suffix = parts[-2], parts[-1]
                try:
                    doc = json.loads(msg.payload)
                except (json.JSONDecodeError, TypeError, UnicodeDecodeError):
                    continue
                v = views.setdefault(vid, VehicleView())
                if suffix == "events":
                    v.last_event = doc
                    if str(doc.get("type", "")).startswith("alert_"):
                        v.last_alert = doc
                elif suffix in ("status", "position", "eta"):
                    setattr(v, suffix, doc)

        task = asyncio.create_task(consume())
        try:
            if once:
                await asyncio.sleep(timeout)
                out.write(render(views) + "\n")
                return 0
            while True:
                out.write("\x1b[2J\x1b[H" + render(views) + "\n")
                out.flush()
                await asyncio.sleep(1.0)
        finally:
            task.cancel()


def run_watch(broker: str, prefix: str, *, once: bool = False, timeout: float = 3.0) -> int:
    try:
        return asyncio.run(watch(broker, prefix, once=once, timeout=timeout))
    except aiomqtt.MqttError as e:
        print(f"forewarn watch: cannot reach {broker}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0

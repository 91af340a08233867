"""Building blocks for daemon tests: the bundled demo drive/route and configs that point at fakes."""
from __future__ import annotations

import asyncio
import json
from importlib import resources
from pathlib import Path

from forewarn.config import load_settings
from forewarn.daemon._runtime import Daemon, Hooks
from tests.fakes.twilio import FakeTwilio

DEMO = Path(str(resources.files("forewarn.config") / "demo"))
DRIVE = DEMO / "drive.nmea"
ROUTE = DEMO / "route.json"
LATE_STOP = "S3"          # its window ends 14:48Z; the truck gets there at 14:51Z
WINDOW_END = {"S1": "2009-07-07T15:00:00Z", "S2": "2009-07-07T14:55:00Z", "S3": "2009-07-07T14:48:00Z"}


def write_config(tmp: Path, *, twilio: FakeTwilio | None = None, broker_url: str | None = None,
                 prefix: str = "fleet", speed: float = 300.0, routes_dir: Path | None = None,
                 extra: str = "") -> Path:
    """A daemon config replaying the demo drive, with messages to the fake Twilio and events to MQTT."""
    routes = routes_dir or (tmp / "routes")
    routes.mkdir(exist_ok=True)
    if routes_dir is None:
        (routes / "route.json").write_text(ROUTE.read_text())
    text = f"""
[vehicle]
id = "demo-truck"
[gps]
source = "file"
path = "{DRIVE}"
speed = {speed}
[alerts]
sustain_s = 20
approaching_minutes = 2
arrival_dwell_s = 8
[state]
path = "{tmp / 'state.db'}"
[routes]
dir = "{routes}"
[log]
level = "info"
"""
    if twilio is not None:
        (tmp / "twilio-token").write_text(twilio.auth_token + "\n")
        text += f"""
[twilio]
account_sid = "{twilio.account_sid}"
auth_token_file = "{tmp / 'twilio-token'}"
from = "+14165550100"
api_base = "{twilio.url}"
"""
    if broker_url is not None:
        text += f"""
[mqtt]
url = "{broker_url}"
prefix = "{prefix}"
"""
    path = tmp / "forewarn.toml"
    path.write_text(text + extra)
    return path


def manifest(**overrides) -> dict:
    doc = json.loads(ROUTE.read_text())
    doc.update(overrides)
    return doc


class Truck:
    """A daemon on the demo route, driven through its inbound `cmd` handler (what MQTT calls)."""

    def __init__(self, config) -> None:
        self.events: list[dict] = []
        self.d = Daemon(load_settings(config), config_path=str(config), hooks=Hooks(on_event=self.events.append))
        self.d.scan_routes_dir()

    def cmd(self, doc: dict) -> None:
        asyncio.run(self.d._on_mqtt("cmd", json.dumps(doc).encode()))

    def order(self) -> list[str]:
        return [s.id for s in self.d.tracker.route.stops]

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]

    def close(self) -> None:
        self.d.state.close()

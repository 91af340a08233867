"""`forewarn check`: every bad input gives exit 2 and names the file, the field and the problem."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from forewarn.config import manifest_schema
from forewarn.daemon.cli import main

from .helpers import DEMO, manifest

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def check(path: Path, capsys) -> tuple[int, str]:
    code = main(["check", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("example", sorted(p.name for p in CONFIG_DIR.glob("*.toml")) + ["demo/forewarn.toml", "demo/route.json"]
                         + sorted("examples/" + p.name for p in (CONFIG_DIR / "examples").glob("*.json")))
def test_shipped_examples_are_valid(example, capsys):
    code, text = check(CONFIG_DIR / example, capsys)
    assert code == 0, text


def _stop(**changes) -> dict:
    s = manifest()["stops"][0]
    s.update(changes)
    return s


BAD_MANIFESTS = [
    ("unknown key", {"colour": "red"}, "colour", "unknown key"),
    ("misspelt stop key", {"stops": [{**_stop(), "servce_s": 60}]}, "stops[0].servce_s", "did you mean 'service_s'?"),
    ("misspelt customer key", {"stops": [_stop(customer={"name": "Ana", "phonee": "+14165550123"})]},
     "stops[0].customer.phonee", "did you mean 'phone'?"),
    ("window backwards", {"stops": [_stop(window={"start": "2026-11-23T17:00:00Z", "end": "2026-11-23T15:00:00Z"})]},
     "stops[0].window", "before it starts"),
    ("no coordinates", {"stops": [{k: v for k, v in _stop().items() if k not in ("lat", "lon")}]}, "stops[0].lat", "required"),
    ("bad phone", {"stops": [_stop(customer={"name": "Ana", "phone": "+1 555 0123", "channel": "sms"})]},
     "stops[0].customer.phone", "phone"),
    ("not E.164", {"stops": [_stop(customer={"name": "Ana", "phone": "4165550123"})]}, "stops[0].customer.phone", "E.164"),
    ("wrong type", {"stops": [_stop(service_s="five minutes")]}, "stops[0].service_s", "number"),
    ("lat out of range", {"stops": [_stop(lat=123.0)]}, "stops[0].lat", "less than or equal to 90"),
    ("planner drive time not positive", {"stops": [_stop(drive_s=0)]}, "stops[0].drive_s", "greater than 0"),
    ("naive time", {"stops": [_stop(window={"start": "2026-11-23T15:00:00", "end": "2026-11-23T17:00:00"})]},
     "stops[0].window.start", "offset"),
    ("unknown zone", {"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
    ("duplicate stop", {"stops": [_stop(), _stop()]}, "stops", "more than once"),
    ("no stops", {"stops": []}, "stops", "at least 1"),
    ("geometry lat/lon swapped", {"geometry": {"type": "LineString", "coordinates": [[51.2, 6.7], [51.3, 95.0]]}},
     "geometry", "lon, lat"),
]


@pytest.mark.parametrize("name,changes,field,words", BAD_MANIFESTS, ids=[b[0] for b in BAD_MANIFESTS])
def test_bad_manifest_is_refused_with_its_field(tmp_path, capsys, name, changes, field, words):
    path = tmp_path / "route.json"
    path.write_text(json.dumps(manifest(**changes)))
    code, text = check(path, capsys)
    assert code == 2
    assert f"{path}: {field}" in text and words in text, text


def test_every_problem_is_reported_at_once(tmp_path, capsys):
    doc = manifest(colour="red", timezone="Nowhere/Special")
    doc["stops"][0]["lat"] = 999
    path = tmp_path / "route.json"
    path.write_text(json.dumps(doc))
    code, text = check(path, capsys)
    assert code == 2 and "colour" in text and "timezone" in text and "stops[0].lat" in text
    assert "3 problem(s)" in text


def test_broken_json_names_line_and_column(tmp_path, capsys):
    path = tmp_path / "route.json"
    path.write_text('{"route_id": "R1",\n "stops": [}')
    code, text = check(path, capsys)
    assert code == 2 and "line 2 column" in text


GOOD_CONFIG = """
[vehicle]
id = "truck-17"
[gps]
source = "serial"
device = "/dev/ttyUSB0"
"""

BAD_CONFIGS = [
    ("unknown section", GOOD_CONFIG + "[bogus]\nx = 1\n", "bogus", "unknown key (not allowed); allowed here: vehicle, gps,"),
    ("misspelt key", GOOD_CONFIG + "baud = 9600\n", "gps.baud", "did you mean 'baudrate'?"),
    ("key of another broker", GOOD_CONFIG + "[mqtt]\nhost = \"broker\"\n", "mqtt.host", "allowed here: url, prefix,"),
    ("unknown key", GOOD_CONFIG.replace('id = "truck-17"', 'id = "truck-17"\ncolour = 1'), "vehicle.colour", "unknown key"),
    ("wrong type", GOOD_CONFIG + "[alerts]\napproaching_minutes = \"soon\"\n", "alerts.approaching_minutes", "number"),
    ("probability > 1", GOOD_CONFIG + "[alerts]\nlate_probability = 7\n", "alerts.late_probability", "less than 1"),
    ("quiet hours", GOOD_CONFIG + "[alerts]\nquiet_hours = \"9pm-8am\"\n", "alerts.quiet_hours", "HH:MM-HH:MM"),
    ("serial without device", GOOD_CONFIG.replace('device = "/dev/ttyUSB0"', ""), "gps", "needs device"),
    ("password in url", GOOD_CONFIG + "[mqtt]\nurl = \"mqtt://u:secret@broker:1883\"\n", "mqtt.url", "password_file"),
    ("bad twilio sid", GOOD_CONFIG + "[twilio]\naccount_sid = \"XX1\"\nfrom = \"+14165550100\"\n", "twilio.account_sid", "match"),
    ("bad from number", GOOD_CONFIG + f"[twilio]\naccount_sid = \"AC{'0' * 32}\"\nfrom = \"555\"\n", "twilio", "E.164"),
    ("vehicle id with slash", GOOD_CONFIG.replace("truck-17", "truck/17"), "vehicle.id", "MQTT topic"),
    ("not toml", "[vehicle\nid=", "", "not valid TOML"),
]


@pytest.mark.parametrize("name,text,field,words", BAD_CONFIGS, ids=[b[0] for b in BAD_CONFIGS])
def test_bad_config_is_refused_with_its_field(tmp_path, capsys, name, text, field, words):
    path = tmp_path / "forewarn.toml"
    path.write_text(text)
    code, out = check(path, capsys)
    assert code == 2
    assert (f"{path}: {field}" if field else str(path)) in out and words in out, out
    assert "secret" not in out, "secrets never appear in error messages"
    assert "source_path" not in out, "internal fields are not offered as keys"


def test_missing_file_is_exit_2(tmp_path, capsys):
    code, text = check(tmp_path / "nope.toml", capsys)
    assert code == 2 and "cannot read" in text


def test_shipped_json_schema_matches_the_validator():
    shipped = json.loads((CONFIG_DIR / "schemas" / "route-manifest.schema.json").read_text())
    assert shipped == manifest_schema(), "regenerate: python -m forewarn.config.schema > config/schemas/route-manifest.schema.json"


def test_schema_accepts_the_demo_route():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((CONFIG_DIR / "schemas" / "route-manifest.schema.json").read_text())
    jsonschema.validate(json.loads((DEMO / "route.json").read_text()), schema)


def test_a_valid_manifest_of_a_past_day_is_ok_with_a_note(tmp_path, capsys):
    code, text = check(CONFIG_DIR / "demo" / "route.json", capsys)          # 2009: long over
    assert code == 0 and "note: every window ended more than 12 h ago (service day 2009-07-07)" in text
    fresh = manifest()
    soon = datetime.now(timezone.utc) + timedelta(hours=2)
    for i, stop in enumerate(fresh["stops"]):
        stop["window"] = {"start": (soon + timedelta(minutes=30 * i)).isoformat(),
                          "end": (soon + timedelta(minutes=30 * i + 60)).isoformat()}
    path = tmp_path / "today.json"
    path.write_text(json.dumps(fresh))
    code, text = check(path, capsys)
    assert code == 0 and "note:" not in text

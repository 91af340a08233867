"""A route id reused on another day ("R-17" every morning) starts clean; the same day's new
version keeps its stop states and messages."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from forewarn.config import AlertSettings, parse_manifest
from forewarn.daemon._tracker import RouteTracker
from forewarn.daemon.outbox import Outbox
from forewarn.daemon.store import open_db

from .helpers import manifest

ROUTE_ID = "DEMO-2009-07-07-RATINGEN"


def _shifted(days: int, **changes) -> dict:
    doc = manifest(**changes)
    for stop in doc["stops"]:
        for edge in ("start", "end"):
            t = datetime.fromisoformat(stop["window"][edge].replace("Z", "+00:00"))
            stop["window"][edge] = (t + timedelta(days=days)).isoformat()
    return doc


def _tracker(conn, doc: dict) -> RouteTracker:
    return RouteTracker(parse_manifest(json.dumps(doc)), AlertSettings(quiet_hours=None), Outbox(conn), conn=conn)


def test_the_next_day_under_the_same_id_starts_clean_and_yesterday_is_kept_aside(tmp_path):
    conn = open_db(tmp_path / "state.db")
    day1 = _tracker(conn, _shifted(0))
    noon = datetime.fromisoformat("2009-07-07T12:00:00+00:00").timestamp()
    day1.start(noon)
    day1.command("complete", "S1", noon + 600)
    assert day1.reused_from is None
    assert {r.kind for r in day1.outbox.rows(ROUTE_ID) if r.stop_id == "S1"} == {"window", "delivered"}

    same_day = _tracker(conn, _shifted(0, detour_factor=1.4))          # a new version, the same day
    assert same_day.reused_from is None and same_day.record("S1").state.value == "completed"

    day2 = _tracker(conn, _shifted(1))                                # "R-17" again the next morning
    assert day2.reused_from == "2009-07-07"
    assert {s: day2.record(s).state.value for s in ("S1", "S2", "S3")} == {"S1": "planned", "S2": "planned", "S3": "planned"}
    step = day2.start(noon + 86400.0)
    assert sorted(m.stop_id for m in step.messages) == ["S1", "S2", "S3"], "today's customers hear today's window"
    kept = Outbox(conn).rows(f"{ROUTE_ID}@2009-07-07")
    assert {(r.stop_id, r.kind) for r in kept} >= {("S1", "window"), ("S1", "delivered")}
    assert all(r.key.startswith(f"{ROUTE_ID}@2009-07-07/") for r in kept)
    reopened = _tracker(conn, _shifted(1))                            # a restart on day 2 keeps day 2
    assert reopened.reused_from is None and reopened.record("S1").sent.get("window") == 1

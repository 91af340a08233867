"""`forewarn replay` keeps exactly to DESIGN.md's JSON contract; `--state` learns like a live day."""
from __future__ import annotations

import io
import json
import sqlite3
from datetime import datetime, timedelta

from forewarn.daemon._replay import metrics
from forewarn.daemon._report import print_fleet_report, print_summary
from forewarn.daemon.cli import main

from .helpers import DEMO, DRIVE, LATE_STOP, ROUTE, WINDOW_END, manifest


def replay_json(capsys, *extra: str) -> dict:
    assert main(["replay", str(DRIVE), "--route", str(ROUTE), "--json", "-c", str(ROUTE.parent / "forewarn.toml"), *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_replay_json_contract(capsys):
    doc = replay_json(capsys)
    assert doc["route_id"] == "DEMO-2009-07-07-RATINGEN"
    assert isinstance(doc["counters"], dict) and doc["counters"]["fixes"] == 596
    for s in doc["stops"]:
        assert set(s) >= {"id", "window", "arrived", "departed", "messages", "predictions"}
        assert set(s["window"]) == {"start", "end"}
        for m in s["messages"]:
            assert set(m) >= {"kind", "at", "text"} and m["at"].endswith("Z")
        for p in s["predictions"]:
            assert set(p) == {"at", "p10", "p50", "p90", "p_late"}
            assert p["p10"] <= p["p50"] <= p["p90"] and 0 <= p["p_late"] <= 1
    by_id = {s["id"]: s for s in doc["stops"]}
    late = by_id[LATE_STOP]
    assert late["arrived"] > WINDOW_END[LATE_STOP]
    delay = [m for m in late["messages"] if m["kind"] == "delay"]
    assert len(delay) == 1 and delay[0]["at"] < WINDOW_END[LATE_STOP]
    assert all(m["kind"] != "delay" for sid in ("S1", "S2") for m in by_id[sid]["messages"])
    assert doc["metrics"]["late_warned_before_window_end"] == 1 and doc["metrics"]["false_alarms"] == 0


def test_step_thins_predictions(capsys):
    every = replay_json(capsys)
    thinned = replay_json(capsys, "--step", "60")
    n_every = len(every["stops"][2]["predictions"])
    n_thin = len(thinned["stops"][2]["predictions"])
    assert n_thin < n_every / 10 and n_thin >= 5


def test_state_learns_across_replays(tmp_path, capsys):
    db = tmp_path / "state.db"
    replay_json(capsys, "--state", str(db))
    conn = sqlite3.connect(db)
    tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    rows = sum(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables if t.startswith("eta_"))
    assert rows > 0, tables
    assert "outbox" not in tables, "a replay must not mark real customers as told"


def test_report_dir_has_json_and_plots(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["replay", str(DRIVE), "--route", str(ROUTE), "--report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "late 1" in text
    # on the route's clock, as the windows were promised (16:40 in Ratingen is 14:40Z)
    assert "route DEMO-2009-07-07-RATINGEN (Europe/Berlin)" in text
    assert "S1         window 16:40-17:00" in text and "None" not in text
    assert json.loads((out / "replay.json").read_text())["route_id"]
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["stop-S1.png", "stop-S2.png", "stop-S3.png"]
    assert (out / "stop-S3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_of_a_document_without_a_zone_is_in_utc_and_says_so(capsys):
    doc = replay_json(capsys)
    assert doc["timezone"] == "Europe/Berlin"
    del doc["timezone"]                      # a replay.json written before it carried its zone
    out = io.StringIO()
    print_summary(doc, out)
    assert "(UTC)" in out.getvalue() and "S1         window 14:40-15:00" in out.getvalue()
    for s in doc["stops"]:                   # no late stop: no lead to give, and no "None" for it
        s["messages"] = [m for m in s["messages"] if m["kind"] != "delay"]
    doc["metrics"] = metrics(doc)
    out = io.StringIO()
    print_fleet_report([doc], out)
    assert "None" not in out.getvalue() and "median warning lead" not in out.getvalue()


def test_yesterdays_manifest_texts_nobody_and_tells_dispatch(tmp_path, capsys):
    """A route left retained on the broker from the day before meets today's drive: without
    expiry every customer got "sorry, we missed your window" and "about N min away"."""
    doc = manifest()
    for stop in doc["stops"]:
        for edge in ("start", "end"):
            t = datetime.fromisoformat(stop["window"][edge].replace("Z", "+00:00"))
            stop["window"][edge] = (t - timedelta(days=1)).isoformat()
    route = tmp_path / "yesterday.json"
    route.write_text(json.dumps(doc))
    assert main(["replay", str(DRIVE), "--route", str(route), "--json", "--events",
                 "-c", str(ROUTE.parent / "forewarn.toml")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [m for s in out["stops"] for m in s["messages"]] == []
    expired = [e["stop_id"] for e in out["events"] if e["type"] == "expired"]
    assert sorted(expired) == ["S1", "S2", "S3"], out["events"][:20]
    assert all(p["p50"] for s in out["stops"] for p in s["predictions"]), "the truck is still tracked"


def test_replay_of_a_missing_log_is_exit_2(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "nope.nmea"), "--route", str(ROUTE)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_report_totals_over_replays(tmp_path, capsys):
    doc = replay_json(capsys)
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    assert main(["report", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    text = capsys.readouterr().out
    assert "late stops warned before their window ended: 2/2 (100%)" in text
    assert "false alarms: 0/4 on-time stops (0.0%)" in text and "duplicate messages: 0" in text
    (tmp_path / "bad.json").write_text("{")
    assert main(["report", str(tmp_path / "bad.json")]) == 2


def test_a_queue_after_about_n_min_away_is_told_once_with_the_new_time(tmp_path, capsys):
    """The simulator puts a 25-minute queue before S2, after its approaching message: the customer
    (French, by voice) hears "held up, within about N min" once, while the truck is still held;
    S1, on time and served, hears nothing of the kind."""
    route = DEMO.parents[0] / "examples" / "route-toronto.json"
    nmea = tmp_path / "day.nmea"
    assert main(["simulate", "--route", str(route), "--delay", "S2=25", "--seed", "3", "-o", str(nmea)]) == 0
    capsys.readouterr()
    assert main(["replay", str(nmea), "--route", str(route), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by_id = {s["id"]: s for s in doc["stops"]}
    s2 = by_id["S2"]
    kinds = [m["kind"] for m in s2["messages"]]
    assert kinds.count("held_up") == 1 and kinds.index("approaching") < kinds.index("held_up")
    told, held = (next(m for m in s2["messages"] if m["kind"] == k) for k in ("approaching", "held_up"))
    assert "retardé" in held["text"] and held["at"] < s2["arrived"]
    gap = (datetime.fromisoformat(held["at"]) - datetime.fromisoformat(told["at"])).total_seconds() / 60
    assert gap >= 10, "not before the ETA has slipped held_up_minutes past the promise"
    assert "held_up" not in [m["kind"] for m in by_id["S1"]["messages"]]
    # the report counts the broken promise and that it was told; without the message, untold
    assert (doc["metrics"]["approach_broken"], doc["metrics"]["approach_broken_told"]) == (1, 1)
    s2["messages"] = [m for m in s2["messages"] if m["kind"] != "held_up"]
    assert (metrics(doc)["approach_broken"], metrics(doc)["approach_broken_told"]) == (1, 0)

"""`forewarn simulate` → `forewarn replay`: a simulated late stop is warned, and bad arguments are exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from forewarn.daemon.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "route-toronto.json"


def test_simulate_writes_nmea_and_truth_that_replay_reads(tmp_path, capsys):
    out = tmp_path / "day.nmea"
    assert main(["simulate", "--route", str(EXAMPLE), "--seed", "3", "--delay", "S2=25", "-o", str(out)]) == 0
    truth = json.loads(out.with_suffix(".truth.json").read_text())
    assert set(truth) == {"S1", "S2"}
    capsys.readouterr()
    assert main(["replay", str(out), "--route", str(EXAMPLE), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for s in doc["stops"]:
        assert s["arrived"] is not None
        # arrival detected from the simulated GPS within a minute of the simulator's truth
        from datetime import datetime
        t = lambda x: datetime.fromisoformat(x.replace("Z", "+00:00")).timestamp()
        assert abs(t(s["arrived"]) - t(truth[s["id"]]["arrived"])) < 60


@pytest.mark.parametrize("args,words", [
    (["--delay", "S9=5"], "not in"),
    (["--delay", "S1"], "STOP=MINUTES"),
    (["--detour", "S9"], "not a stop"),
    (["--start", "tomorrow"], "ISO 8601"),
])
def test_bad_simulate_arguments(args, words, capsys):
    assert main(["simulate", "--route", str(EXAMPLE), *args]) == 2
    assert words in capsys.readouterr().err

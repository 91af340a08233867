"""Stop records reach the state file when they change, by the end of the input that changed
them, and not otherwise: each write is an fsync on the gateway's flash (a record that kept
the last P(late) once had every remaining stop written on every fix)."""
from __future__ import annotations

import json
from dataclasses import fields

import pytest

from forewarn.config import AlertSettings, load_route
from forewarn.daemon._stops import Risk, StopRecord, StopState
from forewarn.daemon._tracker import RouteTracker
from forewarn.daemon.outbox import Outbox
from forewarn.daemon.store import open_db
from forewarn.devices import iter_fixes

from .helpers import DRIVE, ROUTE


def _file_rows(conn) -> dict[str, str]:
    return dict(conn.execute("SELECT stop_id, record FROM stop_state"))


def test_each_change_is_in_the_file_when_the_fix_returns_and_unchanged_stops_are_not_rewritten(tmp_path):
    conn = open_db(tmp_path / "state.db")
    tracker = RouteTracker(load_route(ROUTE), AlertSettings(arrival_dwell_s=8, sustain_s=20), Outbox(conn),
                           conn=conn)
    reader = open_db(tmp_path / "state.db")      # what a restart would read
    ids = [s.id for s in tracker.route.stops]
    fixes = list(iter_fixes(DRIVE.open("rb")))
    prev = _file_rows(reader)
    rewrites = 0
    for f in fixes:
        tracker.on_fix(f)
        rows = _file_rows(reader)
        for sid in ids:
            rec = tracker.record(sid)
            if rec.snapshot() != StopRecord(sid).snapshot():
                assert rows.get(sid) == rec.to_row(), f"{sid} after the fix at {f.time}"
        rewrites += sum(rows[sid] != prev.get(sid) for sid in rows)
        prev = rows
    assert {tracker.record(s).state for s in ids} == {StopState.COMPLETED, StopState.ARRIVED}
    # states, risks, arrival and departure clocks, messages: a few dozen changes in a drive of
    # hundreds of fixes, where writing every remaining stop each fix made well over a thousand
    assert len(fixes) * len(ids) > 1000 and rewrites < 100, rewrites


@pytest.mark.parametrize("name", [f.name for f in fields(StopRecord)])
def test_a_change_to_any_field_is_a_change(name):
    rec = StopRecord("S1")
    before = rec.snapshot()
    value = getattr(rec, name)
    if isinstance(value, dict):
        value["delay"] = 1                       # in place: the snapshot must not share it
    elif isinstance(value, StopState):
        rec.state = StopState.ARRIVED
    elif isinstance(value, Risk):
        rec.risk = Risk.LATE
    elif isinstance(value, str):
        setattr(rec, name, value + "x")
    elif isinstance(value, bool):
        setattr(rec, name, not value)
    else:                                        # None (a time or a window not set yet)
        setattr(rec, name, (1.0, 2.0) if name in ("announced", "promised") else 1.0)
    assert rec.snapshot() != before


def test_a_row_written_by_an_older_release_loads(tmp_path):
    old = json.loads(StopRecord("S1", state=StopState.NOTIFIED, sent={"window": 1}).to_row())
    old["last_p_late"] = 0.42                    # a field this release no longer keeps
    rec = StopRecord.from_row(json.dumps(old))
    assert rec.state is StopState.NOTIFIED and rec.sent == {"window": 1}


def test_a_field_the_record_does_not_have_cannot_be_written():
    """Records are slotted: code still writing a retired field (as the policy kept writing
    `last_p_late` after it was dropped) fails at once instead of keeping it nowhere."""
    rec = StopRecord("S1")
    with pytest.raises(AttributeError):
        rec.last_p_late = 0.5

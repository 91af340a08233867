"""A restart mid-route (the gateway loses power with the ignition) carries today on: the
service pace learned from today's stops and the stop being served survive in the state file."""
from __future__ import annotations

import numpy as np

from forewarn.config import AlertSettings, load_route
from forewarn.daemon._tracker import RouteTracker
from forewarn.daemon.outbox import Outbox
from forewarn.daemon.store import open_db
from forewarn.devices import iter_fixes
from forewarn.eta import TravelHistory
from forewarn.eta._estimator import GLOBAL_DWELL_KEY

from .helpers import DRIVE, ROUTE

ALERTS = AlertSettings(arrival_dwell_s=8, sustain_s=20)


def _fleet_history() -> TravelHistory:
    """Earlier days where stops took twice their plan: today's driver is quicker than that."""
    h = TravelHistory()
    for day in range(3):                     # day numbers long before the demo route's
        for _ in range(10):
            h.add_dwell(GLOBAL_DWELL_KEY, 2.0)
            h.add_day_pace(day, 2.0)
    return h


def _tracker(conn, history: TravelHistory) -> RouteTracker:
    return RouteTracker(load_route(ROUTE), ALERTS, Outbox(conn), conn=conn, history=history)


def test_a_restart_while_serving_a_stop_keeps_todays_pace_and_learns_that_stop(tmp_path):
    fixes = list(iter_fixes(DRIVE.open("rb")))
    whole = _fleet_history()
    t = _tracker(open_db(tmp_path / "whole.db"), whole)
    for f in fixes:
        t.on_fix(f)

    conn = open_db(tmp_path / "state.db")
    cut_history = _fleet_history()
    first = _tracker(conn, cut_history)
    cut = None
    for i, f in enumerate(fixes):
        first.on_fix(f)
        departed = [s.id for s in first.route.stops if first.record(s.id).departed_at is not None]
        if departed and first.dwelling() is not None:
            cut = i
            break
    assert cut is not None, "the demo drive serves a stop after leaving another"
    serving = first.dwelling()
    pace = first.estimator.dwell_mu.copy()
    assert not np.allclose(pace, _tracker(open_db(":memory:"), cut_history).estimator.dwell_mu), \
        "today's stops moved the expected service times (else this test shows nothing)"

    again = _tracker(conn, cut_history)                       # the restart: same state file
    assert again.dwelling() == serving
    np.testing.assert_array_equal(again.estimator.dwell_mu, pace)
    for f in fixes[cut + 1:]:
        again.on_fix(f)
    # the stop in service at the restart was learned when the truck left it, exactly once
    assert cut_history.dwell == whole.dwell

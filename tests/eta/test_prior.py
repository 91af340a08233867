"""The prior speed of a leg: the route planner's drive time when the manifest has one."""
from __future__ import annotations

from dataclasses import replace

import json

import pytest

from forewarn.config import parse_manifest
from forewarn.eta import Estimator

from .geom import route, stop
from .geom import fix as gps_fix

LINE = [(0.0, 0.0), (10_000.0, 0.0)]


def _route(drive_s: float | None):
    a = replace(stop("A", 4000.0, 0.0, end_min=300.0), drive_s=drive_s)
    return route(LINE, [a, stop("B", 9000.0, 0.0, end_min=300.0)])


def test_the_planners_leg_time_sets_that_legs_prior_speed_only():
    est = Estimator(_route(1000.0))                    # 4 km in 1000 s: 4 m/s, a slow street
    edges = est.model.edges
    mid = 0.5 * (edges[:-1] + edges[1:])
    v = est.vprof[:, 0]
    assert v[mid < 4000.0] == pytest.approx(4.0)
    assert v[(mid > 4000.0) & (mid < 9000.0)] == pytest.approx(est.params.cruise_speed)


def test_a_slow_planned_leg_makes_a_later_eta_than_the_default():
    first = gps_fix(0.0, 0.0, 0.0, 0.0)
    now = first.time.timestamp()
    planned = Estimator(_route(1000.0)).update(first, ["A", "B"]).stops[0]
    default = Estimator(_route(None)).update(first, ["A", "B"]).stops[0]
    assert planned.p50 - first.t > 1.5 * (default.p50 - now)


def test_an_impossible_planner_time_is_clamped_not_believed():
    est = Estimator(_route(1.0))                       # 4 km in one second: a typo
    assert est.vprof.max() <= 40.0


def test_the_manifest_carries_drive_s_to_the_stop():
    doc = {"route_id": "R1", "vehicle_id": "t1", "stops": [
        {"id": "S1", "lat": 45.0, "lon": -75.0, "drive_s": 600,
         "window": {"start": "2026-11-23T15:00:00Z", "end": "2026-11-23T17:00:00Z"}},
        {"id": "S2", "lat": 45.01, "lon": -75.0,
         "window": {"start": "2026-11-23T15:00:00Z", "end": "2026-11-23T17:00:00Z"}}]}
    r = parse_manifest(json.dumps(doc), "test")
    assert [s.drive_s for s in r.stops] == [600.0, None]

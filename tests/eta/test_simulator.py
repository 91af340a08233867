"""The simulator writes what a receiver would, repeatably, with truth that matches the drive."""
import json
import math

import numpy as np
import pynmea2
import pytest

from forewarn.devices import iter_fixes
from forewarn.eta import Estimator
from forewarn.eta._simulator import _habit
from forewarn.eta.simulate import simulate, write_simulation

from .geom import T0, route, stop, straight


def _route():
    stops = [stop(f"S{i}", 2500.0 * i, 0.0, end_min=20 * i, service_s=90.0) for i in range(1, 5)]
    return route(straight(11_000.0), stops)


def test_same_seed_same_drive_other_seed_other_drive():
    r = _route()
    a, b, c = simulate(r, seed=3, start=T0), simulate(r, seed=3, start=T0), simulate(r, seed=4, start=T0)
    assert a.lines == b.lines and a.truth == b.truth
    assert a.lines != c.lines


def test_every_sentence_has_a_valid_checksum_and_decodes():
    sim = simulate(_route(), seed=1, start=T0)
    kinds = set()
    for line in sim.lines:
        msg = pynmea2.parse(line, check=True)
        kinds.add(msg.sentence_type)
    assert {"GGA", "RMC", "VTG", "GSA"} <= kinds
    fixes = list(iter_fixes(sim.lines))
    assert len(fixes) > 500
    assert all(f.hdop and f.hdop > 0 for f in fixes)


def test_truth_matches_where_the_gps_says_the_truck_was():
    r = _route()
    sim = simulate(r, seed=2, start=T0)
    fixes = list(iter_fixes(sim.lines))
    est = Estimator(r)
    prev_dep = 0.0
    for s in r.stops:
        arr, dep = sim.truth_t[s.id]
        assert prev_dep <= arr < dep
        prev_dep = dep
        assert sim.truth[s.id]["arrived"].endswith("Z")
        during = [f for f in fixes if arr + 2 <= f.t <= dep - 2]
        assert during, "no fix while serving the stop"
        d = sorted(est.distance_to_stop(f, s.id) for f in during)
        assert d[len(d) // 2] < 15.0                        # parked at the stop (GPS noise) ...
        assert sum(x < s.radius_m for x in d) >= 0.9 * len(d)  # ... bar the odd multipath fix
        assert max(f.speed for f in during) < 1.0


def test_injected_delay_arrives_that_much_later():
    r = _route()
    base = simulate(r, seed=5, start=T0)
    late = simulate(r, seed=5, start=T0, delays={"S3": 10})
    assert late.truth_t["S2"] == base.truth_t["S2"]
    extra = late.truth_t["S3"][0] - base.truth_t["S3"][0]
    assert extra == pytest.approx(600.0, abs=120.0)


def test_unknown_delay_stop_is_refused():
    with pytest.raises(ValueError):
        simulate(_route(), delays={"nope": 5})


def test_dropouts_leave_gaps_and_no_fix_sentences():
    sims = [simulate(_route(), seed=s, start=T0) for s in range(6)]
    gaps = [b.t - a.t for sim in sims for a, b in zip(list(iter_fixes(sim.lines)), list(iter_fixes(sim.lines))[1:])]
    assert max(gaps) >= 3.0
    assert any(",V," in line for sim in sims for line in sim.lines)


def test_detour_goes_off_route_and_the_estimator_notices():
    r = _route()
    sim = simulate(r, seed=7, start=T0, detour="S3", dropouts=False)
    est = Estimator(r)
    flags, far = [], 0.0
    remaining = [s.id for s in r.stops]
    for f in iter_fixes(sim.lines):
        remaining = [sid for sid in remaining if sim.truth_t[sid][1] > f.t]
        if not remaining:
            break
        e = est.update(f, remaining)
        flags.append(e.off_route)
        far = max(far, e.dist_to_route)
    assert far > 200.0
    assert any(flags) and not flags[-1]


def test_faster_receiver_rate_and_written_files(tmp_path):
    sim = simulate(_route(), seed=1, start=T0, hz=2.0, dropouts=False)
    fixes = list(iter_fixes(sim.lines))
    assert fixes[1].t - fixes[0].t == pytest.approx(0.5)
    out = tmp_path / "drive.nmea"
    write_simulation(sim, out)
    assert out.read_text().count("\n") == len(sim.lines)
    assert json.loads(out.with_suffix(".truth.json").read_text()) == sim.truth
    assert math.isclose(sim.start, T0.timestamp())


def _service_logs(r, seeds, **habits):
    """log(actual / planned service) per stop (rows) on each simulated day (columns)."""
    svc = {s.id: s.service_s for s in r.stops}
    return np.array([[math.log((d - a) / svc[sid]) for sid, (a, d) in simulate(r, seed=sd, start=T0, **habits)
                      .truth_t.items()] for sd in seeds]).T


def test_service_habits_persist_from_day_to_day_only_when_asked():
    """Without habits every day's service times are drawn afresh (the stops' means over days
    scatter only by the day-to-day noise); an address habit makes the same stops slow or quick
    every day, and a truck habit moves every stop of the route alike."""
    stops = [stop(f"S{i}", 400.0 * i, 0.0, end_min=10 * i, service_s=200.0) for i in range(1, 25)]
    r = route(straight(10_500.0), stops)
    seeds = range(6)
    plain = _service_logs(r, seeds)
    addr = _service_logs(r, seeds, address_sd=0.8)
    # spread of the per-stop means over days: noise / sqrt(6) without habits, the habit's with
    assert plain.mean(axis=1).std() < 0.25 < 0.5 < addr.mean(axis=1).std()
    again = _service_logs(r, range(6, 12), address_sd=0.8)
    assert np.corrcoef(addr.mean(axis=1), again.mean(axis=1))[0, 1] > 0.8   # the same addresses, other days
    truck = _service_logs(r, seeds, truck_sd=0.8)
    assert abs(truck.mean() - plain.mean() - math.log(_habit(r.route_id, 0.8))) < 0.05

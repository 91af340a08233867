"""Estimator end to end on hand-made geometry: known ETAs, matching on loops and
out-and-backs, outliers, off-route, dwell, traffic stops, dropouts."""
import math

import numpy as np
import pytest

from forewarn.eta import Estimator, EstimatorParams, TravelHistory

from .geom import T0, loop_twice, out_and_back, route, stop, straight, fix

V = EstimatorParams().cruise_speed  # a truck driving at it keeps the live ratio at 1
Z90 = 1.2815515655446004


def mean_eta(s, t: float, p: EstimatorParams = EstimatorParams()) -> float:
    """Expected seconds to arrival implied by a StopEta: p50 is the log-normal median, so the
    mean is p50 x exp(sd^2 / 2), with sd read back from p90 (= p50 x exp(Z90 sd tail_up))."""
    sd = math.log((s.p90 - t) / (s.p50 - t)) / (Z90 * p.tail_up)
    return (s.p50 - t) * math.exp(2.0 * p.median_shift * sd * sd / 2.0)


def drive(est, remaining, x_of_t, t_end, t_start=0, dt=1, speed=V, y=0.0):
    e = None
    for t in range(t_start, t_end + 1, dt):
        e = est.update(fix(t, x_of_t(t), y, speed), remaining)
    return e


def test_constant_speed_gives_exact_p50_and_ordered_quantiles():
    stops = [stop(f"S{i}", 2000.0 * i, 0.0, service_s=120.0) for i in range(1, 5)]
    # the travel model alone: unforeseen delays (tests/eta/test_unforeseen.py) would move p50/p90
    est = Estimator(route(straight(), stops), EstimatorParams(unforeseen_rate_h=0.0))
    rem = [s.id for s in stops]
    e = drive(est, rem, lambda t: 100.0 + V * t, 60)
    assert e.chainage == pytest.approx(100.0 + V * 60, abs=1.0)
    assert e.speed == pytest.approx(V, abs=0.05)
    assert not e.off_route
    for i, s in enumerate(e.stops):
        # expected service time = mean of the log-normal around the planned 120 s
        expect = (est.stop_chainage(s.stop_id) - e.chainage) / V + est.dwell_mu[0] * i
        assert mean_eta(s, e.t) == pytest.approx(expect, abs=1.0)
        assert s.p10 < s.p50 < s.p90 and s.p50 - e.t < expect
        assert s.remaining_m == pytest.approx(est.stop_chainage(s.stop_id) - e.chainage, abs=1e-6)
    spreads = [s.p90 - s.p10 for s in e.stops]
    assert spreads == sorted(spreads) and spreads[-1] > 2 * spreads[0]


def test_p_late_follows_the_window():
    t_arr = 4000.0 / V  # seconds from T0 to reach x=4000 from x=0
    stops = [stop("early", 4000.0, 0.0, end_min=(t_arr - 300) / 60),
             stop("tight", 4000.0, 0.0, end_min=t_arr / 60),
             stop("easy", 4000.0, 0.0, end_min=(t_arr + 900) / 60)]
    est = Estimator(route(straight(), stops))
    e = est.update(fix(0, 0.0, 0.0, V), ["early", "tight", "easy"])
    pl = [s.p_late for s in e.stops]
    assert pl[0] > 0.9 and pl[2] < 0.1 and pl[0] > pl[1] > pl[2]


def test_out_and_back_return_leg_is_not_matched_to_the_way_out():
    stops = [stop("far", 2900.0, 0.0), stop("home", 100.0, 8.0)]
    est = Estimator(route(out_and_back(), stops))
    rem = ["far", "home"]
    # drive out to the end, U-turn, and back to x=1000 on the y=8 carriageway
    t_turn, t_end = int(3000 / V), int(5008 / V)
    for t in range(0, t_turn + 1):
        est.update(fix(t, V * t, 0.0, V), rem)
    rem = ["home"]
    for t in range(t_turn + 1, t_end + 1):
        back = V * t - 3008.0
        e = est.update(fix(t, 3000.0 - back, 4.0, V), rem)  # y=4: halfway, ambiguous
    assert e.chainage == pytest.approx(V * t_end, abs=15.0)
    assert e.chainage > 3008.0


def test_loop_second_lap_stays_on_the_second_lap():
    stops = [stop("A", 500.0, 0.0), stop("B", 500.0, 1000.0), stop("C", 500.0, 0.0)]
    est = Estimator(route(loop_twice(), stops))
    rem = ["A", "B", "C"]
    perim = 4000.0

    def pos(s):
        s = s % perim
        if s < 1000: return s, 0.0
        if s < 2000: return 1000.0, s - 1000
        if s < 3000: return 3000.0 - s, 1000.0
        return 0.0, perim - s
    e = None
    for t in range(0, 420):
        s = 10.0 * t
        rem = ["A", "B", "C"] if s < 500 else ["B", "C"] if s < 2500 else ["C"]
        x, y = pos(s)
        e = est.update(fix(t, x, y, 10.0), rem)
    assert e.chainage == pytest.approx(4190.0, abs=15.0)
    assert e.stops[0].stop_id == "C"
    assert e.stops[0].p50 - e.t == pytest.approx((4500.0 - e.chainage) / 10.0, rel=0.25)


def test_a_jump_along_the_road_is_rejected_as_an_outlier():
    est = Estimator(route(straight(), [stop("A", 9000.0, 0.0)]))
    drive(est, ["A"], lambda t: 10.0 * t, 30, speed=10.0)
    e = est.update(fix(31, 310.0 + 200.0, 0.0, 10.0), ["A"])   # 200 m ahead of where it can be
    assert e.chainage == pytest.approx(310.0, abs=10.0)
    e = est.update(fix(32, 320.0, 0.0, 10.0), ["A"])
    assert e.chainage == pytest.approx(320.0, abs=5.0)


def test_off_route_is_declared_after_the_duration_and_estimated_by_straight_line():
    p = EstimatorParams()
    stops = [stop("A", 5000.0, 0.0, service_s=60.0), stop("B", 8000.0, 0.0)]
    est = Estimator(route(straight(), stops), p)
    drive(est, ["A", "B"], lambda t: 10.0 * t, 200, speed=10.0)            # x = 2000
    e = None
    for k in range(1, 80):                                                 # north, 10 m/s
        e = est.update(fix(200 + k, 2000.0, 10.0 * k, 10.0), ["A", "B"])
        if 10.0 * k > p.off_route_m and k < 6 + 3:
            assert not e.off_route                                         # not yet: duration
    assert e.off_route and e.dist_to_route > 700
    straight_line = math.hypot(5000.0 - 2000.0, 790.0)
    assert e.stops[0].remaining_m == pytest.approx(straight_line * p.detour_factor, rel=0.01)
    assert e.stops[1].remaining_m == pytest.approx(straight_line * p.detour_factor + 3000.0, rel=0.01)
    # rejoin the road further on: re-acquired by the full scan
    e = est.update(fix(400, 3500.0, 0.0, 10.0), ["A", "B"])
    assert not e.off_route
    assert e.chainage == pytest.approx(3500.0, abs=10.0)


def test_dwelling_adds_the_remaining_service_time():
    stops = [stop("A", 2000.0, 0.0, service_s=300.0), stop("B", 4500.0, 0.0)]
    est = Estimator(route(straight(), stops))
    drive(est, ["A", "B"], lambda t: 2000.0 - V * (200 - t) if t < 200 else 2000.0, 200)
    est.observe_arrival("A", (T0.timestamp() + 200))
    e = None
    for t in range(201, 261):
        e = est.update(fix(t, 2000.0, 0.0, 0.0), ["B"], dwelling=("A", T0.timestamp() + 200))
    # 60 s served of the expected service time, the rest is left, then 2500 m at cruise
    assert est.dwell_mu[0] > 300.0
    assert mean_eta(e.stops[0], e.t) == pytest.approx(est.dwell_mu[0] - 60.0 + 2500.0 / V, abs=8.0)


def test_stopped_in_traffic_slowly_raises_the_eta():
    est = Estimator(route(straight(), [stop("A", 6000.0, 0.0)]))
    drive(est, ["A"], lambda t: V * t, 100)
    x = V * 100
    etas = []
    for t in range(101, 400):
        e = est.update(fix(t, x, 0.0, 0.0), ["A"])
        etas.append(e.stops[0].p50)
    assert all(b >= a - 1e-6 for a, b in zip(etas, etas[1:]))           # never earlier
    assert etas[0] < T0.timestamp() + 100 + (6000 - x) / V + 30          # a red light: ~nothing
    assert etas[-1] > etas[0] + 300                                       # a jam: it adds up
    assert math.isfinite(etas[-1])


def test_predict_dead_reckons_through_a_dropout():
    est = Estimator(route(straight(), [stop("A", 2900.0, 0.0)]))
    assert est.predict(T0.timestamp(), ["A"]) is None
    e1 = drive(est, ["A"], lambda t: V * t, 60)
    e2 = est.predict(T0.timestamp() + 90, ["A"])
    assert e2.t == T0.timestamp() + 90
    assert e2.chainage == pytest.approx(e1.chainage + 30 * V, abs=1.0)
    assert e2.stops[0].p50 == pytest.approx(e1.stops[0].p50, abs=1.0)


def test_a_long_dropout_coasts_then_holds_the_truck():
    """Silent for half an hour (an underground loading dock): dead-reckoned for
    `dropout_coast_s`, then taken as stopped, so its stops' ETAs move later with the clock
    instead of the truck reaching them in the dark."""
    est = Estimator(route(straight(), [stop("A", 2900.0, 0.0)]))
    e1 = drive(est, ["A"], lambda t: V * t, 60)
    coast = est.params.dropout_coast_s
    e2 = est.predict(T0.timestamp() + 60 + 1800, ["A"])
    assert e2.chainage == pytest.approx(e1.chainage + coast * V, abs=1.0) and e2.speed == 0.0
    still = est.predict(T0.timestamp() + 60 + 3600, ["A"])
    assert still.chainage == pytest.approx(e2.chainage, abs=1e-6)
    assert still.stops[0].p50 == pytest.approx(e2.stops[0].p50 + 1800, abs=5.0)


def test_departures_teach_todays_dwell():
    stops = [stop(f"S{i}", 1000.0 * i, 0.0, service_s=100.0) for i in range(1, 6)]
    est = Estimator(route(straight(), stops))
    before = est.dwell_mu.copy()
    for i in (1, 2):
        est.observe_arrival(f"S{i}", 1000.0 * i)
        est.observe_departure(f"S{i}", 1000.0 * i + 300.0)   # three times the plan
    assert all(est.dwell_mu > before * 1.5)


def test_one_hour_at_one_stop_does_not_rewrite_the_afternoon():
    """A truck jammed inside a stop's radius for an hour (or a driver's lunch) is one odd stop,
    not a driver twenty times slower: the other stops' expected service barely moves, while
    a driver steadily twice as slow as planned does move it."""
    stops = [stop(f"S{i}", 1000.0 * i, 0.0, service_s=180.0) for i in range(1, 12)]
    odd = Estimator(route(straight(), stops))
    before = odd.dwell_mu.copy()
    odd.observe_arrival("S1", 1000.0)
    odd.observe_departure("S1", 1000.0 + 3600.0)                # 20x the plan
    assert all(odd.dwell_mu[1:] < before[1:] * 1.5)
    steady = Estimator(route(straight(), stops))
    for i in range(1, 7):
        steady.observe_arrival(f"S{i}", 1000.0 * i)
        steady.observe_departure(f"S{i}", 1000.0 * i + 360.0)   # 2x the plan, six times
    assert all(steady.dwell_mu[7:] > before[7:] * 1.5)


def test_remaining_must_be_in_route_order_and_on_the_route():
    est = Estimator(route(straight(), [stop("A", 1000.0, 0.0), stop("B", 2000.0, 0.0)]))
    before = est.update(fix(0, 0.0, 0.0, V), ["A", "B"])
    with pytest.raises(ValueError, match="route order"):
        est.update(fix(1, V, 0.0, V), ["B", "A"])
    with pytest.raises(ValueError, match="'Z' is not a stop of route"):
        est.update(fix(1, V, 0.0, V), ["A", "Z"])
    # refused lists change nothing: the next fix predicts the stops it had
    after = est.update(fix(1, V, 0.0, V), ["A", "B"])
    assert [s.stop_id for s in after.stops] == ["A", "B"]
    assert after.stops[1].p50 == pytest.approx(before.stops[1].p50, abs=2.0)


def test_stops_leaving_in_order_predict_as_a_list_rebuilt_from_scratch():
    """The usual change (the next stops served or skipped) shifts the per-stop arrays in place;
    any other change rebuilds them. Both must predict alike and score the same calibration
    notes: two trucks on one drive, one told of each served stop the usual way, the other's
    list always rebuilt (given as a list, it never equals a slice of the old tuple)."""
    stops = [stop(f"S{i}", 900.0 * i, 0.0, end_min=10.0 + 4.0 * i) for i in range(1, 11)]
    ids = [s.id for s in stops]
    trucks = [Estimator(route(straight(), stops), history=TravelHistory()) for _ in range(2)]
    outs = [[], []]
    for t in range(0, int(7000.0 / V), 5):
        x = 100.0 + V * t
        left = [sid for sid, s in zip(ids, stops) if 900.0 * int(sid[1:]) > x]
        for k, est in enumerate(trucks):
            if k == 1:
                est._set_remaining(list(left))
            e = est.update(fix(t, x, 0.0, V), left)
            outs[k].append([(s.stop_id, s.p10, s.p50, s.p90, s.p_late) for s in e.stops])
    assert len(outs[0][0]) == 10 and 0 < len(outs[0][-1]) < 5
    assert outs[0] == outs[1]
    pend = [{k: sorted(v) for k, v in est.history.pending.items()} for est in trucks]
    assert pend[0] and pend[0] == pend[1]


def test_distance_to_stop_is_straight_line_metres():
    est = Estimator(route(straight(), [stop("A", 1000.0, 0.0)]))
    assert est.distance_to_stop(fix(0, 1030.0, 40.0), "A") == pytest.approx(50.0, abs=0.1)
    assert est.stop_chainage("A") == pytest.approx(1000.0, abs=1.0)


def test_distances_to_all_stops_at_once_are_each_stops_distance():
    est = Estimator(route(straight(), [stop("A", 1000.0, 0.0), stop("B", 2500.0, 0.0), stop("C", 4000.0, 0.0)]))
    f = fix(0, 2600.0, -80.0)
    assert est.distances_to_stops(f) == [est.distance_to_stop(f, s) for s in "ABC"]
    assert est.distances_to_stops(f)[1] == pytest.approx(math.hypot(100.0, 80.0), abs=0.1)


def test_warm_kernels_runs_every_kernel_and_reports_seconds():
    from forewarn.eta import warm_kernels
    for fleet in (False, True):
        secs = warm_kernels(fleet=fleet)
        assert isinstance(secs, float) and secs >= 0.0


def test_long_hops_between_stops_get_a_faster_prior():
    from forewarn.eta._estimator import prior_speeds
    p = EstimatorParams()
    # 1 km to A, then a 30 km hop to B: town speed before A, highway speed on the hop
    est = Estimator(route(straight(32_000.0, 100.0), [stop("A", 1000.0, 0.0), stop("B", 31_000.0, 0.0)]), p)
    v = prior_speeds(est.model, p)
    mid = 0.5 * (est.model.edges[:-1] + est.model.edges[1:])
    assert v[0] == pytest.approx(p.cruise_speed)
    assert v[len(v) // 2] == pytest.approx(p.highway_speed)
    # ... but leaving A and reaching B (the first and last leg_approach_m of the hop) at town speed
    near = (np.abs(mid - 1000.0) < p.leg_approach_m) | (np.abs(mid - 31_000.0) < p.leg_approach_m)
    assert np.all(v[near] == p.cruise_speed)
    assert np.all(v[~near & (mid > 1000.0) & (mid < 31_000.0)] == p.highway_speed)


def test_a_late_arriving_old_fix_does_not_move_the_truck_back():
    # buffered points replayed out of order after an outage (traccar-web #1090)
    est = Estimator(route(straight(), [stop("A", 2900.0, 0.0)]))
    e1 = drive(est, ["A"], lambda t: V * t, 100)
    e2 = est.update(fix(40, V * 40, 0.0, V), ["A"])
    assert e2.t == e1.t
    assert e2.chainage == e1.chainage
    assert e2.stops[0].p50 - e2.t == pytest.approx(e1.stops[0].p50 - e1.t, abs=1e-6)


def test_route_without_geometry_uses_straight_legs_times_detour():
    stops = [stop("A", 0.0, 0.0, service_s=60.0), stop("B", 1200.0, 1600.0)]
    est = Estimator(route([], stops, geometry=False), EstimatorParams(unforeseen_rate_h=0.0))  # travel alone
    e = est.update(fix(0, 0.0, 0.0, 0.0), ["B"], dwelling=("A", T0.timestamp()))
    assert not e.off_route
    assert e.stops[0].remaining_m == pytest.approx(2000.0 * 1.3, rel=1e-3)
    assert mean_eta(e.stops[0], e.t) == pytest.approx(est.dwell_mu[0] + 2600.0 / V, rel=0.01)


def test_early_tail_is_wider_a_few_minutes_out_than_an_hour_out():
    # a few minutes out what is left is a light or a dwell ending early (symmetric); an hour
    # out the error is the day's traffic, which mostly makes you late (the travel model alone:
    # unforeseen delays move the quantiles, tests/eta/test_unforeseen.py)
    p = EstimatorParams(unforeseen_rate_h=0.0)
    stops = [stop("near", 2500.0, 0.0), stop("far", 9900.0, 0.0)]
    est = Estimator(route(straight(), stops), p)
    e = drive(est, ["near", "far"], lambda t: V * t, 30)
    shares = []
    for s in e.stops:
        med = s.p50 - e.t
        sd = math.log((s.p90 - e.t) / med) / (Z90 * p.tail_up)
        tdn = p.tail_down + p.tail_down_near * math.exp(-med / p.tail_near_s)
        assert s.p10 - e.t == pytest.approx(med * math.exp(-Z90 * sd * tdn), rel=1e-9)
        shares.append(math.log(med / (s.p10 - e.t)) / math.log((s.p90 - e.t) / med))
    assert shares[0] > shares[1]


def test_stops_read_one_by_one_equal_the_stops_read_all_at_once():
    """`Estimate.stops` builds its StopEta tuples when read: read late (after the next fix
    reused the kernel's buffers), by index, negative index or slice, it must equal the tuple
    a twin estimator's result gave when read at once."""
    stops = [stop(f"S{i}", 1500.0 * i, 0.0) for i in range(1, 5)]
    rem = [s.id for s in stops]
    est, twin = Estimator(route(straight(), stops)), Estimator(route(straight(), stops))
    e = est.update(fix(0, 0.0, 0.0, V), rem)
    at_once = tuple(twin.update(fix(0, 0.0, 0.0, V), rem).stops)
    e_next = est.update(fix(10, 10 * V, 0.0, V), rem)
    assert [e.stops[i] for i in range(len(rem))] == list(at_once) and e.stops[-1] == at_once[-1]
    assert e.stops[1:3] == at_once[1:3] and e.stops == at_once and tuple(e.stops) == at_once
    assert [s.stop_id for s in e.stops] == rem and e.stops != e_next.stops
    with pytest.raises(IndexError):
        e.stops[len(rem)]
    with pytest.raises(TypeError):
        hash(e.stops)
    done = est.update(fix(11, 11 * V, 0.0, V), [])
    assert len(done.stops) == 0 and not done.stops and done.stops == ()


def _slow_morning(h: TravelHistory):
    """40 min at 0.6x the town prior (above the stuck state's crawl) on a 30 km road with a stop
    every 4 km, passed without stopping: a slow day. Returns the stops still ahead at the end."""
    stops = [stop(f"S{i}", 4000.0 * i, 0.0) for i in range(1, 8)]
    r = route(straight(30_000.0), stops)
    e = Estimator(r, history=h)
    v = 0.6 * V
    for t in range(0, 2401, 2):
        ahead = [s.id for k, s in enumerate(stops) if 4000.0 * (k + 1) > v * t]
        est = e.update(fix(t, v * t, 0.0, v), ahead)
    return r, ahead, est, v


def test_a_restart_goes_on_with_the_days_pace_and_the_night_forgets_it(tmp_path):
    from forewarn.daemon.store import open_db
    conn = open_db(tmp_path / "state.db")
    h = TravelHistory.load(conn)
    r, ids, before, v = _slow_morning(h)
    h.save(conn)
    conn.close()
    far = lambda est: est.stops[-1].p50 - est.t          # noqa: E731  (S7, ~19 km ahead)

    def restarted(pause_s: float) -> float:
        g = TravelHistory.load(open_db(tmp_path / "state.db"))
        e = Estimator(r, history=g)
        e.resume([])
        return far(e.update(fix(2400 + pause_s, v * 2400, 0.0, v), ids))

    fresh = far(Estimator(r).update(fix(3000, v * 2400, 0.0, v), ids))
    assert fresh < 0.9 * far(before)                     # a cold start forgets the slow morning
    assert restarted(0.0) == pytest.approx(far(before), rel=1e-9)     # a restart alone changes nothing
    assert restarted(600.0) == pytest.approx(far(before), rel=0.03)   # 10 min of lunch: it goes on
    assert restarted(16 * 3600.0) == pytest.approx(fresh, rel=0.01)   # the next morning: a new day
    assert restarted(-3600.0) == pytest.approx(fresh, rel=0.01)       # an older drive (a replay): not its

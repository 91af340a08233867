"""The stuck state on hand-made sequences with known answers: a long queue before a stop must
raise P(late) while there is still time to warn; a red light or a short stop must not; a
stop-and-go queue is a queue, not a recovery; and the extra delay fades once the truck
drives normally again."""
import math

import pytest

from forewarn.eta import Estimator, EstimatorParams
from forewarn.eta import _kernels as K
from forewarn.eta import _stuck

from .geom import T0, fix, route, stop, straight

P = EstimatorParams()
V = P.cruise_speed
STOP_X = 6000.0
JAM_X = STOP_X - 300.0                 # the queue holds the truck 300 m before the stop
T_JAM = int(JAM_X / V)                 # driving at cruise from x=0 reaches it then


def _est(end_min: float) -> Estimator:
    return Estimator(route(straight(), [stop("A", STOP_X, 0.0, end_min=end_min)]))


def _drive_to_jam(est: Estimator):
    e = None
    for t in range(0, T_JAM + 1):
        e = est.update(fix(t, V * t, 0.0, V), ["A"])
    return e


def test_remaining_queue_time_grows_with_the_time_already_stuck():
    prm = P.as_array()
    means = [_stuck.delay(e, prm)[0] for e in (0.0, P.stuck_grace_s, 600.0, 1200.0, 2400.0)]
    assert means[0] == means[1] == 0.0                       # a red light costs nothing extra
    assert 0.0 < means[2] < means[3] < means[4]
    assert means[4] == pytest.approx(2.0 * means[3], rel=0.1)  # scale-free: twice as long, twice as much
    mean, var = _stuck.delay(1200.0, prm)
    median = P.stuck_scale * (1200.0 - P.stuck_grace_s)
    assert mean > median                                     # right-skewed
    assert math.sqrt(var) > 0.5 * mean                       # and wide


def test_clock_runs_when_stuck_holds_on_short_moves_and_fades_once_clear():
    prm = P.as_array()
    e, go = 0.0, -1.0
    for t in range(600):                                     # 10 min at a standstill
        e, go = _stuck.advance(e, go, float(t), 1.0, 0.0, 0, prm)
    assert e == pytest.approx(600.0)
    for t in range(600, 630):                                # a 30 s move of stop-and-go
        e, go = _stuck.advance(e, go, float(t), 1.0, 1.0, 0, prm)
    assert e > 0.85 * 600.0
    for t in range(630, 630 + int(P.stuck_clear_s) + 120):   # then a clear road
        e, go = _stuck.advance(e, go, float(t), 1.0, 1.0, 0, prm)
    assert e < P.stuck_grace_s / 10
    e2, go2 = _stuck.advance(600.0, 5.0, 10.0, 60.0, 0.0, 1, prm)   # serving a stop: not a queue
    assert e2 < 600.0 * 0.1 and go2 == -1.0


def test_stuck_20_min_300_m_before_a_stop_warns_well_before_the_window_ends():
    # the window ends 35 min after the truck got stuck: 15 min after 20 min in the queue
    est = _est(end_min=(T_JAM + 35 * 60) / 60)
    _drive_to_jam(est)
    first_late = None
    p20 = None
    for t in range(T_JAM + 1, T_JAM + 35 * 60):
        e = est.update(fix(t, JAM_X, 0.0, 0.0), ["A"])
        if t == T_JAM + 20 * 60:
            p20 = e.stops[0].p_late
        if first_late is None and e.stops[0].p_late >= 0.7:
            first_late = t
    assert p20 > 0.3                                          # at risk already after 20 min
    assert first_late is not None
    assert T_JAM + 35 * 60 - first_late >= 6 * 60             # late, with time left to warn and sustain


def test_the_old_model_saw_nothing_there():
    """Same sequence without the stuck state (scale 0): P(late) stays low until the very end,
    which is the bug this state fixes."""
    est = Estimator(route(straight(), [stop("A", STOP_X, 0.0, end_min=(T_JAM + 35 * 60) / 60)]),
                    EstimatorParams(stuck_scale=0.0))
    _drive_to_jam(est)
    e = None
    for t in range(T_JAM + 1, T_JAM + 30 * 60):
        e = est.update(fix(t, JAM_X, 0.0, 0.0), ["A"])
    assert e.stops[0].p_late < 0.1


def test_a_red_light_with_margin_does_not_raise_p_late():
    est = _est(end_min=(T_JAM + 20 * 60) / 60)                # 20 min of margin
    e0 = _drive_to_jam(est)
    p50_0 = e0.stops[0].p50
    worst = 0.0
    for t in range(T_JAM + 1, T_JAM + 61):                    # 60 s at a red light
        e = est.update(fix(t, JAM_X, 0.0, 0.0), ["A"])
        worst = max(worst, e.stops[0].p_late)
    assert est._state[K.S_STUCK] < P.stuck_grace_s + 1               # the clock stayed in its grace
    for t in range(T_JAM + 61, T_JAM + 91):                   # and off it goes
        e = est.update(fix(t, JAM_X + V * (t - T_JAM - 60), 0.0, V), ["A"])
        worst = max(worst, e.stops[0].p_late)
    assert worst < 0.05
    assert e.stops[0].p50 < p50_0 + 60 + 60                   # the minute it stood, not much more


def test_stop_and_go_counts_as_stuck_and_clear_road_fades_the_delay():
    est = Estimator(route(straight(12_000.0), [stop("A", 11_000.0, 0.0)]))
    t, x = 0, 0.0
    for t in range(0, 200):
        est.update(fix(t, V * t, 0.0, V), ["A"])
    x = V * 199
    base = est.update(fix(200, x, 0.0, V), ["A"]).stops[0].p50 - T0.timestamp() - 200
    t = 200
    for cycle in range(8):                                    # 8 x (3 min standing, 20 s at 5 m/s)
        for _ in range(180):
            t += 1
            e = est.update(fix(t, x, 0.0, 0.0), ["A"])
        for _ in range(20):
            t += 1
            x += 5.0
            e = est.update(fix(t, x, 0.0, 5.0), ["A"])
    # 8 x 180 s standing: the clock says about that much (the short moves barely wear it)
    assert est._state[K.S_STUCK] > 0.8 * 8 * 180
    left = e.stops[0].p50 - e.t
    plain = (11_000.0 - x) / V
    held = est._state[K.S_STUCK] - P.stuck_grace_s            # a queue, not a recovery: at least
    assert left - plain > 0.8 * P.stuck_scale * held          # the stuck delay's median on top
    for _ in range(240):                                      # 4 min on a clear road
        t += 1
        x += V
        e = est.update(fix(t, x, 0.0, V), ["A"])
    assert est._state[K.S_STUCK] < P.stuck_grace_s
    assert e.stops[0].p50 - e.t == pytest.approx((11_000.0 - x) / V, rel=0.35)
    assert base > 0


def test_running_far_below_the_profile_widens_the_spread():
    """Same stop, same distance left: the widening applies to a truck running at 35% of its
    profile for ten minutes (slow, not stuck: slow traffic is hard to time), not to one
    running at its profile."""
    def run(frac: float, gain: float) -> tuple[float, float]:
        est = Estimator(route(straight(12_000.0), [stop("A", 11_000.0, 0.0, end_min=600)]),
                        EstimatorParams(slow_cv_gain=gain, leg_approach_m=0.0))   # one profile speed throughout
        speed = frac * float(est.vprof[0, 0])
        x0 = 2000.0 - speed * 600
        e = None
        for t in range(0, 601):
            e = est.update(fix(t, x0 + speed * t, 0.0, speed), ["A"])
        s = e.stops[0]
        assert est._state[K.S_STUCK] == 0.0                  # slow, but never stuck
        return math.log((s.p90 - e.t) / (s.p50 - e.t)), s.p50
    slow_on, slow_off = run(0.35, P.slow_cv_gain), run(0.35, 0.0)
    assert slow_on[0] > 1.15 * slow_off[0]
    fast_on, fast_off = run(1.0, P.slow_cv_gain), run(1.0, 0.0)
    assert fast_on[0] == pytest.approx(fast_off[0], rel=0.01)


def test_a_stop_and_go_queue_does_not_slow_the_far_ratio():
    """Queue time is the stuck state's to time. Holds of 80 s (each under the 90 s that
    counts as a long standstill) between short moves once dragged the half-hour ratio down,
    and with it every stretch ahead for the next half hour, on top of the stuck delay."""
    est = Estimator(route(straight(30_000.0), [stop("A", 25_000.0, 0.0)]))
    t, x = 0, 0.0
    for t in range(0, 300):                                  # five minutes at the profile
        x = V * t
        est.update(fix(t, x, 0.0, V), ["A"])
    before = est._state[K.S_RATIO_FAR]
    for _ in range(12):                                      # ~20 min of stop-and-go
        for _ in range(80):
            t += 1
            est.update(fix(t, x, 0.0, 0.0), ["A"])
        for _ in range(15):
            t += 1
            x += V
            est.update(fix(t, x, 0.0, V), ["A"])
    assert est._state[K.S_STUCK] > P.stuck_grace_s           # the stuck state holds the queue ...
    assert est._state[K.S_RATIO_FAR] > 0.9 * before          # ... the far ratio barely saw it

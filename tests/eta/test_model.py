"""Route model: chainage of stops on hand-made geometry with known answers."""
import math

import pytest

from forewarn.eta._model import build_model

from .geom import loop_twice, out_and_back, route, stop, straight


def test_stops_on_a_straight_road_sit_at_their_x():
    r = route(straight(), [stop("A", 1234.0, 3.0), stop("B", 8000.0, -5.0)])
    m = build_model(r)
    assert m.length == pytest.approx(10_000.0, rel=1e-3)
    assert m.stop_s[0] == pytest.approx(1234.0, rel=1e-3)
    assert m.stop_s[1] == pytest.approx(8000.0, rel=1e-3)
    assert m.stop_off[0] == pytest.approx(3.0, abs=0.05)


def test_out_and_back_stops_follow_route_order():
    # A on the way out, C near the far end, B at A's address: served on the way back
    r = route(out_and_back(), [stop("A", 1000.0, 0.0), stop("C", 2500.0, 0.0), stop("B", 1000.0, 4.0)])
    m = build_model(r)
    assert m.stop_s[0] == pytest.approx(1000.0, rel=1e-3)
    assert m.stop_s[2] == pytest.approx(3000.0 + 8.0 + 2000.0, rel=1e-3)


def test_two_customers_at_one_address_share_a_chainage():
    r = route(out_and_back(), [stop("A", 1000.0, 0.0), stop("B", 1000.0, 4.0)])
    m = build_model(r)
    assert m.stop_s[1] == pytest.approx(m.stop_s[0])


def test_loop_same_kerb_twice_goes_to_the_second_lap():
    r = route(loop_twice(), [stop("A", 500.0, 0.0), stop("B", 1000.0, 500.0), stop("C", 500.0, 0.0)])
    m = build_model(r)
    assert list(m.stop_s) == pytest.approx([500.0, 1500.0, 4500.0], rel=1e-3)


def test_without_geometry_legs_are_straight_times_detour():
    r = route([], [stop("A", 0.0, 0.0), stop("B", 3000.0, 4000.0)], geometry=False)
    m = build_model(r)
    assert m.stop_s[1] == pytest.approx(5000.0 * 1.3, rel=1e-3)
    assert not m.has_geometry


def test_stretches_cover_the_route():
    m = build_model(route(straight(1000.0), [stop("A", 500.0, 0.0)]), stretch_m=300.0)
    assert m.edges[0] == 0.0 and m.edges[-1] == pytest.approx(m.length)
    assert m.n_stretches == math.ceil(m.length / 300.0)
    assert m.stretch_heading == pytest.approx([90.0] * m.n_stretches, abs=0.1)


def test_a_window_carries_its_posix_times_also_in_the_hour_that_comes_twice():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from forewarn.eta import Window
    berlin = ZoneInfo("Europe/Berlin")     # the night clocks went back: 02:30 came twice
    start = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=berlin)
    end = datetime(2026, 10, 25, 4, 0, tzinfo=berlin)
    w = Window(start, end)
    assert (w.start_t, w.end_t) == (start.timestamp(), end.timestamp())
    assert w.end_t - w.start_t == 90 * 60
    same = Window(start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC")))
    assert same.start_t == w.start_t and same == Window(same.start, same.end)

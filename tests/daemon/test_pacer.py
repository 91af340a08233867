"""The `eta` topic is rebuilt at most once a second of fix time, and at once on news."""
from forewarn.daemon._publish import Pacer


def test_a_ten_hertz_receiver_rebuilds_the_eta_once_a_second():
    p = Pacer(1.0)
    fixes = [100.0 + 0.1 * k for k in range(50)]          # five seconds at 10 Hz
    due = [t for t in fixes if p.due(t, changed=False)]
    assert len(due) == 5 and due[0] == 100.0
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(due, due[1:]))


def test_news_is_published_at_once_and_restarts_the_second():
    p = Pacer(1.0)
    assert p.due(100.0, False)
    assert not p.due(100.3, False)
    assert p.due(100.4, True)                              # a stop state, a risk, an arrival
    assert not p.due(101.2, False) and p.due(101.4, False)


def test_a_one_hertz_receiver_publishes_every_fix():
    p = Pacer(1.0)
    assert all(p.due(100.0 + k, False) for k in range(10))


def test_time_going_back_or_a_new_route_starts_afresh():
    p = Pacer(1.0)
    assert p.due(100.0, False) and not p.due(100.5, False)
    assert p.due(50.0, False)                              # a replayed older log
    assert not p.due(50.5, False)
    p.reset()                                              # a new route
    assert p.due(50.6, False)

"""The alert rules, one by one, on hand-made prediction sequences with known answers."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from forewarn.config import AlertSettings
from forewarn.daemon._policy import Policy, honest_window, quiet_until
from forewarn.daemon._stops import Risk, StopRecord, StopState
from forewarn.eta import Customer, Stop, StopEta, Window

TZ = ZoneInfo("America/Toronto")
T0 = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc).timestamp()   # 09:00 in Toronto
W_START, W_END = T0 + 3600, T0 + 3 * 3600                           # 10:00-12:00 local
STOP = Stop(id="S1", lat=43.65, lon=-79.38, window=Window(datetime.fromtimestamp(W_START, timezone.utc),
                                                          datetime.fromtimestamp(W_END, timezone.utc)),
            customer=Customer(name="Ana", phone="+14165550123"))


def A(**kw) -> AlertSettings:
    """Settings with a fixed confirmation time unless a test asks for the adaptive one."""
    return AlertSettings(**{"sustain_fraction": 0.0, **kw})


def eta(p50: float, p_late: float, spread: float = 600) -> StopEta:
    return StopEta("S1", p50 - spread, p50, p50 + spread, p_late, 5000.0)


def drive(policy: Policy, rec: StopRecord, seq: list[tuple[float, StopEta]], is_next: bool = False) -> list:
    out, events = [], []
    for now, e in seq:
        out += policy.on_estimate(STOP, rec, e, now, is_next, events)
    return out


def test_window_message_up_front_in_local_time():
    p, rec = Policy(A(quiet_hours=None), TZ), StopRecord("S1")
    d = p.window(STOP, rec, T0)
    assert d.kind == "window" and d.fields == {"day": "today", "start": "10:00", "end": "12:00"}
    assert p.window(STOP, rec, T0 + 60) is None, "at most once"


def test_a_window_already_lost_is_not_announced_the_delay_message_comes_first():
    p, rec = Policy(A(quiet_hours=None), TZ), StopRecord("S1")
    assert p.window(STOP, rec, T0, eta(W_END + 1800, 0.97)) is None and not rec.sent
    assert p.window(STOP, rec, T0 + 60, eta(W_END - 1800, 0.2)).kind == "window"   # it recovered: promised then
    told, p2 = StopRecord("S1"), Policy(A(quiet_hours=None, sustain_s=0), TZ)
    assert [d.kind for d in drive(p2, told, [(T0, eta(W_END + 1800, 0.97))])] == ["delay"]
    assert p2.window(STOP, told, T0 + 60, eta(W_END - 1800, 0.2)) is None, "not the old window after the delay's"


def test_window_message_says_the_day_it_is_read_on():
    """Tomorrow's route installed at 17:00 said "planned today between 10:00 and 12:00"."""
    five_pm = W_START - 17 * 3600                            # 17:00 the day before
    assert Policy(A(quiet_hours=None), TZ).window(STOP, StopRecord("S1"), five_pm).fields["day"] == "tomorrow"
    # held by quiet hours (22:00) until 08:00 on the day itself: then it is today
    ten_pm = W_START - 12 * 3600
    held = Policy(A(quiet_hours="21:00-08:00"), TZ).window(STOP, StopRecord("S1"), ten_pm)
    assert held.fields["day"] == "today" and held.not_before == W_START - 2 * 3600
    # two days ahead (a longer lead): the weekday (2026-11-23 is a Monday)
    far = Policy(A(quiet_hours=None, window_lead_hours=72), TZ).window(STOP, StopRecord("S1"), W_START - 48 * 3600)
    assert far.fields["day"] == "mon"


def test_on_time_route_sends_no_delay():
    p, rec = Policy(A(), TZ), StopRecord("S1")
    seq = [(T0 + i * 30, eta(W_START + 1800, 0.05)) for i in range(100)]
    assert [d.kind for d in drive(p, rec, seq)] == []
    assert rec.risk is Risk.OK


def test_sustained_lateness_sends_exactly_one_delay_with_an_honest_window():
    p, rec = Policy(A(sustain_s=120, sustain_fraction=0), TZ), StopRecord("S1")
    late_eta = W_END + 1800                                 # 12:30 local
    seq = [(T0 + i * 10, eta(late_eta, 0.9)) for i in range(60)]
    ds = drive(p, rec, seq)
    assert [d.kind for d in ds] == ["delay"]
    assert ds[0].fields == {"start": "12:15", "end": "12:45"}   # p10..p90 = 12:20..12:40, rounded out
    assert ds[0].not_before == 0.0, "delays are never held"
    assert rec.risk is Risk.LATE


def test_one_noisy_fix_sends_nothing():
    p, rec = Policy(A(sustain_s=120), TZ), StopRecord("S1")
    seq = []
    for i in range(200):   # P(late) flaps above and below the threshold every fix
        seq.append((T0 + i * 10, eta(W_END - 600, 0.9 if i % 2 else 0.3)))
    assert drive(p, rec, seq) == []


def test_no_delay_once_the_window_has_ended_but_a_plain_sorry():
    p, rec = Policy(A(sustain_s=0), TZ), StopRecord("S1")
    ds = drive(p, rec, [(W_END + 60, eta(W_END + 1200, 1.0)), (W_END + 120, eta(W_END + 1200, 1.0))])
    assert [d.kind for d in ds] == ["sorry_late"]
    assert rec.missed_unwarned


def test_a_window_long_over_is_history_no_customer_hears_of_it_dispatch_does_once():
    p, rec = Policy(A(sustain_s=0), TZ), StopRecord("S1")
    events: list[dict] = []
    week = 7 * 86400.0                       # yesterday's (last week's) manifest, left retained on the broker
    for k in range(3):
        now = W_END + week + 60 * k
        assert p.on_estimate(STOP, rec, eta(now + 180, 1.0), now, True, events) == []
    assert rec.expired and [e["type"] for e in events].count("expired") == 1
    assert "missed_unwarned" not in [e["type"] for e in events]
    assert p.delivered(STOP, rec, W_END + week + 600) is None
    # just inside the limit the plain sorry still goes out; expire_hours = 0 never expires
    assert [d.kind for d in drive(Policy(A(sustain_s=0), TZ), StopRecord("S1"),
                                  [(W_END + 11.9 * 3600, eta(W_END + 12 * 3600, 1.0))])] == ["sorry_late"]
    assert [d.kind for d in drive(Policy(A(sustain_s=0, expire_hours=0), TZ), StopRecord("S1"),
                                  [(W_END + week, eta(W_END + week + 600, 1.0))])] == ["sorry_late"]
    assert StopRecord.from_row(rec.to_row()).expired   # and it stays so across a restart


def test_second_delay_only_when_the_promise_moves_again():
    p, rec = Policy(A(sustain_s=0, delay_margin_minutes=15), TZ), StopRecord("S1")
    first = drive(p, rec, [(T0, eta(W_END + 1800, 0.95))])
    assert [d.kind for d in first] == ["delay"]
    same = drive(p, rec, [(T0 + 60 * i, eta(W_END + 1800 + 60 * i, 0.95)) for i in range(1, 10)])
    assert same == [], "drifting inside the announced window + margin is not news"
    moved = drive(p, rec, [(T0 + 1200, eta(W_END + 1800 + 3600, 0.99))])
    assert [(d.kind, d.seq) for d in moved] == [("delay", 2)]


def test_back_on_time_after_a_delay_once():
    p, rec = Policy(A(sustain_s=60), TZ), StopRecord("S1")
    drive(p, rec, [(T0 + i * 10, eta(W_END + 1800, 0.95)) for i in range(10)])
    assert rec.sent == {"delay": 1}
    ds = drive(p, rec, [(T0 + 200 + i * 10, eta(W_START + 1800, 0.02)) for i in range(30)])
    assert [d.kind for d in ds] == ["back_on_time"]
    assert ds[0].fields == {"start": "10:00", "end": "12:00"}


def test_budget_keeps_room_for_approaching_and_delivered():
    a = A(sustain_s=0, max_messages_per_stop=4, delay_margin_minutes=0)
    p, rec = Policy(a, TZ), StopRecord("S1")
    p.window(STOP, rec, T0)
    for k in range(10):   # the promise keeps moving
        drive(p, rec, [(T0 + k * 60, eta(W_END + 1800 + k * 1800, 0.99))])
    assert rec.sent == {"window": 1, "delay": 1}, "window + delay + the two reserved kinds = 4"
    ds = drive(p, rec, [(W_END + 10 * 3600 - 300, eta(W_END + 10 * 3600, 0.99))], is_next=True)
    assert [d.kind for d in ds] == ["approaching"]
    assert p.delivered(STOP, rec, W_END + 10 * 3600).kind == "delivered"
    assert rec.total_sent == 4


def test_back_on_time_takes_the_approaching_slot_when_the_budget_is_full():
    """window + delay + back_on_time + delivered = 4: the correction matters more than "9 min away"."""
    a = A(sustain_s=60, max_messages_per_stop=4)
    p, rec = Policy(a, TZ), StopRecord("S1")
    p.window(STOP, rec, T0)
    drive(p, rec, [(T0 + i * 10, eta(W_END + 1800, 0.95)) for i in range(10)])
    ds = drive(p, rec, [(T0 + 200 + i * 10, eta(W_START + 3600, 0.02)) for i in range(30)])
    assert [d.kind for d in ds] == ["back_on_time"]
    near = W_START + 3600 - 300
    assert drive(p, rec, [(near, eta(W_START + 3600, 0.0))], is_next=True) == [], "no room left for approaching"
    assert p.delivered(STOP, rec, W_START + 3600).kind == "delivered"
    assert rec.total_sent == 4


def test_approaching_only_for_the_next_stop_and_once():
    p, rec = Policy(A(approaching_minutes=15), TZ), StopRecord("S1")
    assert drive(p, rec, [(T0, eta(T0 + 600, 0.0))], is_next=False) == []
    ds = drive(p, rec, [(T0 + i, eta(T0 + 600, 0.0)) for i in range(5)], is_next=True)
    assert [(d.kind, d.fields["minutes"]) for d in ds] == [("approaching", "10")]


def test_tomorrows_stop_driven_past_tonight_hears_nothing_until_its_run():
    """Tomorrow's route is installed tonight and the truck drives home past its first stop: that
    customer must not hear "about 10 min away" at 18:30, nor dispatch get its 'early' then."""
    p, rec = Policy(A(), TZ), StopRecord("S1")
    events: list[dict] = []
    evening = W_START - 15.5 * 3600                         # 18:30 the evening before a 10:00 window
    assert p.on_estimate(STOP, rec, eta(evening + 600, 0.0), evening, True, events) == []
    assert events == [] and not rec.early_flagged
    morning = W_START - 2 * 3600                            # 08:00, the truck 10 min away: 1 h 50 early
    ds = p.on_estimate(STOP, rec, eta(morning + 600, 0.0), morning, True, events)
    assert [d.kind for d in ds] == ["approaching"] and [e["type"] for e in events] == ["early"]


def _told_10_min_away(p: Policy, rec: StopRecord) -> float:
    """The approaching message goes out at T0 for an arrival at T0 + 10 min; returns that time."""
    ds = drive(p, rec, [(T0, eta(T0 + 600, 0.0))], is_next=True)
    assert [(d.kind, d.fields["minutes"]) for d in ds] == [("approaching", "10")]
    assert ds[0].not_after == T0 + 600, "\"about 10 min away\" is not worth sending after those 10 min"
    return T0 + 600


def test_held_up_once_when_the_eta_slips_far_past_about_n_min_away():
    """A queue after "about 10 min away": the ETA grows a minute a minute; once it is 10 min past
    the promise for `sustain_s`, one message with the new time, and no second one."""
    p, rec = Policy(A(sustain_s=120, held_up_minutes=10), TZ), StopRecord("S1")
    promised = _told_10_min_away(p, rec)
    seq = [(T0 + 60 * k, eta(promised + 60 * k, 0.0)) for k in range(1, 40)]   # stuck: p50 moves with the clock
    ds = drive(p, rec, seq, is_next=True)
    # sent at the first fix 10 min past the promise plus the 2-minute confirmation, T0 + 12 min,
    # with p90 (p50 + 10 min here): "within about 20 min"
    assert [(d.kind, d.fields["minutes"], d.not_before) for d in ds] == [("held_up", "20", 0.0)]
    assert rec.sent == {"approaching": 1, "held_up": 1}
    assert rec.approach_at == T0 + 12 * 60 + 1200
    assert ds[0].not_after == rec.approach_at, "\"within about 20 min\" is stale after those 20 min"


def test_no_held_up_for_small_slips_flapping_slips_or_when_switched_off():
    p, rec = Policy(A(sustain_s=120, held_up_minutes=10), TZ), StopRecord("S1")
    promised = _told_10_min_away(p, rec)
    assert drive(p, rec, [(T0 + 30 * k, eta(promised + 540, 0.0)) for k in range(1, 60)], is_next=True) == []
    flapping = [(T0 + 30 * k, eta(promised + (900 if k % 3 else 0), 0.0)) for k in range(1, 60)]
    assert drive(p, rec, flapping, is_next=True) == [], "one good fix in three restarts the confirmation"
    p, rec = Policy(A(sustain_s=0, held_up_minutes=0), TZ), StopRecord("S1")
    promised = _told_10_min_away(p, rec)
    assert drive(p, rec, [(T0 + 60, eta(promised + 3600, 0.0))], is_next=True) == []


def test_no_held_up_when_a_delay_message_says_it_or_the_truck_is_there():
    p, rec = Policy(A(sustain_s=0, held_up_minutes=10), TZ), StopRecord("S1")
    promised = _told_10_min_away(p, rec)
    late = W_END + 1800                                    # the slip also breaks the window:
    ds = drive(p, rec, [(T0 + 60, eta(late, 0.95)), (T0 + 120, eta(late + 60, 0.95))], is_next=True)
    assert [d.kind for d in ds] == ["delay"], "the delay message carries the news, with a window"
    p, rec = Policy(A(sustain_s=0, held_up_minutes=10, late_probability=0.85, at_risk_probability=0.4), TZ), \
        StopRecord("S1")
    promised = _told_10_min_away(p, rec)
    at_risk = [(T0 + 60 * k, eta(promised + 900, 0.6)) for k in range(1, 20)]
    assert drive(p, rec, at_risk, is_next=True) == [], "window at risk: the slot waits for a delay message"
    p, rec = Policy(A(sustain_s=0, held_up_minutes=10), TZ), StopRecord("S1")
    promised = _told_10_min_away(p, rec)
    rec.state = StopState.ARRIVED
    assert drive(p, rec, [(T0 + 60, eta(promised + 3600, 0.0))], is_next=True) == []


def test_held_up_never_takes_the_slot_a_later_delay_message_needs():
    """Budget 4 with the window told: window + approaching + delivered + a delay = 4, so no held
    up; the default 5 has room for both, and the delay still goes out after the held up."""
    for budget, want in ((4, []), (5, ["held_up"])):
        p, rec = Policy(A(sustain_s=0, held_up_minutes=10, max_messages_per_stop=budget), TZ), StopRecord("S1")
        p.window(STOP, rec, T0)
        promised = _told_10_min_away(p, rec)
        assert [d.kind for d in drive(p, rec, [(T0 + 60, eta(promised + 900, 0.0))], is_next=True)] == want
        late = drive(p, rec, [(T0 + 120, eta(W_END + 1800, 0.95)), (T0 + 180, eta(W_END + 1800, 0.95))], is_next=True)
        assert [d.kind for d in late] == ["delay"], budget
    assert AlertSettings().max_messages_per_stop == 5


def test_the_promise_survives_a_restart_and_old_records_load():
    rec = StopRecord("S1", approach_at=T0 + 600, held_since=T0 + 1200)
    back = StopRecord.from_row(rec.to_row())
    assert (back.approach_at, back.held_since) == (T0 + 600, T0 + 1200)
    old = json.loads(rec.to_row())
    del old["approach_at"], old["held_since"]               # a state file from before this rule
    assert StopRecord.from_row(json.dumps(old)).approach_at is None


def test_quiet_hours_hold_window_but_not_delay():
    a = A(quiet_hours="21:00-08:00", sustain_s=0)
    night = datetime(2026, 11, 23, 7, 0, tzinfo=timezone.utc).timestamp()   # 02:00 in Toronto
    morning = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc).timestamp()  # 08:00 in Toronto
    assert quiet_until(night, TZ, a) == morning
    assert quiet_until(morning, TZ, a) == 0.0
    p, rec = Policy(a, TZ), StopRecord("S1")
    w = p.window(STOP, rec, night)
    assert w.not_before == morning
    ds = drive(p, rec, [(night, eta(W_END + 3600, 0.99))])
    assert ds[0].kind == "delay" and ds[0].not_before == 0.0


def test_quiet_hours_that_do_not_cross_midnight():
    a = A(quiet_hours="12:00-13:30")
    noon = datetime(2026, 11, 23, 17, 15, tzinfo=timezone.utc).timestamp()   # 12:15 Toronto
    assert quiet_until(noon, TZ, a) == datetime(2026, 11, 23, 18, 30, tzinfo=timezone.utc).timestamp()


def test_dispatcher_hears_at_risk_before_customers_hear_late():
    p, rec = Policy(A(at_risk_probability=0.4, late_probability=0.7, sustain_s=0), TZ), StopRecord("S1")
    events: list[dict] = []
    p.on_estimate(STOP, rec, eta(W_END, 0.5), T0, False, events)
    assert [e["risk"] for e in events if e["type"] == "risk"] == ["at_risk"] and rec.sent == {}


def test_early_truck_is_flagged_to_the_dispatcher_once():
    p, rec = Policy(A(early_minutes=30), TZ), StopRecord("S1")
    events: list[dict] = []
    for i in range(3):
        p.on_estimate(STOP, rec, eta(W_START - 3600, 0.0), T0 + i, False, events)
    assert [e["type"] for e in events].count("early") == 1


def test_honest_window_never_starts_in_the_past():
    now = T0 + 1000
    s, e = honest_window(StopEta("S1", now - 900, now + 60, now + 700, 1.0, 1.0), now)
    assert s <= now < e and s % 900 == 0 and e % 900 == 0


def test_a_moved_window_is_announced_again_once():
    from dataclasses import replace
    p, rec = Policy(A(quiet_hours=None), TZ), StopRecord("S1")
    assert p.window(STOP, rec, T0).seq == 1
    assert p.window(STOP, rec, T0 + 10) is None, "same manifest window: nothing new"
    later = Window(datetime.fromtimestamp(W_START + 3600, timezone.utc), datetime.fromtimestamp(W_END + 3600, timezone.utc))
    moved = replace(STOP, window=later)
    d = p.window(moved, rec, T0 + 20)
    assert (d.kind, d.seq, d.fields) == ("window", 2, {"day": "today", "start": "11:00", "end": "13:00"})
    assert p.window(moved, rec, T0 + 30) is None


def test_confirmation_is_longer_when_the_window_end_is_far():
    """3 h before the window ends a worry must hold 20 min (cap); 10 min before, 2 min will do."""
    a = A(sustain_s=120, sustain_fraction=0.2, sustain_max_s=1200)
    p, rec = Policy(a, TZ), StopRecord("S1")
    far = drive(p, rec, [(T0 + i * 60, eta(W_END + 1800, 0.95)) for i in range(21)])
    assert [(d.kind, round((T0 + 20 * 60) - T0)) for d in far] == [("delay", 1200)]
    p, rec = Policy(a, TZ), StopRecord("S1")
    near = drive(p, rec, [(W_END - 600 + i * 30, eta(W_END + 600, 0.95)) for i in range(6)])
    assert [d.kind for d in near] == ["delay"] and rec.late_since == W_END - 600


def test_delivered_inferred_from_gps_waits_for_the_drivers_word():
    """Leaving the stop is how GPS says "delivered"; the driver's "fail" (nobody in) tapped
    after driving off must still be able to withdraw it: it waits delivered_hold_s."""
    day = W_START + 600                                     # 10:10 local, outside quiet hours
    gps = Policy(A(delivered_hold_s=120), TZ).delivered(STOP, StopRecord("S1"), day, by_gps=True)
    said = Policy(A(delivered_hold_s=120), TZ).delivered(STOP, StopRecord("S1"), day)
    assert gps.not_before == day + 120 and said.not_before == 0.0
    assert Policy(A(delivered_hold_s=0), TZ).delivered(STOP, StopRecord("S1"), day, by_gps=True).not_before == 0.0

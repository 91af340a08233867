"""NmeaDecoder on hand-built streams: one behaviour per test, named after the behaviour."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from forewarn.devices import FixMode, NmeaDecoder, Quality, iter_fixes
from tests.devices.nmea import KNOT, T0, drive, epoch, sentence


def decode(lines: list[str], **kw: object) -> tuple[list, NmeaDecoder]:
    dec = NmeaDecoder(**kw)  # type: ignore[arg-type]
    return list(iter_fixes(lines, dec)), dec


def test_one_epoch_of_rmc_gga_gsa_becomes_one_complete_fix() -> None:
    fixes, dec = decode(epoch(T0, 51.5, -0.12, speed=12.0, course=270.0, alt=35.5))
    assert len(fixes) == 1
    f = fixes[0]
    assert f.time == T0
    assert f.lat == pytest.approx(51.5, abs=1e-7) and f.lon == pytest.approx(-0.12, abs=1e-7)
    assert f.alt == 35.5 and f.mode == FixMode.FIX_3D and f.quality == Quality.GPS
    assert f.speed == pytest.approx(12.0, abs=0.01) and f.course == 270.0
    assert f.sats == 8 and f.hdop == 0.9
    assert dec.sentences == 3 and not dec.counters


def test_mixed_talkers_give_one_fix_per_epoch_with_the_combined_position() -> None:
    lines: list[str] = []
    for i in range(3):
        when = T0 + timedelta(seconds=i)
        lines += epoch(when, 10.0, 20.0, talker="GP")
        lines += epoch(when, 10.0001, 20.0001, talker="GN")   # the combined solution
        lines += epoch(when, 10.0002, 20.0002, talker="GL")
    fixes, _ = decode(lines)
    assert [f.time for f in fixes] == [T0 + timedelta(seconds=i) for i in range(3)]
    assert all(f.lat == pytest.approx(10.0001, abs=1e-7) for f in fixes)


def test_gga_only_stream_has_no_date_until_told() -> None:
    lines = [ln for ln in drive(T0, 3, with_date=False)]
    fixes, dec = decode(lines)
    assert fixes == [] and dec.counters["no_date"] == 3
    fixes, _ = decode(lines, date_hint=lambda: date(2026, 11, 23))
    assert [f.time for f in fixes] == [T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)]


def test_zda_dates_a_gga_only_stream() -> None:
    zda = sentence("GPZDA", "100000.00", "23", "11", "2026", "00", "00")
    fixes, _ = decode([zda, *drive(T0, 2, with_date=False)])
    assert [f.time for f in fixes] == [T0, T0 + timedelta(seconds=1)]


def test_gga_only_stream_rolls_the_date_over_at_midnight() -> None:
    before = datetime(2026, 11, 23, 23, 59, 58, tzinfo=timezone.utc)
    zda = sentence("GPZDA", "235958.00", "23", "11", "2026", "00", "00")
    fixes, _ = decode([zda, *drive(before, 4, with_date=False)])
    assert [f.time for f in fixes] == [before + timedelta(seconds=i) for i in range(4)]
    assert fixes[-1].time.date() == date(2026, 11, 24)


def test_a_stale_last_date_gives_way_to_a_plausible_clock_but_not_to_an_unset_one() -> None:
    """A GGA-only stream days after the last dated epoch (receiver swapped, feed quiet for
    days) takes the system clock's date; a gateway whose clock says 1970 keeps the receiver's."""
    week_later = T0 + timedelta(days=6, hours=1)
    lines = [*drive(T0, 1), *drive(week_later, 2, with_date=False)]
    fixes, dec = decode(lines, date_hint=lambda: week_later.date(), not_before=date(2024, 1, 1))
    assert [f.time for f in fixes] == [T0, week_later, week_later + timedelta(seconds=1)]
    assert dec.counters["stale_date_replaced"] == 1      # then the clock's date is the last known one
    fixes, dec = decode(lines, date_hint=lambda: date(1970, 1, 1), not_before=date(2024, 1, 1))
    assert [f.time.date() for f in fixes] == [T0.date()] * 3 and not dec.counters["stale_date_replaced"]


def test_gst_gives_the_horizontal_error() -> None:
    gst = sentence("GPGST", "100000.00", "1.2", "3.0", "2.0", "45", "3.0", "4.0", "5.0")
    fixes, _ = decode([*epoch(T0, 1.0, 1.0), gst])
    assert fixes[0].eph == pytest.approx(5.0) and fixes[0].horizontal_error() == 5.0


def test_vtg_gives_motion_when_rmc_is_absent() -> None:
    gga = [ln for ln in epoch(T0, 1.0, 1.0, with_date=False)]
    vtg = sentence("GPVTG", "45.0", "T", "", "M", "10.0", "N", "18.5", "K", "A")
    fixes, _ = decode([*gga, vtg], date_hint=lambda: T0.date())
    assert fixes[0].course == 45.0 and fixes[0].speed == pytest.approx(10 * KNOT)


@pytest.mark.parametrize(("line", "reason"), [
    ("$GPRMC,100000.00,A,5114.4,N,00644.4,E,19.44,90.0,231126,,,A*00", "checksum"),
    ("$GPRMC,100000.00,A,5114.4,N,00644.4,E,19.44,90.0,231126,,,A", "no_checksum"),
    ("$GPRMC,100000.00,A,5114.4,N,006", "truncated"),
    (b"\xb5b\x01\x07\x5c\x00\x00\xff\xfe", "garbage"),
    ("$GPGSV,3,1,11,03,03,074,38,06,15,348,36,07,18,022,52,11,13,133,36*75", "unsupported"),
    ("$PSRF150,1*3E", "unsupported"),
    (sentence("GPRMC", "100000.00", "V", "", "", "", "", "", "", "231126", "", "", "N"),
     "invalid_fix"),
])
def test_bad_lines_are_counted_by_reason_and_yield_nothing(line: str | bytes, reason: str) -> None:
    dec = NmeaDecoder()
    fixes = dec.feed(line) + dec.flush()
    assert fixes == [] and dec.counters[reason] == 1, dict(dec.counters)


def test_gga_quality_zero_is_an_invalid_fix() -> None:
    gga = sentence("GPGGA", "100000.00", "5114.4", "N", "00644.4", "E", "0", "00", "", "", "M",
                   "", "M", "", "")
    _, dec = decode([gga])
    assert dec.counters["invalid_fix"] == 1 and not dec.has_fix


def test_a_cut_off_sentence_glued_to_the_next_loses_only_the_head() -> None:
    good = epoch(T0, 1.0, 1.0)
    glued = "$GPGGA,030130" + good[2]
    fixes, dec = decode([*good[:2], glued])
    assert len(fixes) == 1 and dec.counters["truncated"] == 1


def test_teseo_double_dollar_and_stray_prefix_bytes_are_tolerated() -> None:
    lines = ["$" + ln if i % 2 else "r" + ln for i, ln in enumerate(drive(T0, 2))]
    fixes, dec = decode(lines)
    assert len(fixes) == 2 and not dec.counters


def test_an_impossible_jump_is_dropped_and_the_gate_resyncs_on_a_consistent_track() -> None:
    lines = drive(T0, 3, lat=10.0)
    lines += epoch(T0 + timedelta(seconds=3), 11.0, 6.74)           # 111 km in 1 s
    lines += drive(T0 + timedelta(seconds=4), 3, lat=10.0, lon=6.74 + 40 / 111_320)
    fixes, dec = decode(lines)
    assert dec.counters["jump"] == 1
    assert [f.time.second for f in fixes] == [0, 1, 2, 4, 5, 6]
    # a real teleport (receiver moved while off): three consistent epochs are believed
    far = drive(T0 + timedelta(seconds=10), 4, lat=40.0)
    fixes, dec = decode(drive(T0, 2) + far)
    assert dec.counters["jump"] == 2 and fixes[-1].lat == pytest.approx(40.0, abs=1e-6)


def test_time_going_backwards_is_dropped() -> None:
    lines = drive(T0, 3) + epoch(T0 - timedelta(seconds=30), 51.24, 6.74)
    fixes, dec = decode(lines)
    assert len(fixes) == 3 and dec.counters["time_backwards"] == 1


def test_end_of_cycle_is_learned_so_live_fixes_are_not_held_for_the_next_epoch() -> None:
    dec = NmeaDecoder()
    lines = drive(T0, 4)
    emitted_at = [i for i, ln in enumerate(lines) if dec.feed(ln)]
    # epochs 0 and 1 complete when the next starts; from epoch 2 on, on their last sentence
    assert emitted_at == [3, 6, 8, 11]


def test_week_rollover_dates_are_moved_forward_by_1024_weeks() -> None:
    old = datetime(2007, 4, 8, 10, 0, tzinfo=timezone.utc)  # 1024 weeks before 2026-11-22
    fixes, dec = decode(epoch(old, 1.0, 1.0), not_before=date(2020, 1, 1))
    assert fixes[0].time == old + timedelta(weeks=1024)
    assert dec.counters["week_rollover_fixed"] == 1


def test_feed_never_raises_on_hostile_input() -> None:
    dec = NmeaDecoder()
    for junk in ["", "$", "$GPRMC", "$GPRMC,*", "$GPGGA," + "," * 500 + "*00", "\x00" * 80,
                 "$GPRMC,999999,A,9999.9,N,99999.9,E,,,991399,,,A*00", b"\xff$GPGGA\xfe"]:
        assert dec.feed(junk) == []
    assert dec.counters["internal_error"] == 0


def test_two_whole_sentences_on_one_line_both_count() -> None:
    gga, gsa, rmc = epoch(T0, 1.0, 1.0)
    fixes, dec = decode([gga + gsa, rmc])   # a lost line ending
    assert len(fixes) == 1 and fixes[0].alt == 100.0 and dec.sentences == 3
    assert not dec.counters


def test_dead_reckoning_and_rtk_are_reported_as_quality() -> None:
    rmc = sentence("GPRMC", "100000.00", "A", "5114.4", "N", "00644.4", "E", "10.0", "90.0",
                   "231126", "", "", "E")
    fixes, _ = decode([rmc])
    assert fixes[0].quality == Quality.DEAD_RECKONING
    gga = sentence("GNGGA", "100001.00", "5114.4", "N", "00644.4", "E", "4", "12", "0.6",
                   "50.0", "M", "47.0", "M", "1.0", "0000")
    fixes, _ = decode([rmc, gga])
    assert fixes[-1].quality == Quality.RTK and fixes[-1].mode == FixMode.FIX_3D


def test_gns_only_receiver_with_per_constellation_modes() -> None:
    gns = sentence("GNGNS", "100000.00", "5114.4", "N", "00644.4", "E", "NDA", "14", "0.8",
                   "60.0", "47.0", "", "", "V")
    zda = sentence("GPZDA", "100000.00", "23", "11", "2026", "00", "00")
    fixes, _ = decode([zda, gns])
    assert fixes[0].quality == Quality.DGPS and fixes[0].sats == 14 and fixes[0].alt == 60.0
    none = sentence("GNGNS", "100001.00", "5114.4", "N", "00644.4", "E", "NN", "00", "", "",
                    "", "", "", "V")
    fixes, dec = decode([zda, none])
    assert fixes == [] and dec.counters["invalid_fix"] == 1


def test_rollover_repair_never_dates_a_fix_in_the_future() -> None:
    """A 2009 recording replayed into a live port is not "repaired" to 2029."""
    old = datetime(2009, 7, 7, 14, 0, tzinfo=timezone.utc)
    fixes, dec = decode(epoch(old, 1.0, 1.0), not_before=date(2026, 1, 1),
                        date_hint=lambda: date(2026, 11, 23))
    assert fixes[0].time == old and dec.counters["old_date_kept"] == 1


def test_end_of_cycle_is_learned_even_when_the_number_of_gsv_messages_varies() -> None:
    def gsv(talker: str, n: int) -> list[str]:
        return [sentence(f"{talker}GSV", str(n), str(i), "09", "01", "40", "083", "46")
                for i in range(1, n + 1)]

    dec = NmeaDecoder()
    emitted_after_gsv_group = 0
    for i in range(6):
        for line in epoch(T0 + timedelta(seconds=i), 1.0, 1.0) + gsv("GP", 3 + i % 2):
            if dec.feed(line) and "GSV" in line:
                emitted_after_gsv_group += 1
    # learned after two epochs; then every epoch completes on its last GSV, not 1 s later
    assert emitted_after_gsv_group >= 3 and dec.flush() == []


def test_a_wrongly_learned_end_of_cycle_is_counted_and_unlearned() -> None:
    dec = NmeaDecoder()
    lines = drive(T0, 3)                       # GGA, GSA, RMC: RMC learned as the end
    gga, gsa, rmc = epoch(T0 + timedelta(seconds=3), 51.24, 6.74 + 40 / 69_800)
    fixes = [f for ln in lines + [rmc, gga, gsa] for f in dec.feed(ln)]  # order changes
    assert dec.counters["after_end_of_cycle"] == 1
    assert len(fixes) == 4 and fixes[-1].alt is None   # emitted on RMC, before its GGA
    more = drive(T0 + timedelta(seconds=4), 3, lon=6.74 + 80 / 69_800)
    fixes = [f for ln in more for f in dec.feed(ln)] + dec.flush()
    assert len(fixes) == 3 and all(f.alt == 100.0 for f in fixes)

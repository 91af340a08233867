"""NMEA 0183 lines in, one `Fix` per receiver epoch out: pure, synchronous, never raises.

Why this shape: every source (serial, gpsd-less MQTT, file replay) and the replay/backtest
code need the same interpretation of the same bytes, so the decoding is a plain object fed
one line at a time, with no clock and no I/O. Bad input is counted by a named reason in
`counters` instead of raised, because a receiver that emits garbage must not stop the
daemon, and operators need to see *why* fixes are missing.

Epoch boundaries: an epoch starts with the first position sentence (RMC, GGA, GNS, GLL)
carrying a new time of day; untimed sentences (VTG, GSA) join the epoch in progress. It
ends when the next one starts, or earlier, as gpsd does, when the sentence that ended the
previous two epochs arrives (the receiver's "end of cycle"), so a live fix is not held
back for a whole second. Talkers are merged: GN, GP, GL… of one instant are one fix.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time, timedelta, timezone

import pynmea2

from ._epoch import MODE_QUALITY, Epoch
from ._fields import KMH, KNOT, angle, calendar_date, integer, num, rmc_date, time_of_day
from ._fix import Fix, Quality
from ._frame import frame
from ._gate import FixGate

_PAD = [""] * 24
_SAME_EPOCH_S = 0.01         # same instant: float noise, and GLL stamped 200619.295 beside
                             # GGA/RMC 200619.30 (Magellan eXplorist); 100 Hz would need less
_HALF_DAY_S = 43_200.0
_GPS_WEEK_ERA = timedelta(weeks=1024)


class NmeaDecoder:
    """Feed lines, get fixes. See the module docstring for why it is built this way."""

    def __init__(
        self,
        *,
        max_speed_mps: float = 90.0,
        stale_after_s: float = 5.0,
        not_before: date | None = None,
        date_hint: Callable[[], date | None] | None = None,
    ) -> None:
        """`not_before`: fixes dated earlier are moved forward by whole 1024-week GPS eras
        (receivers with stale firmware after a week-number rollover report 1999 or 2006).
        `date_hint`: where a GGA-only stream gets its date when no RMC/ZDA has given one
        (the daemon passes the system clock's UTC date; file decoding passes nothing)."""
        self.max_speed_mps = max_speed_mps
        self.stale_after_s = stale_after_s
        self.not_before = not_before
        self.date_hint = date_hint
        self.counters: Counter[str] = Counter()
        self.sentences = 0
        self.has_fix = False      # did the last completed epoch give a usable fix?
        self._gate = FixGate(max_speed_mps, counters=self.counters)
        self._cur: Epoch | None = None
        self._ref: tuple[date, float] | None = None  # last known (UTC date, time of day)
        self._last_gsa_mode = 0     # GSA is often sent at a lower rate than RMC (iTrek)
        self._ender: tuple[str, int] | None = None
        self._ender_address, self._ender_count = "", 0  # the same, unpacked for speed
        self._ender_candidate: tuple[str, int] | None = None
        self._handlers: dict[str, Callable[[str, list[str], list[Fix]], None]] = {
            "RMC": self._rmc, "GGA": self._gga, "GNS": self._gns, "GLL": self._gll,
            "VTG": self._vtg, "GSA": self._gsa, "ZDA": self._zda, "GST": self._gst,
        }

    # -- public -----------------------------------------------------------------------
    def feed(self, line: str | bytes) -> list[Fix]:
        """Consume one line (with or without its line ending); return completed fixes.

        A line holding several sentences (a lost line ending glues them together) is split
        at each `$`; a cut-off head is then counted on its own and the rest still parses.
        """
        out: list[Fix] = []
        try:
            if isinstance(line, str):
                line = line.encode("utf-8", "replace")
            if line.count(b"$") > 1:
                for piece in _split_sentences(line):
                    self._feed(piece, out)
            else:
                self._feed(line, out)
        except Exception:  # a bug here must cost one line, not the daemon
            self.counters["internal_error"] += 1
        return out

    def flush(self) -> list[Fix]:
        """Complete the epoch in progress (end of stream, or the line went quiet)."""
        out: list[Fix] = []
        cur, self._cur = self._cur, None
        if cur is not None and not cur.emitted:
            try:
                self._complete(cur, out)
            except Exception:
                self.counters["internal_error"] += 1
        return out

    # -- line handling ----------------------------------------------------------------
    def _feed(self, line: str | bytes, out: list[Fix]) -> None:
        sentence, address, reason = frame(line)
        if reason is not None:
            self.counters[reason] += 1
        if sentence is not None:
            try:
                msg = pynmea2.parse(sentence, check=True)
            except pynmea2.ChecksumError:
                self.counters["checksum"] += 1
            except Exception:  # ParseError, SentenceTypeError, and whatever else it throws
                self.counters["garbage"] += 1
            else:
                self.sentences += 1
                data = msg.data
                if len(data) < 24:
                    data = data + _PAD
                self._handlers[address[2:]](address[:2], data, out)
        cur = self._cur
        if address and cur is not None and not cur.emitted:
            seen = cur.seen
            n = seen[address] = seen.get(address, 0) + 1
            cur.last_address = address
            if n == self._ender_count and address == self._ender_address:
                cur.emitted = True
                self._complete(cur, out)

    def _epoch_for(self, tod: float, out: list[Fix], *, primary: bool = True) -> Epoch:
        """The epoch a position sentence at `tod` belongs to, completing the previous one.
        `primary` (RMC/GGA/GNS) times win over GLL's when they differ by a few ms."""
        cur = self._cur
        if cur is not None and abs(cur.tod - tod) < _SAME_EPOCH_S:
            if cur.emitted:
                # A position sentence after the learned end of cycle: the marker was wrong
                # (the receiver changed its order). Count it and learn again.
                self.counters["after_end_of_cycle"] += 1
                self._ender = self._ender_candidate = None
                self._ender_address, self._ender_count = "", 0
            elif primary and not cur.primary_time:
                cur.tod, cur.primary_time = tod, True
            return cur
        if cur is not None:
            self._learn_end_of_cycle(cur)
            if not cur.emitted:
                self._complete(cur, out)
        self._cur = Epoch(tod, primary_time=primary)
        return self._cur

    def _learn_end_of_cycle(self, done: Epoch) -> None:
        """The last sentence of two epochs in a row is taken as the end-of-cycle marker."""
        if not done.last_address:
            return
        last = (done.last_address, done.seen[done.last_address])
        if last == self._ender:
            return
        self._ender = last if last == self._ender_candidate else None
        self._ender_candidate = last
        self._ender_address, self._ender_count = self._ender or ("", 0)

    # -- sentence types (d = pynmea2's raw field strings, padded) ---------------------
    def _rmc(self, talker: str, d: list[str], out: list[Fix]) -> None:
        tod = time_of_day(d[0])
        if tod is None:
            self._untimed(d[1] == "V" or d[11] == "N")
            return
        ep = self._epoch_for(tod, out)
        if d[1] != "A" or d[11] == "N":
            ep.invalid = True
        ep.set_position(talker, angle(d[2], d[3], 90), angle(d[4], d[5], 180))
        speed, course = num(d[6]), num(d[7])
        if speed is not None and speed >= 0:
            ep.speed, ep.rmc_motion = speed * KNOT, True
        if course is not None and 0 <= course <= 360:
            ep.course, ep.rmc_motion = course % 360.0, True
        day = rmc_date(d[8])
        if day is not None:
            ep.date = day
        if d[11] in MODE_QUALITY:
            ep.mode_quality = MODE_QUALITY[d[11]]

    def _gga(self, talker: str, d: list[str], out: list[Fix]) -> None:
        tod = time_of_day(d[0])
        quality = integer(d[5])
        if tod is None:
            self._untimed(quality == 0)
            return
        ep = self._epoch_for(tod, out)
        if quality is None or quality == 0 or quality > 8:
            ep.invalid = ep.invalid or quality == 0
            return
        if not ep.set_position(talker, angle(d[1], d[2], 90), angle(d[3], d[4], 180)):
            return
        ep.quality = Quality(quality)
        ep.sats = integer(d[6])
        hdop, alt = num(d[7]), num(d[8])
        ep.hdop = hdop if hdop is not None and hdop > 0 else None
        ep.alt = alt if alt is not None and -1000.0 < alt < 100_000.0 else None

    def _gns(self, talker: str, d: list[str], out: list[Fix]) -> None:
        tod = time_of_day(d[0])
        modes = d[5]
        if tod is None:
            self._untimed(bool(modes) and set(modes) <= {"N"})
            return
        ep = self._epoch_for(tod, out)
        best = max((MODE_QUALITY.get(c, Quality.INVALID) for c in modes),
                   key=_quality_rank, default=Quality.INVALID)
        if best == Quality.INVALID:
            ep.invalid = True
            return
        rank_before = ep.pos_rank
        if not ep.set_position(talker, angle(d[1], d[2], 90), angle(d[3], d[4], 180)):
            return
        ep.mode_quality = best
        if rank_before == ep.pos_rank and ep.alt is not None:
            return  # the same talker's GGA already said it all, with more precision
        sats, hdop, alt = integer(d[6]), num(d[7]), num(d[8])
        ep.sats = sats
        ep.hdop = hdop if hdop is not None and hdop > 0 else None
        ep.alt = alt if alt is not None and -1000.0 < alt < 100_000.0 else None

    def _gll(self, talker: str, d: list[str], out: list[Fix]) -> None:
        tod = time_of_day(d[4])
        if tod is None:
            self._untimed(d[5] == "V")
            return
        ep = self._epoch_for(tod, out, primary=False)
        if d[5] != "A" or d[6] == "N":
            ep.invalid = ep.invalid or ep.lat is None
            return
        ep.set_position(talker, angle(d[0], d[1], 90), angle(d[2], d[3], 180))
        if d[6] in MODE_QUALITY and ep.mode_quality is None:
            ep.mode_quality = MODE_QUALITY[d[6]]

    def _vtg(self, talker: str, d: list[str], out: list[Fix]) -> None:
        ep = self._cur
        if ep is None or ep.rmc_motion:
            return
        course = num(d[0])
        knots, kmh = num(d[4]), num(d[6])
        if course is not None and 0 <= course <= 360:
            ep.course = course % 360.0
        if knots is not None and knots >= 0:
            ep.speed = knots * KNOT
        elif kmh is not None and kmh >= 0:
            ep.speed = kmh * KMH

    def _gsa(self, talker: str, d: list[str], out: list[Fix]) -> None:
        ep = self._cur
        mode = integer(d[1])
        if mode in (1, 2, 3):
            self._last_gsa_mode = mode
        if ep is None:
            return
        if mode in (1, 2, 3):
            ep.gsa_mode = max(ep.gsa_mode, mode)
        hdop = num(d[15])
        if hdop is not None and hdop > 0 and ep.hdop is None:
            ep.hdop = hdop

    def _zda(self, talker: str, d: list[str], out: list[Fix]) -> None:
        tod = time_of_day(d[0])
        year, month, day = integer(d[3]), integer(d[2]), integer(d[1])
        if tod is None or year is None or month is None or day is None:
            self.counters["no_date"] += 1
            return
        when = calendar_date(year, month, day)
        if when is None:
            self.counters["no_date"] += 1
            return
        self._ref = (when, tod)
        ep = self._cur
        if ep is not None and abs(ep.tod - tod) < _SAME_EPOCH_S:
            ep.date = when

    def _gst(self, talker: str, d: list[str], out: list[Fix]) -> None:
        ep, tod = self._cur, time_of_day(d[0])
        if ep is None or tod is None or abs(ep.tod - tod) >= _SAME_EPOCH_S:
            return
        sig_lat, sig_lon = num(d[5]), num(d[6])
        if sig_lat is not None and sig_lon is not None and sig_lat >= 0 and sig_lon >= 0:
            ep.eph = math.hypot(sig_lat, sig_lon)

    def _untimed(self, says_no_fix: bool) -> None:
        """A position sentence without a usable time: nothing to place it in."""
        self.counters["invalid_fix" if says_no_fix else "no_time"] += 1
        if says_no_fix:
            self.has_fix = False

    # -- completion -------------------------------------------------------------------
    def _complete(self, ep: Epoch, out: list[Fix]) -> None:
        if ep.invalid or ep.lat is None or ep.lon is None or (ep.lat == 0.0 and ep.lon == 0.0):
            self.counters["invalid_fix"] += 1
            self.has_fix = False
            return
        day = ep.date or self._date_for(ep.tod)
        if day is None:
            self.counters["no_date"] += 1
            return
        self._ref = (day, ep.tod)
        if ep.gsa_mode == 0:
            ep.gsa_mode = self._last_gsa_mode
        when = datetime.combine(day, time(), timezone.utc) + timedelta(seconds=ep.tod)
        if self.not_before is not None and when.date() < self.not_before:
            when = self._repair_rollover(when)
        fix = Fix(
            time=when, lat=ep.lat, lon=ep.lon, alt=ep.alt, speed=ep.speed,
            course=ep.course, mode=ep.fix_mode(), quality=ep.fix_quality(), sats=ep.sats,
            hdop=ep.hdop if ep.hdop is not None else ep.gsa_hdop, eph=ep.eph,
        )
        if self._gate.check(fix) is not None:  # counted by the gate
            return
        self.has_fix = True
        out.append(fix)

    def _repair_rollover(self, when: datetime) -> datetime:
        """Move a too-old fix forward by whole 1024-week eras, but never past tomorrow by
        the date hint (system clock): a recording replayed into a port stays as dated."""
        latest = self.date_hint() if self.date_hint is not None else None
        moved = when
        while moved.date() < self.not_before:  # type: ignore[operator]
            moved += _GPS_WEEK_ERA
        if latest is not None and moved.date() > latest + timedelta(days=1):
            self.counters["old_date_kept"] += 1
            return when
        self.counters["week_rollover_fixed"] += 1
        return moved

    def _date_for(self, tod: float) -> date | None:
        """Date of an epoch whose sentences carried none: roll the last known date over
        midnight if the time of day wrapped, else ask the hint (system clock).

        A live stream's last known date can be stale: the receiver was swapped, or the MQTT
        feed went quiet for days and came back GGA-only. When a plausible system clock (not
        before `not_before`) is more than a day away from it, the clock wins; a gateway
        without a set clock (1970) keeps the receiver's date.
        """
        hint = self.date_hint() if self.date_hint is not None else None
        if self._ref is None:
            return hint
        day, ref_tod = self._ref
        if tod < ref_tod - _HALF_DAY_S:
            day += timedelta(days=1)
        elif tod > ref_tod + _HALF_DAY_S:
            day -= timedelta(days=1)
        if (hint is not None and (self.not_before is None or hint >= self.not_before)
                and abs((hint - day).days) > 1):
            self.counters["stale_date_replaced"] += 1
            return hint
        return day


def _split_sentences(line: bytes) -> list[bytes]:
    """`b"$GPGGA,0301$GPGLL,...*41"` -> each `$…` piece; `$$GNRMC` (ST Teseo) stays one."""
    pieces = []
    start = 0
    while True:
        nxt = line.find(b"$", start + 1)
        while nxt == start + 1 and line[start:nxt] == b"$":  # a run of `$`: one prefix
            start, nxt = nxt, line.find(b"$", nxt + 1)
        if nxt < 0:
            pieces.append(line[start:])
            return [p for p in pieces if p.strip(b"$ \t\r\n\x00")]
        pieces.append(line[start:nxt])
        start = nxt


def _quality_rank(q: Quality) -> int:
    """Order GNS per-constellation modes by how good a fix they mean."""
    return (0, 1, 3, 4, 6, 5, 2, 0, 0)[q]


def iter_fixes(lines: Iterable[str | bytes], decoder: NmeaDecoder | None = None) -> Iterator[Fix]:
    """Decode a whole recording synchronously (replay, tests); flushes at the end."""
    decoder = decoder or NmeaDecoder()
    for line in lines:
        yield from decoder.feed(line)
    yield from decoder.flush()

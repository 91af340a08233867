"""Property-based: random bytes and mutated real sentences never make the decoder raise,
and nothing it yields is out of range. Mutations re-checksum the sentence (with pynmea2)
so they get past the checksum and reach the field conversion and epoch assembly."""
from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import pynmea2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forewarn.devices import Fix, NmeaDecoder
from forewarn.devices._frame import USED_TYPES

DATA = Path(__file__).parent.parent / "data"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def real_sentences() -> list[str]:
    """Sentences of the types we decode, from a few captures with many receivers in them."""
    out: list[str] = []
    for name in ("gpsd/nl2008u.log", "gpsd/ublox-neo-m9n-nmea.log", "gpsd/sl869.log",
                 "gpsd/nmea-rtk.log", "gpsd/quectel-eg25-g.log", "gpsd/isync.log",
                 "gpsd/humminbird-M37.log", "tizen-replay/nmea_replay.log"):
        for line in (DATA / name).read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("$") and line[3:6] in USED_TYPES and "*" in line:
                out.append(line)
    return out


def rechecksum(body: str) -> str:
    """`body` without `$`/`*hh` -> a sentence with a valid checksum (pynmea2's)."""
    return f"${body}*{pynmea2.NMEASentence.checksum(body):02X}"


FIELD_JUNK = st.sampled_from(["", "-", "-1", "0", "99999999", "1e308", "nan", "inf", "A", "V",
                              "N", "S", "E", "W", "235960", "9959.9999", "18000.0", "..", " "])


@st.composite
def mutated(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(real_sentences()))
    body = line[1:line.rfind("*")]
    fields = body.split(",")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(1, max(1, len(fields) - 1)))
        choice = draw(st.integers(0, 3))
        if choice == 0 and i < len(fields):
            fields[i] = draw(FIELD_JUNK)
        elif choice == 1 and i < len(fields):
            fields[i] = draw(st.text(st.characters(min_codepoint=32, max_codepoint=126,
                                                   exclude_characters="$*,"), max_size=12))
        elif choice == 2:
            del fields[i:]
        else:
            fields.insert(i, draw(FIELD_JUNK))
    sentence = rechecksum(",".join(fields))
    if draw(st.booleans()):  # and sometimes break the framing too
        cut = draw(st.integers(0, len(sentence)))
        sentence = sentence[:cut] + draw(st.sampled_from(["", "$", "*", "\x00", "\r", "$$"]))
    return sentence


def assert_sane(fixes: list[Fix]) -> None:
    for f in fixes:
        assert -90.0 <= f.lat <= 90.0 and -180.0 <= f.lon <= 180.0
        assert math.isfinite(f.lat) and math.isfinite(f.lon)
        assert f.time.tzinfo is not None
        assert f.speed is None or (math.isfinite(f.speed) and f.speed >= 0)
        assert f.course is None or 0.0 <= f.course < 360.0
        assert f.alt is None or math.isfinite(f.alt)


@FUZZ
@given(st.lists(st.binary(max_size=120), max_size=20))
def test_random_bytes_never_raise(chunks: list[bytes]) -> None:
    dec = NmeaDecoder()
    fixes = [f for chunk in chunks for f in dec.feed(chunk)] + dec.flush()
    assert_sane(fixes)
    assert dec.counters["internal_error"] == 0


@FUZZ
@given(st.lists(st.one_of(mutated(), st.sampled_from(real_sentences())), min_size=1,
                max_size=40))
def test_mutated_real_sentences_never_raise_nor_escape_range(lines: list[str]) -> None:
    dec = NmeaDecoder()
    fixes = [f for line in lines for f in dec.feed(line)] + dec.flush()
    assert_sane(fixes)
    assert dec.counters["internal_error"] == 0

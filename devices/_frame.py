"""Cut one raw receiver line down to the NMEA sentence in it, before pynmea2 sees it.

Why a pre-filter at all: real serial dumps glue junk to sentences (a stray byte before `$`,
the `$$` prefix of ST Teseo firmware, the cut-off head of a previous sentence, binary
protocol frames, NUL bytes), and most lines of a busy receiver are sentence types we never
use (GSV, TXT, proprietary). Finding the last `$` and reading the five-letter address costs
far less than a full pynmea2 parse, so unused types are counted and dropped here and only
the handful of types the epoch assembler reads go through `pynmea2.parse(check=True)`.
Checksums are deliberately *not* recomputed here: pynmea2 does that (FIELD-NOTES).
"""
from __future__ import annotations

from typing import Final, NamedTuple

#: Sentence types the epoch assembler reads (the talker prefix is ignored).
USED_TYPES: Final = frozenset({"RMC", "GGA", "GNS", "GLL", "VTG", "GSA", "ZDA", "GST"})

#: Fewest comma-separated fields (address included) a complete sentence of each type has,
#: so a line without `*hh` can be told apart as "truncated" (cut off) or "no_checksum"
#: (a receiver that never sends one, like the HP 58534A in the corpus).
MIN_FIELDS: Final = {
    "RMC": 12, "GGA": 15, "GNS": 13, "GLL": 7, "VTG": 9, "GSA": 18, "ZDA": 7, "GST": 9,
}

_STRIP: Final = b" \t\r\n\x00"


class Framed(NamedTuple):
    """What the pre-filter found in one line.

    `sentence` is the `$…*hh` text to hand to pynmea2 (None: nothing usable). `reason`
    names why the line was dropped (None: it was not).
    """

    sentence: str | None
    address: str  # talker + type, e.g. "GNRMC" ("" when none; "GPGSV/last" ends a group)
    reason: str | None


_BLANK: Final = Framed(None, "", None)


_USED_B: Final = frozenset(t.encode() for t in USED_TYPES)


def frame(line: str | bytes) -> Framed:
    """Find the sentence in `line`; never raises."""
    if isinstance(line, str):
        line = line.encode("utf-8", "replace")
    dollar = line.rfind(b"$")
    if dollar < 0:
        stripped = line.strip(_STRIP)
        if not stripped or stripped.startswith(b"#"):
            return _BLANK  # blank line, or a capture-file comment: not receiver data
        return Framed(None, "", "garbage")
    # Bytes before the last `$` are a stray prefix (tomtom's "r", Teseo's "$$"); lines with
    # several sentences are split by the decoder before they get here.
    if dollar > 0 and line[:dollar].lstrip(_STRIP).startswith(b"#"):
        return _BLANK
    # Fast path first: most lines of a busy receiver are types we skip (GSV, TXT, P...),
    # and the 3-letter type is readable without decoding anything.
    if (line[dollar + 3:dollar + 6] not in _USED_B or line[dollar + 6:dollar + 7] != b","
            or line[dollar + 1:dollar + 2] == b"P"):
        return _unused(line[dollar:].rstrip(_STRIP))
    tail = line[dollar:].rstrip(_STRIP)
    if not tail.isascii():
        return Framed(None, "", "garbage")
    text = tail.decode("ascii")
    address, kind = text[1:6], text[3:6]
    star = text.rfind("*")
    if star < 0:
        short = text.count(",") + 1 < MIN_FIELDS[kind]
        return Framed(None, address, "truncated" if short else "no_checksum")
    if len(text) - star != 3:
        return Framed(None, address, "truncated" if len(text) - star < 3 else "garbage")
    return Framed(text, address, None)


def _unused(tail: bytes) -> Framed:
    """Name what a line of a type we do not decode is: unsupported, truncated or noise."""
    if len(tail) >= 2 and tail[1:2] == b"P":
        return Framed(None, "", "unsupported")  # proprietary: $Pxxx, any length
    if len(tail) < 7:
        return Framed(None, "", "truncated")
    if not tail.isascii():
        return Framed(None, "", "garbage")
    address = tail[1:6].decode("ascii")
    if address[2:] == "GSV" and _ends_gsv_group(tail):
        # The number of GSV messages changes with the satellites in view; "the last GSV of
        # the group" is a stable end-of-cycle marker where "the 3rd GPGSV" is not.
        address += "/last"
    return Framed(None, address, "unsupported")


def _ends_gsv_group(tail: bytes) -> bool:
    """`$GPGSV,3,3,…`: message number equals message count."""
    fields = tail.split(b",", 3)
    return len(fields) > 3 and fields[1] == fields[2]

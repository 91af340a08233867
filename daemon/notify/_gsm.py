"""GSM 03.38 arithmetic: an SMS is one segment of 160 GSM-7 units, or of 70 UCS-2 chars
as soon as one character falls outside GSM-7 — which triples the bill for a long text."""
from __future__ import annotations

import unicodedata

_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENDED = set("^{}\\[~]|€\f")  # escape + char: two units each

GSM_SEGMENT = 160
UCS2_SEGMENT = 70


def is_gsm(text: str) -> bool:
    return all(c in _BASIC or c in _EXTENDED for c in text)


def gsm_length(text: str) -> int:
    """Units the text takes in GSM-7 (extension characters count twice)."""
    return sum(2 if c in _EXTENDED else 1 for c in text)


def segment_budget(text: str) -> int:
    return GSM_SEGMENT if is_gsm(text) else UCS2_SEGMENT


def sms_length(text: str) -> int:
    return gsm_length(text) if is_gsm(text) else len(text)


# What Twilio's "smart encoding" substitutes too: typographic punctuation from
# spreadsheets and CRMs, so "O’Connor" does not turn a whole SMS into UCS-2.
_PUNCT = {"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
          "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
          "\u2013": "-", "\u2014": "-", "\u2010": "-", "\u2011": "-", "\u2212": "-",
          "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u00ab": '"', "\u00bb": '"'}


def to_gsm(text: str) -> str:
    """Best effort: keep GSM characters, straighten typographic punctuation, strip
    accents GSM lacks ("Zoë" -> "Zoe"), keep anything else as is (a name in another
    script stays readable, at UCS-2 cost)."""
    out = []
    for c in text:
        if c in _BASIC or c in _EXTENDED:
            out.append(c)
            continue
        if c in _PUNCT:
            out.append(_PUNCT[c])
            continue
        base = "".join(ch for ch in unicodedata.normalize("NFKD", c) if not unicodedata.combining(ch))
        out.append(base if base and all(b in _BASIC for b in base) else c)
    return "".join(out)

"""Phone numbers: E.164 validation (the toll-fraud guard) and masking for logs and events.

Numbers come from route manifests written by other systems; a typo or a premium-rate
number in another country must be refused before Twilio bills us for it.
"""
from __future__ import annotations

import re
from collections.abc import Collection

import phonenumbers

# "+" and digits (as Twilio quotes numbers), or a bare run of 10-15 digits; not dates or codes.
_FRAUD_TYPES = frozenset({phonenumbers.PhoneNumberType.PREMIUM_RATE, phonenumbers.PhoneNumberType.SHARED_COST})
_PHONE_RE = re.compile(r"\+\d[\d \-]{6,18}\d|(?<!\w)\d{10,15}(?!\w)")


def mask_phone(e164: str) -> str:
    """`+14165550123` -> `+1416555**23`: enough for a dispatcher to tell customers apart,
    not enough to call them from a log file."""
    s = (e164 or "").strip()
    if len(s) < 7:
        return "***"
    return f"{s[:-4]}**{s[-2:]}"


def mask_phones_in(text: str) -> str:
    """Mask anything that looks like a phone number in free text (provider error messages
    quote the number)."""
    return _PHONE_RE.sub(lambda m: mask_phone(re.sub(r"[ \-]", "", m.group(0))), text)


def _allowed(num: phonenumbers.PhoneNumber, allowed: Collection[str]) -> bool:
    region = phonenumbers.region_code_for_number(num) or ""
    calling = str(num.country_code)
    for a in allowed:
        a = a.strip()
        if a.upper() == region or a.lstrip("+") == calling:
            return True
    return False


def normalize_phone(raw: str, allowed_countries: Collection[str] = ()) -> str:
    """Return `raw` as E.164 or raise ValueError saying what is wrong with it
    (not a number / invalid / premium-rate / country not allowed).

    `allowed_countries` holds ISO regions ("CA", "US") and/or calling codes ("+1", "33");
    empty means any country. The error names the problem but masks the number.
    """
    masked = mask_phone(str(raw))
    try:
        num = phonenumbers.parse(str(raw), None)
    except phonenumbers.NumberParseException as e:
        raise ValueError(f"not a phone number in international +CC form ({masked}): {e}") from None
    if not phonenumbers.is_valid_number(num):
        raise ValueError(f"invalid phone number {masked}")
    if phonenumbers.number_type(num) in _FRAUD_TYPES:
        # Premium-rate and shared-cost lines bill the caller: the classic toll-fraud target.
        raise ValueError(f"premium-rate number refused: {masked}")
    if allowed_countries and not _allowed(num, allowed_countries):
        region = phonenumbers.region_code_for_number(num) or "?"
        raise ValueError(f"country not allowed for {masked}: {region} (+{num.country_code})")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)

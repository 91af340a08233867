"""normalize_phone: the E.164 gate and toll-fraud guard; mask_phone: what logs may show."""
import pytest

from forewarn.daemon.notify import mask_phone, normalize_phone


@pytest.mark.parametrize("raw, want", [
    ("+14165550123", "+14165550123"),
    ("+1 (416) 555-0123", "+14165550123"),
    ("+33 6 12 34 56 78", "+33612345678"),
])
def test_accepts_international_forms_and_returns_e164(raw, want):
    assert normalize_phone(raw) == want


@pytest.mark.parametrize("raw, problem", [
    ("call me maybe", "not a phone number"),
    ("4165550123", "not a phone number"),     # no country: we never guess a region
    ("+1416555", "invalid"),
    ("+1 099 555 0123", "invalid"),           # NANP area codes never start with 0
])
def test_refuses_what_is_not_a_valid_number(raw, problem):
    with pytest.raises(ValueError, match=problem):
        normalize_phone(raw)


def test_country_allow_list_by_region_or_calling_code():
    assert normalize_phone("+14165550123", ["CA"]) == "+14165550123"
    assert normalize_phone("+33612345678", ["+33"]) == "+33612345678"
    assert normalize_phone("+33612345678", ["33", "CA"]) == "+33612345678"
    with pytest.raises(ValueError, match="country not allowed") as e:
        normalize_phone("+33612345678", ["CA", "US"])
    assert "+33612345678" not in str(e.value)     # the error masks the number
    with pytest.raises(ValueError, match="country not allowed"):
        normalize_phone("+12125550123", ["CA"])   # same +1, other region: the region decides


def test_mask_phone_hides_digits():
    assert mask_phone("+14165550123") == "+1416555**23"
    assert "0123" not in mask_phone("+14165550123")
    assert mask_phone("") == "***"


def test_masking_free_text_leaves_codes_and_dates_alone():
    from forewarn.daemon.notify._phone import mask_phones_in
    text = "HTTP 400 code 21211 at 2026-11-23 10:00: The 'To' number +14165550123 is not valid (4165550123)"
    out = mask_phones_in(text)
    assert "+1416555**23" in out and "+14165550123" not in out and "4165550123" not in out
    assert "21211" in out and "2026-11-23 10:00" in out


@pytest.mark.parametrize("premium", ["+19002345678", "+449012345678", "+33891123456"])
def test_premium_rate_numbers_are_refused_even_in_allowed_countries(premium):
    with pytest.raises(ValueError, match="premium-rate"):
        normalize_phone(premium, ["US", "GB", "FR"])

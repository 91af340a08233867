"""render(): per-locale files, safe filling, one GSM-7 segment for ordinary names."""
import tomllib
from pathlib import Path

import pytest

from forewarn.daemon.notify import TemplateError, gsm_length, is_gsm, render
from forewarn.daemon.notify._templates import FIELDS, voice_language

TEMPLATES = Path(__file__).resolve().parents[2] / "config" / "templates"
SAMPLE = {"name": "Ana", "day": "tomorrow", "start": "10:00", "end": "12:00", "minutes": "15", "time": "09:40"}
TYPICAL_NAMES = ["Ana", "Jean-Baptiste Lefèvre", "Mohammed Al-Rashidi", "Zoë O'Connor",
                 "Dr. Bartholomew Featherstonehaugh-Smythe"]


def fields_for(kind, **over):
    return {f: over.get(f, SAMPLE[f]) for f in FIELDS[kind]}


@pytest.mark.parametrize("locale", ["en", "fr"])
def test_every_template_file_covers_every_kind_in_gsm7(locale):
    data = tomllib.loads((TEMPLATES / f"{locale}.toml").read_text("utf-8"))
    assert set(data["messages"]) == set(FIELDS)
    for text in [*data["messages"].values(), *data["extras"].values(), *data["days"].values()]:
        assert is_gsm(text), text  # one accent outside GSM-7 would make every SMS UCS-2 (70 chars)


@pytest.mark.parametrize("locale", ["en", "fr"])
@pytest.mark.parametrize("kind", sorted(FIELDS))
@pytest.mark.parametrize("name", TYPICAL_NAMES)
def test_typical_names_fit_one_segment_and_times_survive(locale, kind, name):
    f = fields_for(kind, name=name)
    text = render(kind, locale, **f, rating=True)
    assert is_gsm(text) and gsm_length(text) <= 160, (len(text), text)
    for k in ("start", "end", "minutes", "time"):
        if k in f:
            assert f[k] in text


def test_languages_differ_and_fields_land():
    en = render("window", "en", name="Ana", day="today", start="10:00", end="12:00")
    fr = render("window", "fr", name="Ana", day="today", start="10:00", end="12:00")
    assert en == "Hi Ana, your delivery is planned today between 10:00 and 12:00. We will let you know if that changes."
    assert fr.startswith("Bonjour Ana") and "prévue aujourd'hui entre 10:00 et 12:00" in fr


@pytest.mark.parametrize("locale,day,said", [("en", "tomorrow", "planned tomorrow between"),
                                             ("en", "wed", "planned on Wednesday between"),
                                             ("fr", "tomorrow", "prévue demain entre"),
                                             ("fr", "sun", "prévue dimanche entre")])
def test_the_window_says_its_day(locale, day, said):
    assert said in render("window", locale, name="Ana", day=day, start="10:00", end="12:00")


def test_a_day_that_is_not_a_key_is_refused():
    with pytest.raises(TemplateError, match="day"):
        render("window", "en", name="Ana", day="Tuesday", start="10:00", end="12:00")


@pytest.mark.parametrize("evil", ["{0.__class__}", "{name}", "{start}", "%s%n", "{0.__init__.__globals__}"])
def test_names_are_printed_literally_never_interpreted(evil):
    text = render("approaching", "en", name=evil, minutes="15")
    assert text == f"Hi {evil}, your driver is about 15 min away."


def test_control_characters_and_newlines_are_flattened():
    text = render("approaching", "en", name="Ana\nSTOP\x00 now", minutes="15")
    assert "\n" not in text and "\x00" not in text and "Ana STOP now" in text


def test_long_name_is_shortened_first_name_then_cut_never_the_times():
    name = "Maximiliana-Theodora " + "X" * 30
    text = render("sorry_late", "fr", name=name, start="14:30", end="16:30")
    assert gsm_length(text) <= 160
    assert "14:30" in text and "16:30" in text
    assert "Maximiliana" in text or "Max" in text


def test_accents_outside_gsm_are_stripped_from_names_to_stay_gsm():
    text = render("approaching", "fr", name="Chloë Hélène Çağlar", minutes="5")
    assert is_gsm(text)
    assert "Chloe" in text and "Hélène" in text  # é is GSM-7, ë is not


def test_rating_prompt_only_when_asked():
    assert "1-5" not in render("delivered", "en", name="Ana", rating=False)
    assert render("delivered", "en", name="Ana", rating=True).endswith("Reply 1-5 to rate it.")
    assert "de 1 à 5" in render("delivered", "fr", name="Ana", rating=True)


def test_locale_fallbacks():
    assert render("early", "fr-CA", name="Ana", time="09:40").startswith("Bonjour")
    assert render("early", "de", name="Ana", time="09:40").startswith("Hi")
    assert voice_language("fr") == "fr-FR" and voice_language("fr-CA") == "fr-CA"
    assert voice_language("de") == "en-US"


def test_contract_errors_are_loud():
    with pytest.raises(TemplateError, match="missing field"):
        render("window", "en", name="Ana", day="today", start="10:00")
    with pytest.raises(TemplateError, match="unknown message kind"):
        render("teleported", "en", name="Ana")


def test_typographic_punctuation_in_names_keeps_the_sms_gsm():
    text = render("approaching", "en", name="Siobhán O\u2019Connor \u2013 Unit 4", minutes="15")
    assert is_gsm(text) and "O'Connor - Unit 4" in text


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=80), locale=st.sampled_from(["en", "fr", "fr-CA", "xx"]),
       kind=st.sampled_from(sorted(FIELDS)))
def test_any_name_renders_in_one_line_keeps_the_times_and_a_gsm_text_fits_one_segment(name, locale, kind):
    f = fields_for(kind, name=name)
    text = render(kind, locale, **f)
    for k in ("start", "end", "minutes", "time"):
        if k in f:
            assert f[k] in text
    assert not any(c in text for c in "\n\r\t\x00")
    if is_gsm(text):
        assert gsm_length(text) <= 160


def test_a_name_in_another_script_is_kept_whole_when_shortening_cannot_reach_one_segment():
    name = "李小龙 王"
    text = render("sorry_late", "en", name=name, start="14:30", end="16:30")
    assert name in text    # UCS-2 and over 70 anyway: cutting the name would buy nothing
    text = render("approaching", "en", name="李小龙 " + "王" * 40, minutes="5")
    assert len(text) <= 70 and text.startswith("Hi 李小龙")


def test_voice_channel_uses_spoken_text_and_never_asks_for_an_sms_reply():
    said = render("delivered", "en", name="Ana", rating=True, channel="voice")
    assert "Reply" not in said and said.startswith("Hi Ana")
    assert "minutes away" in render("approaching", "en", name="Ana", minutes="15", channel="voice")
    assert "15 minutes" in render("approaching", "fr", name="Ana", minutes="15", channel="voice")
    # voice is not squeezed into an SMS segment: the whole name is said
    long_name = "Maximiliana-Theodora " + "X" * 30
    assert long_name in render("sorry_late", "en", name=long_name, start="14:30", end="16:30", channel="voice")

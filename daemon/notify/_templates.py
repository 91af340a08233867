"""Customer texts from per-locale TOML files under config/templates/.

Why not str.format: a customer name is data from a manifest, and format() would evaluate
"{0.__class__}" inside it. Placeholders are substituted once, in a single pass over the
template, so nothing inside a value is ever interpreted.
"""
from __future__ import annotations

import re
import tomllib
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ._gsm import segment_budget, sms_length, to_gsm

FIELDS: dict[str, tuple[str, ...]] = {
    "window": ("name", "day", "start", "end"),
    "delay": ("name", "start", "end"),
    "approaching": ("name", "minutes"),
    "delivered": ("name",),
    "back_on_time": ("name", "start", "end"),
    "sorry_late": ("name", "start", "end"),
    "early": ("name", "time"),
    "held_up": ("name", "minutes"),
    "attempted": ("name",),
}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# `day` is given as one of these keys and said in the customer's language by the file's [days]
# table: "today", "tomorrow", or the weekday of a window further ahead
DAY_KEYS = ("today", "tomorrow", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MAX_NAME = 40


class TemplateError(ValueError):
    """A template file or a render call does not fit the kinds/fields contract."""


def _templates_dir() -> Path:
    return Path(str(resources.files("forewarn.config") / "templates"))


@lru_cache(maxsize=16)
def _load(locale: str) -> dict[str, Any] | None:
    path = _templates_dir() / f"{locale}.toml"
    if not path.is_file():
        return None
    with path.open("rb") as f:
        data = tomllib.load(f)
    for table in ("messages", "voice"):
        for kind, text in data.get(table, {}).items():
            if kind not in FIELDS:
                raise TemplateError(f"{path.name}: [{table}] unknown message kind {kind!r}")
            unknown = set(_PLACEHOLDER.findall(text)) - set(FIELDS[kind])
            if unknown:
                raise TemplateError(f"{path.name}: [{table}] {kind} uses unknown field(s) {sorted(unknown)}")
    missing = set(DAY_KEYS) - set(data.get("days", {}))
    if missing:
        raise TemplateError(f"{path.name}: [days] lacks {sorted(missing)}")
    return data


def _candidates(locale: str) -> list[str]:
    loc = (locale or "en").replace("_", "-").lower()
    out = [loc]
    if "-" in loc:
        out.append(loc.split("-", 1)[0])
    out.append("en")
    return out


def template_set(locale: str, kind: str) -> dict[str, Any]:
    """The file that has `kind` for `locale`, falling back to the bare language, then en."""
    for loc in _candidates(locale):
        data = _load(loc)
        if data and kind in data.get("messages", {}):
            return data
    raise TemplateError(f"no template for kind {kind!r} (locale {locale!r}, nor en)")


def voice_language(locale: str) -> str:
    """The <Say language=...> tag for a customer locale ("fr" -> "fr-FR")."""
    if "-" in (locale or "") and len(locale) > 2:
        return locale
    for loc in _candidates(locale):
        data = _load(loc)
        if data and data.get("voice_language"):
            return str(data["voice_language"])
    return "en-US"


def extra_text(locale: str, name: str) -> str:
    for loc in _candidates(locale):
        data = _load(loc)
        if data and name in data.get("extras", {}):
            return str(data["extras"][name])
    return ""


def _clean(value: Any) -> str:
    """One line of printable text: control characters and newlines out (they would break
    an SMS layout or a log line), whitespace collapsed."""
    s = "".join(" " if unicodedata.category(c).startswith("C") else c for c in str(value))
    return " ".join(s.split())


def _fill(template: str, fields: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: fields[m.group(1)], template)


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(v)


def render(kind: str, locale: str, **fields: Any) -> str:
    """The customer text for `kind` in `locale` (fallback en).

    Fits one SMS segment where possible by shortening the name (first name, then cut),
    never the times: a wrong name is a nuisance, a wrong time is a broken promise.
    `delivered` takes `rating` (bool) to append the 1-5 rating request. An optional
    `channel="voice"` uses the file's [voice] text for the kind if it has one, drops the
    SMS-only rating request (nobody can reply to a call) and skips SMS length fitting.
    """
    if kind not in FIELDS:
        raise TemplateError(f"unknown message kind {kind!r}")
    voice = str(fields.get("channel", "sms")) == "voice"
    data = template_set(locale, kind)
    template = data["messages"][kind]
    if voice:
        template = data.get("voice", {}).get(kind, template)
    missing = [f for f in FIELDS[kind] if f not in fields]
    if missing:
        raise TemplateError(f"{kind}: missing field(s) {missing}")
    values = {f: _clean(fields[f]) for f in FIELDS[kind]}
    if "day" in values:
        words = data.get("days", {})
        if values["day"] not in DAY_KEYS or values["day"] not in words:
            raise TemplateError(f"{kind}: day {values['day']!r} is not one of {DAY_KEYS} in {data.get('locale')}.toml [days]")
        values["day"] = str(words[values["day"]])
    suffix = ""
    if kind == "delivered" and _truthy(fields.get("rating", False)) and not voice:
        suffix = " " + extra_text(data.get("locale", locale), "rating")
    if voice:
        return _fill(template, values) + suffix
    name = to_gsm(values["name"])[:_MAX_NAME].strip()

    def build(n: str) -> str:
        return _fill(template, {**values, "name": n}) + suffix

    full = build(name)
    if _fits(full):
        return full
    first = build(name.split(" ")[0])
    if _fits(first):
        return first
    over = sms_length(first) - segment_budget(first)
    cut = build(name.split(" ")[0][: max(1, len(name.split(" ")[0]) - over)])
    # Mangle the name only if that buys a single segment (a long UCS-2 text may not fit anyway).
    return cut if _fits(cut) else full


def _fits(text: str) -> bool:
    return sms_length(text) <= segment_budget(text)

"""One error type for every bad input a user can hand us (config, manifest, arguments).

It carries *all* the problems found, each naming the file and the field, because an operator
fixing a config over a cellular SSH session wants the whole list in one go (FIELD-NOTES).
"""
from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, Iterable

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class Problem:
    source: str   # file path, or e.g. "mqtt:fleet/truck-17/route"
    field: str    # dotted path, e.g. "stops[2].window.end"; "" for the whole document
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.field}" if self.field else self.source
        return f"{where}: {self.message}"


class ConfigError(ValueError):
    """Bad input. `problems` lists every finding; str() is the human-readable list."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def loc_to_path(loc: tuple) -> str:
    """pydantic's ('stops', 2, 'window', 'end') -> 'stops[2].window.end'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_SENSITIVE = ("url", "password", "token", "secret")
SHOW_KEYS_MAX = 12   # an unknown key's message lists the allowed ones when there are no more than this


def _step(t: Any, part: str | int) -> Any:
    """The type found at `part` inside type `t` (a model's field, a list's item, a dict's
    value), looking through Optional and unions; None where there is no such thing."""
    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        for a in typing.get_args(t):
            found = _step(a, part)
            if found is not None:
                return found
        return None
    if isinstance(part, int):
        return typing.get_args(t)[0] if origin in (list, tuple) and typing.get_args(t) else None
    if isinstance(t, type) and issubclass(t, BaseModel):
        for name, f in t.model_fields.items():
            if part in (name, f.alias):
                return f.annotation
        return None
    if origin is dict and len(typing.get_args(t)) == 2:
        return typing.get_args(t)[1]
    return None


def allowed_keys(model: type[BaseModel], loc: tuple) -> list[str] | None:
    """The keys a section at `loc` of `model`'s document may have (None: not a known section)."""
    t: Any = model
    for part in loc:
        t = _step(t, part)
        if t is None:
            return None
    for a in typing.get_args(t) or (t,):        # Optional[Section]: the section
        if isinstance(a, type) and issubclass(a, BaseModel):
            return [f.alias or name for name, f in a.model_fields.items() if not f.exclude]
    return None


def unknown_key(key: object, allowed: list[str] | None) -> str:
    """'unknown key (not allowed); did you mean "baudrate"?': the likely typo named, or the
    keys the section takes, so an operator on a slow SSH session fixes it in one go."""
    msg = "unknown key (not allowed)"
    if not allowed:
        return msg
    near = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    if near:
        return f"{msg}; did you mean {near[0]!r}?"
    if len(allowed) <= SHOW_KEYS_MAX:
        return f"{msg}; allowed here: {', '.join(allowed)}"
    return msg


def from_pydantic(source: str, exc, model: type[BaseModel] | None = None) -> ConfigError:
    """Every finding of a pydantic validation, named by file and field. With the `model` that
    was validated, unknown keys come with the likely intended one."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if p not in ("function-after", "function-before"))
        # discriminated/union branches put the model name in loc; drop the type tags
        loc = tuple(p for p in loc if not (isinstance(p, str) and p[:1].isupper() and "[" in p))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = unknown_key(loc[-1] if loc else "", allowed_keys(model, loc[:-1]) if model else None)
        elif err["type"] == "missing":
            msg = "required but missing"
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        inp = err.get("input")
        if any(isinstance(p, str) and any(w in p for w in _SENSITIVE) for p in loc):
            inp = None   # a URL may carry credentials; a token is a token: never echo them
        if err["type"] not in ("missing", "extra_forbidden") and isinstance(inp, (str, int, float)) and not isinstance(inp, bool):
            shown = repr(inp) if len(repr(inp)) < 60 else repr(inp)[:57] + "..."
            msg = f"{msg} (got {shown})"
        problems.append(Problem(source, loc_to_path(loc), msg))
    return ConfigError(problems)

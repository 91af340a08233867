"""One error type for every bad input a user can hand us (config, manifest, arguments).

It carries *all* the problems found, each naming the file and the field, because an operator
fixing a config over a cellular SSH session wants the whole list in one go (FIELD-NOTES).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


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


def from_pydantic(source: str, exc) -> ConfigError:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if p not in ("function-after", "function-before"))
        # discriminated/union branches put the model name in loc; drop the type tags
        loc = tuple(p for p in loc if not (isinstance(p, str) and p[:1].isupper() and "[" in p))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not allowed)"
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

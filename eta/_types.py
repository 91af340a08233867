"""What the estimator hands to the rest of forewarn after each fix."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import repeat
from typing import NamedTuple, overload

import numpy as np


class StopEta(NamedTuple):
    """Arrival prediction for one remaining stop. Times are POSIX seconds (UTC).

    A NamedTuple rather than a dataclass: the estimator builds up to a few hundred of these
    per fix, and a NamedTuple is built ~6x faster (same fields, attribute access and
    immutability; use `_asdict()` / `_replace()` instead of dataclasses.asdict/replace).
    """

    stop_id: str
    p10: float
    p50: float
    p90: float
    p_late: float          # P(arrival after window end)
    remaining_m: float     # distance still to drive to this stop along the route


_tnew = tuple.__new__


class StopEtas(Sequence[StopEta]):
    """The remaining stops' predictions, turned into `StopEta` tuples only when read.

    Why lazy: at 150 stops, building the tuples (~20 us: 750 Python floats, 150 tuples) costs
    more than the whole Numba update (~15 us), and the allocator's occasional slow path is most
    of the p99. A caller that reads one stop, or none, before the next fix (a depot server, a
    policy that looks at the next stop) no longer pays for all of them; a caller that iterates
    pays what it always did, once (the tuples are kept). Compares equal to the tuple of the
    same `StopEta`s.
    """

    __slots__ = ("_ids", "_cols", "_all")

    def __init__(self, ids: tuple[str, ...], cols: np.ndarray) -> None:
        self._ids = ids          # stop ids, route order
        self._cols = cols        # (p10, p50, p90, p_late, remaining_m) x stop: a private copy
        self._all: tuple[StopEta, ...] | None = None

    def _tuple(self) -> tuple[StopEta, ...]:
        if self._all is None:
            self._all = tuple(map(_tnew, repeat(StopEta), zip(self._ids, *self._cols.tolist())))
        return self._all

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[StopEta]:
        return iter(self._tuple())

    @overload
    def __getitem__(self, i: int) -> StopEta: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[StopEta, ...]: ...

    def __getitem__(self, i: int | slice) -> StopEta | tuple[StopEta, ...]:
        if self._all is not None or isinstance(i, slice):
            return self._tuple()[i]
        j = range(len(self._ids))[i]          # IndexError and negative indices as a tuple's
        return _tnew(StopEta, (self._ids[j], *self._cols[:, j].tolist()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StopEtas):
            return self._tuple() == other._tuple()
        if isinstance(other, tuple):
            return self._tuple() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a tuple, so not hashable like one

    def __repr__(self) -> str:
        return f"StopEtas({self._tuple()!r})"


class Estimate(NamedTuple):
    """The tracker's belief after one fix.

    A NamedTuple for the reason `StopEta` is one: built on every fix, and a frozen dataclass
    took 1.3 us of a ~25 us update to build (a NamedTuple 0.46 us).
    """

    t: float               # fix time, POSIX seconds
    chainage: float        # metres along the route geometry (filtered)
    speed: float           # filtered speed along the route, m/s
    lat: float             # matched position on the route (or the fix itself when off route)
    lon: float
    dist_to_route: float   # metres from the fix to the matched point
    off_route: bool
    stops: StopEtas        # the remaining stops, in route order (a Sequence of StopEta)

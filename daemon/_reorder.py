"""The driver's own order of the remaining stops: `{"cmd": "reorder", "order": [...]}`.

Drivers reorder: a customer asks for later, a street is closed, a loading dock opens early.
The planned geometry follows the old order, so the reordered route has no geometry (straight
legs x detour factor, the estimator's off-route mode covers the roads in between) and no
planner leg times, until dispatch publishes a new manifest.

The order is kept in the state file against the manifest version it was made for: a restart,
or the retained manifest delivered again on every MQTT reconnect, re-applies it; a manifest
with new content (dispatch re-planned) replaces it.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from forewarn.eta import Route


def base_version(route: Route) -> str:
    """The version of the manifest a (possibly reordered) route came from."""
    return route.version.split("+order-")[0]


def reordered(route: Route, order: Sequence[str], done: Mapping[str, str]) -> Route:
    """`route` with the stops in `order` driven in that order, after the stops already done.

    `order` must name every stop not yet done (`done`: stop id -> its final state), once.
    Raises ValueError naming every problem.
    """
    if not isinstance(order, list) or not all(isinstance(s, str) for s in order):
        raise ValueError('"order" is a list of stop ids, e.g. ["S4", "S3", "S5"]')
    ids = {s.id for s in route.stops}
    counts = Counter(order)
    problems = [f"unknown stop {s!r} on route {route.route_id}" for s in counts if s not in ids]
    problems += [f"stop {s!r} appears more than once" for s, n in counts.items() if n > 1]
    problems += [f"stop {s!r} is already {done[s]}" for s in counts if s in done]
    missing = [s.id for s in route.stops if s.id not in done and s.id not in counts]
    if missing:
        problems.append(f"order leaves out {', '.join(missing)} (name every stop not yet done)")
    if problems:
        raise ValueError("; ".join(problems))
    return _in_order(route, order)


def _in_order(route: Route, order: Sequence[str]) -> Route:
    """The stops not in `order` first (in their planned order), then `order`; no geometry."""
    by_id = {s.id: s for s in route.stops}
    chosen = set(order)
    first = [s for s in route.stops if s.id not in chosen]
    stops = tuple(replace(s, drive_s=None) for s in first + [by_id[i] for i in order])
    tag = hashlib.sha256(json.dumps(list(order)).encode()).hexdigest()[:8]
    return replace(route, stops=stops, geometry=None, version=f"{base_version(route)}+order-{tag}")


class OrderStore:
    """The driver's order per route, with the manifest version it applies to (table stop_order)."""

    def __init__(self, conn: sqlite3.Connection | None) -> None:
        self._conn = conn
        if conn is not None:
            conn.execute("CREATE TABLE IF NOT EXISTS stop_order (route_id TEXT PRIMARY KEY,"
                         " base_version TEXT NOT NULL, stop_ids TEXT NOT NULL)")

    def forget(self, route_ids: Iterable[str]) -> None:
        """Drop the orders of routes long finished (see `Outbox.prune`)."""
        if self._conn is not None:
            self._conn.executemany("DELETE FROM stop_order WHERE route_id=?", [(r,) for r in route_ids])

    def save(self, route_id: str, base_version: str, order: Sequence[str]) -> None:
        if self._conn is not None:
            self._conn.execute("INSERT OR REPLACE INTO stop_order VALUES (?, ?, ?)",
                               (route_id, base_version, json.dumps(list(order))))

    def apply(self, route: Route) -> Route:
        """The manifest as the driver last ordered it; a manifest of new content drops the order."""
        if self._conn is None:
            return route
        row = self._conn.execute("SELECT base_version, stop_ids FROM stop_order WHERE route_id=?",
                                 (route.route_id,)).fetchone()
        if row is None:
            return route
        if row[0] != route.version:
            self._conn.execute("DELETE FROM stop_order WHERE route_id=?", (route.route_id,))
            return route
        ids = {s.id for s in route.stops}
        # checked when it was given; the same manifest version has the same stops
        return _in_order(route, [s for s in json.loads(row[1]) if s in ids])

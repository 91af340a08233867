"""`forewarn replay`: the daemon's pipeline over a recorded log, in log time, as fast as it goes.

The tracker, policy and outbox are the daemon's own; only time comes from the log, and the
outbox and stop states live in memory (a replay must not mark real customers as told).
`--state` shares just the learned travel/dwell history with the daemon's state file, so
replaying a day's drives in order learns like a live day.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Iterable

from forewarn.config import AlertSettings
from forewarn.daemon.outbox import Outbox
from forewarn.devices import NmeaDecoder, iter_fixes
from forewarn.eta import Route, TravelHistory

from ._wire import from_iso, iso, window_json
from ._tracker import RouteTracker
from .store import open_db

TICK_S = 1.0


def replay(lines: Iterable[bytes], route: Route, alerts: AlertSettings, *, state_path: str | None = None,
           step_s: float = 0.0, stale_after_s: float = 5.0) -> dict:
    mem = open_db(":memory:")
    state = open_db(state_path) if state_path else None
    history = TravelHistory.load(state) if state is not None else None
    now = [0.0]
    outbox = Outbox(mem, clock=lambda: now[0])
    tracker = RouteTracker(route, alerts, outbox, conn=mem, history=history)
    decoder = NmeaDecoder(stale_after_s=stale_after_s)
    preds: dict[str, list[dict]] = {s.id: [] for s in route.stops}
    last_pred: dict[str, float] = {}
    events: list[dict] = []
    counters = {"fixes": 0, "ticks": 0}
    last_t: float | None = None
    first_t: list[float | None] = [None]

    def record(step) -> None:
        events.extend({"at": iso(now[0]), **e} for e in step.events)
        if step.estimate is None:
            return
        for e in step.estimate.stops:
            if step_s and now[0] - last_pred.get(e.stop_id, -1e18) < step_s:
                continue
            last_pred[e.stop_id] = now[0]
            preds[e.stop_id].append({"at": iso(now[0]), "p10": iso(e.p10), "p50": iso(e.p50), "p90": iso(e.p90),
                                     "p_late": round(e.p_late, 4)})

    for fix in iter_fixes(lines, decoder):
        if last_t is not None and fix.t - last_t > stale_after_s:   # a dropout: the daemon's tick keeps predicting
            t = last_t + stale_after_s
            while t < fix.t:
                now[0] = t
                counters["ticks"] += 1
                record(tracker.on_tick(t))
                t += TICK_S
        if last_t is not None and fix.t <= last_t:
            continue
        now[0] = last_t = fix.t
        if first_t[0] is None:
            first_t[0] = fix.t
        counters["fixes"] += 1
        record(tracker.on_fix(fix))

    if state is not None and history is not None:
        history.save(state)
        state.close()
    counters.update({f"dropped_{k}": v for k, v in sorted(decoder.counters.items())})
    counters["sentences"] = decoder.sentences
    rows = outbox.rows(route.route_id)
    stops = []
    for s in route.stops:
        rec = tracker.record(s.id)
        msgs = [{"kind": r.kind, "at": iso(max(r.msg.created_at, r.msg.not_before)), "text": r.msg.text, "channel": r.channel}
                for r in rows if r.stop_id == s.id]
        stops.append({"id": s.id, "window": window_json(s.window), "state": rec.state.value,
                      "arrived": iso(rec.arrived_at), "departed": iso(rec.departed_at),
                      "messages": msgs, "predictions": preds[s.id]})
    counters["events"] = len(events)
    doc = {"route_id": route.route_id, "timezone": route.timezone, "stops": stops, "counters": counters,
           "log_start": iso(first_t[0]), "log_end": iso(last_t)}
    doc["metrics"] = metrics(doc)
    doc["events"] = events
    return doc


BROKEN_APPROACH_S = 600.0   # "about N min away", then 10+ min later: a promise broken


def metrics(doc: dict) -> dict:
    """Promises kept, warned and unwarned late stops, lead times, false alarms (issue 5's report)."""
    def ts(s: str | None) -> float | None:
        return None if s is None else from_iso(s).timestamp()

    end_of_log = ts(doc.get("log_end"))
    kept = late = warned = unwarned = false_alarms = on_time = unknown = 0
    broken = broken_told = 0
    leads: list[float] = []
    per_stop: list[int] = []
    for s in doc["stops"]:
        w_start, w_end = ts(s["window"]["start"]), ts(s["window"]["end"])
        arrived = ts(s["arrived"])
        per_stop.append(len(s["messages"]))
        # "about N min away" (the p50 of that moment), then the truck came 10+ min later
        told_at = [ts(m["at"]) for m in s["messages"] if m["kind"] == "approaching"]
        said = [ts(p["p50"]) for p in s["predictions"] if told_at and ts(p["at"]) <= told_at[0]]
        if said and arrived is not None and arrived - said[-1] >= BROKEN_APPROACH_S:
            broken += 1
            broken_told += any(m["kind"] in ("held_up", "delay") and told_at[0] < ts(m["at"]) < arrived
                               for m in s["messages"])
        delay_at = [ts(m["at"]) for m in s["messages"] if m["kind"] == "delay"]
        first_delay = min(delay_at) if delay_at else None
        is_late = (arrived is not None and arrived > w_end) or (arrived is None and end_of_log is not None
                                                                and end_of_log > w_end and s["state"] not in ("skipped",))
        if arrived is None and not is_late:
            unknown += 1
            continue
        if is_late:
            late += 1
            if first_delay is not None and first_delay < w_end:
                warned += 1
                leads.append((w_end - first_delay) / 60)
            else:
                unwarned += 1
        else:
            on_time += 1
            if arrived is not None and w_start <= arrived <= w_end:
                kept += 1
            if first_delay is not None:
                false_alarms += 1
    return {
        "stops": len(doc["stops"]), "on_time": on_time, "kept_in_window": kept, "late": late,
        "late_warned_before_window_end": warned, "late_not_warned": unwarned,
        "warning_lead_min": [round(x, 1) for x in leads],
        "median_lead_min": round(statistics.median(leads), 1) if leads else None,
        "false_alarms": false_alarms, "not_finished": unknown,
        "approach_broken": broken, "approach_broken_told": broken_told,
        "messages_per_stop": round(sum(per_stop) / len(per_stop), 2) if per_stop else 0.0,
        "max_messages_at_a_stop": max(per_stop) if per_stop else 0,
    }


def read_lines(path: str) -> Iterable[bytes]:
    import sys
    if path == "-":
        return sys.stdin.buffer
    return Path(path).open("rb")

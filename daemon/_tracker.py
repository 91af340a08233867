"""One route, one truck: fixes in; estimates, stop changes, events and customer messages out.

Synchronous and clock-free (time comes from the fixes, or from the caller's tick), so the
daemon, `replay` and `demo` run exactly the same code; only the I/O around it differs.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from forewarn.config import AlertSettings
from forewarn.daemon._wire import iso
from forewarn.daemon.notify import OutgoingMessage, render
from forewarn.daemon.outbox import Outbox, OutboxRow
from forewarn.devices import Fix, distance_m
from forewarn.eta import Estimate, Estimator, Route, Stop, StopEta, TravelHistory

from ._policy import Decision, Policy
from ._routeday import claim_day
from ._stops import AHEAD, DONE, StopBook, StopRecord, StopState

log = logging.getLogger("forewarn.tracker")

DEPART_HYSTERESIS_M = 25.0   # leave the radius by this much before "departed": GPS noise must not flap ...
DEPART_CONFIRM_S = 8.0       # ... and stay out this long (several fixes at 1 Hz)
# A stop is "where the truck is" when the matched position along the route is within its
# radius plus this much of the stop's own place on the route. Elsewhere (a later stop on a
# street the route also takes earlier: loops, out-and-backs, the other side of the road) a
# standstill in its radius is a red light or a queue until it outlasts one; only then is it an
# out-of-order visit (drivers do change the order).
ROUTE_PLACE_SLACK_M = 100.0
OUT_OF_PLACE_DWELL_S = 90.0  # longer than a red light (the estimator's stuck grace too)
# A truck last seen standing in a stop's radius that comes back from a GPS gap (an underground
# dock; the ignition off at the door, the gateway with it) somewhere else: it drove from the
# stop to there at no more than REJOIN_MPS on average (pulling out, town streets), so the rest
# of the gap it stood. That much standing, at least GAP_VISIT_S (a light or a queue in a
# tunnel is not a delivery), makes a visit the fixes did not see.
REJOIN_MPS = 5.0
GAP_VISIT_S = 60.0
# ... and a gap is a gap only against the source's own pace: a tracker that reports every two
# minutes over MQTT is not silent between its reports (a red light in a radius, the next report
# 120 s on, would look like a visit). The usual interval: a running mean of them, each capped.
GAP_CADENCES = 4.0
CADENCE_CAP_S = 60.0
UNDER_WAY_MPS = 2.0          # moving at this (filtered) speed: the truck has set off
# messages still pending for a stop that is done (completed or skipped) are withdrawn: nothing about a
# finished stop goes out except "delivered"
WITHDRAWN_WHEN_DONE = ("window", "delay", "approaching", "back_on_time", "early", "held_up")
# the messages that tell a window: the newest is the promise, so one still waiting (a window
# message held for the night) gives way to a newer one instead of following it out
PROMISES = ("window", "delay", "sorry_late", "back_on_time")


def withdraw_unplanned(outbox: Outbox, route_id: str, planned: Collection[str],
                       rows: list[OutboxRow] | None = None) -> dict[str, int]:
    """Pending messages of `route_id` for stops that are not in its plan any more (dispatch
    removed them, moved them to another truck, or replaced the route): withdrawn as for a
    finished stop. A window message held for the night must not tell a cancelled customer in
    the morning that the truck is coming. `rows`: the route's outbox rows when the caller has
    them already. Returns stop id -> rows withdrawn."""
    if rows is None:
        rows = outbox.rows(route_id)
    gone = sorted({r.stop_id for r in rows if r.state == "pending"} - set(planned))
    withdrawn = {sid: outbox.discard_for_stop(route_id, sid, WITHDRAWN_WHEN_DONE) for sid in gone}
    return {sid: n for sid, n in withdrawn.items() if n}


P = ParamSpec("P")
R = TypeVar("R")


def _persisted(method: Callable[P, R]) -> Callable[P, R]:
    """An input of the tracker: the stop records it changed reach the state file, in one
    transaction, before its result goes back (and also when it fails half-way: what it had
    changed was accepted)."""
    @functools.wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        finally:
            args[0].book.flush()     # type: ignore[attr-defined]
    return run


@dataclass
class Step:
    """What one fix (or tick) produced."""

    estimate: Estimate | None
    events: list[dict] = field(default_factory=list)
    messages: list[OutgoingMessage] = field(default_factory=list)


class RouteTracker:
    def __init__(self, route: Route, alerts: AlertSettings, outbox: Outbox, *,
                 conn=None, history: TravelHistory | None = None) -> None:
        self.route = route
        self.alerts = alerts
        self.outbox = outbox
        self.tz = ZoneInfo(route.timezone)
        self.policy = Policy(alerts, self.tz)
        self.estimator = Estimator(route, history=history)
        # the id driven on another day before: that day's records step aside (None: same day, or new)
        self.reused_from = claim_day(conn, outbox, route) if conn is not None else None
        self.book = StopBook(conn, route.route_id, [s.id for s in route.stops])
        rows = outbox.rows(route.route_id)       # read once for both
        self.book.reconcile_with_outbox([r.key for r in rows])
        # a new version of the plan (or a restart with one) without some stops: their messages go
        self.withdrawn = withdraw_unplanned(outbox, route.route_id, [s.id for s in route.stops], rows)
        # a restart (or a reorder) mid-route: today's service pace and the stop being served go on
        self.estimator.resume((s.id, self.book[s.id].arrived_at, self.book[s.id].departed_at)
                              for s in route.stops)
        self.last_estimate: Estimate | None = None
        self.last_fix_t: float | None = None
        self.out_of_order = 0
        self.started = False
        self._under_way = False      # the truck has driven off since the route was loaded (see `_apply`)
        # stop id -> last fix standing in its radius (in memory: a fix per second must not be
        # a write; after a restart the persisted `inside_since` is the lower bound)
        self._inside_last: dict[str, float] = {}
        self._cadence = 1.0          # s between fixes, usually (see GAP_CADENCES) ...
        self._cadence_n = 0          # ... a plain mean of the first 20 intervals, then a running one

    def set_alerts(self, alerts: AlertSettings) -> None:
        """SIGHUP with new [alerts]: the next fix is judged by the new rules."""
        self.alerts = alerts
        self.policy = Policy(alerts, self.tz)

    # -- views -----------------------------------------------------------------------------
    def remaining(self) -> list[str]:
        recs = self.book.records
        return [s.id for s in self.route.stops if recs[s.id].state in AHEAD]

    def dwelling(self) -> tuple[str, float] | None:
        for s in self.route.stops:
            rec = self.book[s.id]
            if rec.state is StopState.ARRIVED and rec.arrived_at is not None:
                return s.id, rec.arrived_at
        return None

    def record(self, stop_id: str) -> StopRecord:
        return self.book[stop_id]

    # -- inputs ----------------------------------------------------------------------------
    @_persisted
    def start(self, now: float, est: Estimate | None = None) -> Step:
        """Route start (or restart): announce windows that were not announced yet (with the
        first estimate when there is one: a stop already predicted late waits, see
        `Policy.window`)."""
        step = Step(None)
        self.started = True
        etas = {e.stop_id: e for e in est.stops} if est is not None else {}
        for stop in self.route.stops:
            rec = self.book[stop.id]
            self._announce(stop, rec, now, etas.get(stop.id), step)
            self.book.stage(rec)
        return step

    def _announce(self, stop: Stop, rec: StopRecord, now: float, eta: StopEta | None, step: Step) -> None:
        """The window message, if `Policy.window` says so now (the caller stages `rec`)."""
        d = self.policy.window(stop, rec, now, eta)
        if d is not None:
            self._emit(stop, rec, d, now, step)
            if rec.state is StopState.PLANNED:
                self._set_state(stop, rec, StopState.NOTIFIED, now, step)

    @_persisted
    def on_fix(self, fix: Fix) -> Step:
        now = fix.t
        step = Step(None)
        if self.last_fix_t is not None and now <= self.last_fix_t:
            # late or replayed fixes (a forwarder's buffer after an outage) must not rewind stops
            # or re-trigger events (traccar-web #1090): the newest fix wins
            self.out_of_order += 1
            return step
        if self.last_fix_t is not None:
            self._cadence_n = min(self._cadence_n + 1, 20)
            self._cadence += (min(now - self.last_fix_t, CADENCE_CAP_S) - self._cadence) / self._cadence_n
        self.last_fix_t = now
        self._detect_arrivals(fix, now, step)
        remaining = self.remaining()
        est = self.estimator.update(fix, remaining, self.dwelling())
        if not self.started:
            self._merge(step, self.start(now, est))
        if self.last_estimate is not None and est.off_route != self.last_estimate.off_route:
            step.events.append({"type": "off_route" if est.off_route else "on_route",
                                "dist_to_route": round(est.dist_to_route, 1)})
        self._apply(est, now, step)
        return step

    @_persisted
    def on_tick(self, now: float) -> Step:
        """No fix for a while (dropout): keep predicting from the filter so promises still move."""
        step = Step(None)
        est = self.estimator.predict(now, self.remaining(), self.dwelling())
        if est is not None:
            self._apply(est, now, step)
        return step

    @_persisted
    def command(self, cmd: str, stop_id: str, now: float) -> Step:
        """Driver's app: `complete`, `skip` or `fail` (attempted, not delivered) a stop.

        `fail` is taken on a stop already completed too: departure from the radius is how GPS
        says "delivered", and a driver who could not deliver may tap it only after driving
        off. A "delivered" not yet sent is then withdrawn; one already sent is corrected by
        the "attempted" message."""
        step = Step(self.last_estimate)
        stop = self.route.stop(stop_id)
        rec = self.book[stop_id]
        if cmd == "fail" and rec.state is StopState.COMPLETED:
            self.outbox.discard_for_stop(self.route.route_id, stop.id, ("delivered",))
            self._fail(stop, rec, now, step)
            self.book.stage(rec)
            return step
        if rec.state.done:
            step.events.append({"type": "cmd_ignored", "cmd": cmd, "stop_id": stop_id, "reason": f"stop already {rec.state.value}"})
            return step
        if cmd == "complete":
            self._complete(stop, rec, now, step)
        elif cmd == "skip":
            self._skip(stop, rec, now, step, reason="driver")
        elif cmd == "fail":
            self._fail(stop, rec, now, step)
        else:
            raise ValueError(f"unknown command {cmd!r}")
        self.book.stage(rec)
        return step

    # -- internals -------------------------------------------------------------------------
    def _detect_arrivals(self, fix: Fix, now: float, step: Step) -> None:
        """Arrived = stopped inside the stop's radius for a while (not just passing by)."""
        a = self.alerts
        speed = fix.speed if fix.speed is not None else 0.0
        recs = self.book.records
        # a stop whose run has not begun (its window opens more than approach_lead_hours from
        # now) is not being served: tomorrow's first customer, passed and stopped at tonight,
        # was told "delivered" and then nothing on the day
        opens_by = now + a.approach_lead_hours * 3600
        for stop, d in zip(self.route.stops, self.estimator.distances_to_stops(fix)):
            rec = recs[stop.id]
            if rec.state in DONE:
                continue
            if rec.state is StopState.ARRIVED:
                # departed = outside the radius (plus hysteresis) for a while: one multipath jump or a
                # poor first fix after a restart must not tell a customer "delivered" too early
                if d > stop.radius_m + DEPART_HYSTERESIS_M:
                    if rec.outside_since is None:
                        rec.outside_since = now
                    if now - rec.outside_since >= DEPART_CONFIRM_S:
                        self._depart(stop, rec, rec.outside_since, now, step)
                    self.book.stage(rec)
                elif rec.outside_since is not None:
                    rec.outside_since = None
                    self.book.stage(rec)
                continue
            if d <= stop.radius_m and speed <= a.arrival_speed_mps and stop.window.start_t <= opens_by:
                if rec.inside_since is None:
                    rec.inside_since = now
                self._inside_last[stop.id] = now
                if now - rec.inside_since >= self._arrival_dwell(stop):
                    self._arrive(stop, rec, rec.inside_since, now, step)
                self.book.stage(rec)
            elif rec.inside_since is not None:
                last = self._inside_last.pop(stop.id, rec.inside_since)
                stood = last - rec.inside_since + max(now - last - d / REJOIN_MPS, 0.0)
                if now - last >= GAP_CADENCES * self._cadence and stood >= max(self._arrival_dwell(stop), GAP_VISIT_S):
                    gap = {"from": iso(last), "to": iso(now)}
                    self._arrive(stop, rec, rec.inside_since, now, step, gap=gap)
                    self._depart(stop, rec, max(last, now - d / REJOIN_MPS), now, step, gap=gap)
                rec.inside_since = None
                self.book.stage(rec)

    def _arrive(self, stop: Stop, rec: StopRecord, at: float, now: float, step: Step,
                gap: dict | None = None) -> None:
        rec.arrived_at = at
        self.estimator.observe_arrival(stop.id, at)
        step.events.append({"type": "arrival", "stop_id": stop.id, "at": iso(at)} | ({"gps_gap": gap} if gap else {}))
        self._set_state(stop, rec, StopState.ARRIVED, now, step)
        self._skip_passed(stop, now, step)

    def _depart(self, stop: Stop, rec: StopRecord, at: float, now: float, step: Step,
                gap: dict | None = None) -> None:
        """Left the radius: the GPS's "delivered" (held `delivered_hold_s` for the driver's word)."""
        rec.departed_at = at
        self.estimator.observe_departure(stop.id, at)
        step.events.append({"type": "departure", "stop_id": stop.id, "at": iso(at)} | ({"gps_gap": gap} if gap else {}))
        self._complete(stop, rec, now, step, by_gps=True)

    def _arrival_dwell(self, stop: Stop) -> float:
        """Standing time in the radius that makes an arrival: the configured one where the route
        has the truck at this stop (or off route, where the route cannot say), longer elsewhere.
        A red light 40 m from a later customer must not tell that customer "delivered", nor
        skip every stop before it as passed."""
        est = self.last_estimate
        dwell = self.alerts.arrival_dwell_s
        if est is None or est.off_route:
            return dwell
        if abs(est.chainage - self.estimator.stop_chainage(stop.id)) <= stop.radius_m + ROUTE_PLACE_SLACK_M:
            return dwell
        return max(dwell, OUT_OF_PLACE_DWELL_S)

    def _skip_passed(self, arrived: Stop, now: float, step: Step) -> None:
        """Stops before the one we just arrived at that were never visited: passed by, skipped.

        Predictions must not keep coming for a stop the truck has left behind (transitime #260).
        """
        for stop in self.route.stops:
            if stop.id == arrived.id:
                break
            rec = self.book[stop.id]
            if not rec.state.done and not rec.state.visited:
                self._skip(stop, rec, now, step, reason="passed without stopping")
                self.book.stage(rec)

    def _finish(self, stop: Stop, rec: StopRecord, state: StopState, now: float, step: Step,
                last: Decision | None = None, reason: str = "") -> None:
        """The stop is done (`state`): what was still to be said about it is withdrawn, and
        `last`, its closing message (delivered, attempted), if any, goes out."""
        self._set_state(stop, rec, state, now, step, reason=reason)
        self.outbox.discard_for_stop(self.route.route_id, stop.id, WITHDRAWN_WHEN_DONE)
        if last is not None:
            self._emit(stop, rec, last, now, step)

    def _skip(self, stop: Stop, rec: StopRecord, now: float, step: Step, reason: str) -> None:
        self._finish(stop, rec, StopState.SKIPPED, now, step, reason=reason)

    def _fail(self, stop: Stop, rec: StopRecord, now: float, step: Step) -> None:
        self._finish(stop, rec, StopState.FAILED, now, step, self.policy.attempted(stop, rec, now),
                     reason="driver: not delivered")

    def _complete(self, stop: Stop, rec: StopRecord, now: float, step: Step, by_gps: bool = False) -> None:
        self._finish(stop, rec, StopState.COMPLETED, now, step, self.policy.delivered(stop, rec, now, by_gps))

    def _apply(self, est: Estimate, now: float, step: Step) -> None:
        step.estimate = est
        self.last_estimate = est
        # "about N min away" only once the truck has set off (or served a stop: a restart mid-route):
        # parked at a depot 3 min from the first customer while loading, it told her at 07:30
        if not self._under_way:
            self._under_way = est.speed >= UNDER_WAY_MPS or any(
                r.state in DONE or r.state.visited for r in self.book.records.values())
        nxt = self._under_way
        prev: Stop | None = None
        for eta in est.stops:
            stop = self.route.stop(eta.stop_id)
            rec = self.book[eta.stop_id]
            # the next stop, and those at the same place right behind it (two customers in one
            # building: the second was never told "about N min away", the truck being "next" at
            # the first one's door until both were served)
            if prev is not None:
                nxt = nxt and distance_m(prev, stop) <= max(prev.radius_m, stop.radius_m)
            prev = stop
            if rec.state is StopState.PLANNED and self.started:
                # not announced yet: held back while predicted late (or beyond the lead hours)
                self._announce(stop, rec, now, eta, step)
            if nxt and rec.state in (StopState.PLANNED, StopState.NOTIFIED):
                self._set_state(stop, rec, StopState.EN_ROUTE, now, step)
            for d in self.policy.on_estimate(stop, rec, eta, now, nxt, step.events):
                self._emit(stop, rec, d, now, step)
                if d.kind == "approaching":
                    self._set_state(stop, rec, StopState.APPROACHING, now, step)
                elif rec.state is StopState.PLANNED:     # told first by a delay message
                    self._set_state(stop, rec, StopState.NOTIFIED, now, step)
            self.book.stage(rec)        # written at the end of the input if it changed

    def _set_state(self, stop: Stop, rec: StopRecord, state: StopState, now: float, step: Step, reason: str = "") -> None:
        if rec.state is state:
            return
        ev = {"type": "stop_state", "stop_id": stop.id, "state": state.value, "prev": rec.state.value}
        if reason:
            ev["reason"] = reason
        rec.state = state
        step.events.append(ev)

    def _emit(self, stop: Stop, rec: StopRecord, d: Decision, now: float, step: Step) -> None:
        c = stop.customer
        if c is None or c.channel == "none" or not c.phone:
            return
        text = render(d.kind, c.locale, name=c.name, channel=c.channel, **d.fields)
        msg = OutgoingMessage(
            key=f"{self.route.route_id}/{stop.id}/{d.kind}/{d.seq}", route_id=self.route.route_id, stop_id=stop.id,
            kind=d.kind, channel=c.channel, to=c.phone, text=text, locale=c.locale, created_at=now,
            not_before=d.not_before, voice_fallback=c.voice_fallback, not_after=d.not_after)
        if d.kind in PROMISES:
            stale = self.outbox.discard_for_stop(self.route.route_id, stop.id, PROMISES)
            if stale:
                step.events.append({"type": "withdrawn", "stop_id": stop.id, "messages": stale,
                                    "reason": f"superseded by {d.kind}"})
        if self.outbox.enqueue(msg):
            step.messages.append(msg)
            step.events.append({"type": "alert_queued", "stop_id": stop.id, "kind": d.kind, "key": msg.key,
                                "channel": c.channel, **({"held_until": iso(d.not_before)} if d.not_before else {})})

    @staticmethod
    def _merge(into: Step, other: Step) -> None:
        into.events.extend(other.events)
        into.messages.extend(other.messages)

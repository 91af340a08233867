"""When to tell a customer what: the business rules of DESIGN.md "Stops and messages".

Pure decisions over a stop's record and the newest estimate; no I/O. The tracker turns each
`Decision` into an outbox row whose key (route/stop/kind/seq) makes it at-most-once.

Budget: `max_messages_per_stop` counts every kind, but the messages a customer needs
(approaching, delivered) are reserved, so promise updates (delay, sorry) can never starve
them. One exception: the "back on time" correction may take the approaching slot. With a
budget of 4 (window, delay, approaching, delivered) there is no room for it otherwise, and a
customer told "late" who then misses the truck is the worst outcome; the correction tells
them more than "about 9 min away" would. A "held up" update after the approaching message
goes out only while room for a delay message stays too: with the default budget of 5,
window + approaching + held up + delay + delivered.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from forewarn.config import AlertSettings
from forewarn.eta import Stop, StopEta

from ._stops import Risk, StopRecord
from .notify import DAY_KEYS

RESERVED_KINDS = ("approaching", "delivered")
QUARTER = 15 * 60


@dataclass(frozen=True, slots=True)
class Decision:
    stop_id: str
    kind: str
    seq: int
    fields: dict[str, str] = field(default_factory=dict)
    not_before: float = 0.0
    not_after: float | None = None      # see OutgoingMessage.not_after


def local_hhmm(t: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).astimezone(tz).strftime("%H:%M")


def quiet_until(now: float, tz: ZoneInfo, alerts: AlertSettings) -> float:
    """0 if `now` is outside quiet hours in `tz`, else the POSIX time they end."""
    rng = alerts.quiet_range()
    if rng is None:
        return 0.0
    start, end = rng
    local = datetime.fromtimestamp(now, tz=timezone.utc).astimezone(tz)
    t = local.time().replace(second=0, microsecond=0)
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return 0.0
    end_dt = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if end_dt <= local:
        end_dt += timedelta(days=1)
    return end_dt.timestamp()


def minutes_until(t: float, now: float) -> int:
    """Whole minutes for "about N min", at least 2: never "1 minutes", never "0"."""
    return max(2, int(round((t - now) / 60)))


def honest_window(eta: StopEta, now: float) -> tuple[float, float]:
    """p10..p90 rounded outwards to quarter hours, never starting in the past."""
    lo = max(eta.p10, now)
    start = math.floor(lo / QUARTER) * QUARTER
    end = math.ceil(max(eta.p90, lo + 1) / QUARTER) * QUARTER
    return float(start), float(end)


class Policy:
    def __init__(self, alerts: AlertSettings, tz: ZoneInfo) -> None:
        self.a = alerts
        self.tz = tz

    # -- helpers -------------------------------------------------------------------------
    def _can_update(self, rec: StopRecord, reserve: tuple[str, ...] = RESERVED_KINDS) -> bool:
        reserved = sum(1 for k in reserve if rec.sent.get(k, 0) == 0)
        return rec.total_sent + reserved < self.a.max_messages_per_stop

    def _decide(self, rec: StopRecord, kind: str, fields: dict[str, str], now: float, holdable: bool,
                hold: float | None = None, not_after: float | None = None) -> Decision:
        """`hold`: the quiet-hours hold when the caller already knows it (else worked out here).
        `not_after`: when its news goes stale (a message that says "in N min")."""
        seq = rec.sent.get(kind, 0) + 1
        rec.sent[kind] = seq
        if hold is None:
            hold = quiet_until(now, self.tz, self.a) if holdable else 0.0
        return Decision(rec.stop_id, kind, seq, fields, hold, not_after)

    def _fmt(self, t: float) -> str:
        return local_hhmm(t, self.tz)

    def _day(self, t: float, now: float) -> str:
        """`t`'s day as read at `now`, in the stop's zone: a `DAY_KEYS` key for the template."""
        day = datetime.fromtimestamp(t, tz=self.tz).date()
        ahead = (day - datetime.fromtimestamp(now, tz=self.tz).date()).days
        if ahead <= 0:
            return "today"
        return "tomorrow" if ahead == 1 else DAY_KEYS[2 + day.weekday()]

    # -- rules ---------------------------------------------------------------------------
    def window(self, stop: Stop, rec: StopRecord, now: float, eta: StopEta | None = None) -> Decision | None:
        """Tell the promised window up front, unless it is too far ahead or over, or the
        prediction (`eta`, when there is one) already says it will be missed: then the first
        thing the customer hears is the delay message with the honest window, not a promise
        broken a minute later. (Asked again on every fix until it goes out.)

        Once, unless dispatch moves the window in a new manifest: then the customer hears the
        new one (an update, within the budget), because the old promise no longer holds.
        """
        if rec.state.done or rec.state.visited:
            return None
        w = stop.window
        promised = (w.start_t, w.end_t)
        if rec.sent.get("window") and (rec.promised in (None, promised) or not self._can_update(rec)):
            return None
        if w.end_t <= now or w.start_t - now > self.a.window_lead_hours * 3600:
            return None
        if not rec.sent.get("window") and (rec.announced is not None
                                           or (eta is not None and eta.p_late >= self.a.late_probability)):
            return None     # lost already, or a delay message told the honest window: not the old one now
        rec.announced = rec.promised = promised
        hold = quiet_until(now, self.tz, self.a)      # held through quiet hours, it says the day it goes out on
        return self._decide(rec, "window", {"day": self._day(w.start_t, hold or now), "start": self._fmt(w.start_t),
                                            "end": self._fmt(w.end_t)}, now, holdable=True, hold=hold)

    def on_estimate(self, stop: Stop, rec: StopRecord, eta: StopEta, now: float, is_next: bool,
                    events: list[dict]) -> list[Decision]:
        """All rules that look at a fresh prediction for one remaining stop."""
        out: list[Decision] = []
        a = self.a
        w_start, w_end = stop.window.start_t, stop.window.end_t

        # dispatcher risk first (lower threshold than customers)
        risk = Risk.LATE if eta.p_late >= a.late_probability else Risk.AT_RISK if eta.p_late >= a.at_risk_probability else Risk.OK
        if risk != rec.risk:
            events.append({"type": "risk", "stop_id": stop.id, "risk": risk.value, "prev": rec.risk.value,
                           "p_late": round(eta.p_late, 3)})
            rec.risk = risk

        if a.expire_hours and now - w_end > a.expire_hours * 3600:
            # A promise that ended this long ago is history: a manifest left from another day (a
            # week-old route still retained on the broker texted every customer "sorry, we missed
            # your window" and "about 3 min away"), or a stop never reached. The customer hears
            # nothing more about it; dispatch hears it once.
            if not rec.expired:
                rec.expired = True
                events.append({"type": "expired", "stop_id": stop.id, "window_end": w_end})
            return out

        # An arrival predicted hours before the window is not this delivery's run: tomorrow's route
        # installed tonight, the truck driving home past its first stop, would tell that customer
        # "about 12 min away" tonight (and spend the stop's early flag before the real day).
        this_run = eta.p50 >= w_start - a.approach_lead_hours * 3600

        if this_run and eta.p90 < w_start - a.early_minutes * 60 and not rec.early_flagged:
            rec.early_flagged = True
            events.append({"type": "early", "stop_id": stop.id, "p90": eta.p90, "window_start": w_start})
            if a.notify_customer_early and self._can_update(rec):
                out.append(self._decide(rec, "early", {"time": self._fmt(eta.p50)}, now, holdable=True))

        # sustained lateness -> delay message while the window is still ahead of us
        if eta.p_late >= a.late_probability:
            rec.late_since = rec.late_since if rec.late_since is not None else now
        else:
            rec.late_since = None
        # how long lateness must hold: short when the window end is near (warn while it is still
        # useful), longer when it is far (a truck an hour early in its worries may well catch up)
        confirm = max(a.sustain_s, min(a.sustain_fraction * (w_end - now), a.sustain_max_s))
        sustained_late = rec.late_since is not None and now - rec.late_since >= confirm
        delays = rec.sent.get("delay", 0)
        told_late = delays > rec.sent.get("back_on_time", 0)  # last promise update was "late"
        if sustained_late and now < w_end and self._can_update(rec):
            start, end = honest_window(eta, now)
            ann = rec.announced
            moved = (not told_late) or ann is None or eta.p50 > ann[1] + a.delay_margin_minutes * 60 \
                or eta.p50 < ann[0] - a.delay_margin_minutes * 60
            if moved:
                rec.announced = (start, end)
                out.append(self._decide(rec, "delay", {"start": self._fmt(start), "end": self._fmt(end)}, now, holdable=False))
                rec.ontime_since = None
        # a stop that slipped past its window with no warning: say sorry plainly, once
        if now >= w_end and not told_late and not rec.sent.get("sorry_late") and not rec.state.visited:
            rec.missed_unwarned = True
            events.append({"type": "missed_unwarned", "stop_id": stop.id})
            if self._can_update(rec):
                start, end = honest_window(eta, now)
                rec.announced = (start, end)
                out.append(self._decide(rec, "sorry_late", {"start": self._fmt(start), "end": self._fmt(end)}, now, holdable=False))
        # caught up after a delay message: one short correction, so nobody misses the truck
        if told_late and now < w_end:
            if eta.p_late <= a.back_on_time_probability:
                rec.ontime_since = rec.ontime_since if rec.ontime_since is not None else now
                if now - rec.ontime_since >= a.sustain_s and self._can_update(rec, reserve=("delivered",)):
                    rec.announced = (w_start, w_end)
                    out.append(self._decide(rec, "back_on_time", {"start": self._fmt(w_start), "end": self._fmt(w_end)},
                                            now, holdable=False))
            else:
                rec.ontime_since = None

        # approaching: the next stop, close in time (unless a correction took its slot)
        if is_next and this_run and not rec.sent.get("approaching") and eta.p50 - now <= a.approaching_minutes * 60 \
                and self._can_update(rec, reserve=("delivered",)):
            minutes = minutes_until(eta.p50, now)
            rec.approach_at = now + 60 * minutes
            out.append(self._decide(rec, "approaching", {"minutes": str(minutes)}, now, holdable=False,
                                    not_after=rec.approach_at))
        out += self._held_up(rec, eta, now, told_late or bool(out))
        return out

    def _held_up(self, rec: StopRecord, eta: StopEta, now: float, other_news: bool) -> list[Decision]:
        """"About 9 min away" is a promise too: a customer goes to the door. When a queue or a
        crash then holds the truck `held_up_minutes` past it (for `sustain_s`), say so once,
        with a new time; not when a delay message already told them (or tells them now), nor
        while the window itself is at risk (P(late) >= `at_risk_probability`): that is the delay
        message's news, with a new window."""
        a = self.a
        if (a.held_up_minutes <= 0 or rec.approach_at is None or rec.sent.get("held_up")
                or rec.state.visited or other_news or eta.p_late >= a.at_risk_probability
                or eta.p50 - rec.approach_at < a.held_up_minutes * 60):
            rec.held_since = None
            return []
        rec.held_since = rec.held_since if rec.held_since is not None else now
        # it must never cost a later delay message its slot (the window is the bigger promise):
        # room for delivered and a delay stays
        if now - rec.held_since < a.sustain_s or not self._can_update(rec, reserve=("delivered", "delay")):
            return []
        # "within about N min" from p90: the model has just been wrong once in this customer's
        # eyes, and a queue's end is the least certain thing it predicts (p50 said 5 min of a
        # 25-minute queue's last 24 in the test drive; p90 says more)
        minutes = minutes_until(eta.p90, now)
        rec.approach_at = now + 60 * minutes
        return [self._decide(rec, "held_up", {"minutes": str(minutes)}, now, holdable=False,
                             not_after=rec.approach_at)]

    def attempted(self, stop: Stop, rec: StopRecord, now: float) -> Decision | None:
        """The driver could not deliver (nobody in, no access): say so, once, and that another
        delivery will be arranged; outside quiet hours. Not held to the budget: the slot kept
        for "delivered" is this one's."""
        if rec.sent.get("attempted") or rec.expired:
            return None
        return self._decide(rec, "attempted", {}, now, holdable=True)

    def delivered(self, stop: Stop, rec: StopRecord, now: float, by_gps: bool = False) -> Decision | None:
        """`by_gps`: inferred from the truck leaving the stop, not said by the driver: held
        `delivered_hold_s`, so that the driver's "fail" tapped after driving off (nobody was
        in) withdraws it before it goes out."""
        if rec.sent.get("delivered") or rec.expired:
            return None
        hold = quiet_until(now, self.tz, self.a)
        if by_gps and self.a.delivered_hold_s > 0:
            hold = max(hold, now + self.a.delivered_hold_s)
        return self._decide(rec, "delivered", {"rating": "yes" if self.a.rating else ""}, now, holdable=True, hold=hold)

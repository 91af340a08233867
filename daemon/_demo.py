"""`forewarn demo`: the real daemon runtime on the embedded default, narrated in the terminal.

Nothing is special-cased: the bundled config says `source = "file"` (a real recorded drive),
routes come from the bundled routes dir, messages go through the outbox to the console
notifier. Only the state file lives in a throwaway directory.
"""
from __future__ import annotations

import asyncio
import io
import sys
import tempfile
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from forewarn.config import load_settings

from ._log import setup_logging
from ._runtime import Daemon, Hooks
from ._tracker import RouteTracker, Step

PROGRESS_EVERY_S = 30.0
SHOWN_EVENTS = {"arrival", "departure", "risk", "off_route", "on_route", "missed_unwarned", "expired", "early",
                "route_loaded", "alert_failed", "alert_undelivered", "alert_expired"}


class _Narrator:
    def __init__(self, out: io.TextIOBase, quiet: bool) -> None:
        self.out = out
        self.quiet = quiet
        self.last_progress = 0.0
        self.tz = ZoneInfo("UTC")
        self.daemon: Daemon | None = None
        self.sent: list[dict] = []

    def clock(self) -> str:
        if self.daemon is None or self.daemon.tracker is None or self.daemon.last_fix_time is None:
            return "--:--:--"        # before the drive's first fix there is no log time yet
        self.tz = self.daemon.tracker.tz
        t = self.daemon.now()
        return datetime.fromtimestamp(t, tz=timezone.utc).astimezone(self.tz).strftime("%H:%M:%S")

    def on_step(self, step: Step, tracker: RouteTracker) -> None:
        self.tz = tracker.tz
        est = step.estimate
        if self.quiet or est is None or est.t - self.last_progress < PROGRESS_EVERY_S:
            return
        self.last_progress = est.t
        parts = []
        for e in est.stops:
            eta = datetime.fromtimestamp(e.p50, tz=timezone.utc).astimezone(self.tz).strftime("%H:%M")
            flag = " LATE" if e.p_late >= tracker.alerts.late_probability else ""
            parts.append(f"{e.stop_id} eta {eta} P(late) {e.p_late:.2f}{flag}")
        self.out.write(f"  {self.clock()}  {est.speed * 3.6:5.1f} km/h  {est.chainage / 1000:5.2f} km  "
                       f"{' | '.join(parts) or 'all stops done'}\n")

    def on_event(self, ev: dict) -> None:
        if ev["type"] == "alert_sent":
            self.sent.append(ev)
        if ev["type"] in SHOWN_EVENTS:
            detail = {k: v for k, v in ev.items() if k not in ("ts", "vehicle", "route_id", "type")}
            self.out.write(f"  {self.clock()}  * {ev['type']} {detail}\n")


class _Stamped(io.TextIOBase):
    """The console notifier's stream: each customer message prefixed with the log time."""

    def __init__(self, out: io.TextIOBase, narrator: _Narrator) -> None:
        self.out, self.n = out, narrator

    def write(self, s: str) -> int:
        if s.strip():
            self.out.write(f"  {self.n.clock()}  >>> {s.strip()}\n")
        return len(s)


def run_demo(speed: float = 60.0, quiet: bool = False, out=None) -> int:
    out = out or sys.stdout
    setup_logging("warning")
    bundled = resources.files("forewarn.config") / "demo"
    with tempfile.TemporaryDirectory(prefix="forewarn-demo-") as tmp, resources.as_file(bundled) as demo_dir:
        settings = load_settings(Path(demo_dir) / "forewarn.toml")
        settings = settings.model_copy(update={
            "gps": settings.gps.model_copy(update={"speed": speed}),
            "state": settings.state.model_copy(update={"path": str(Path(tmp) / "state.db")}),
            "routes": settings.routes.model_copy(update={"dir": str(demo_dir)}),
        })
        narrator = _Narrator(out, quiet)
        from forewarn.daemon.notify import ConsoleNotifier
        daemon = Daemon(settings, notifier=ConsoleNotifier(_Stamped(out, narrator)),
                        hooks=Hooks(on_step=narrator.on_step, on_event=narrator.on_event, exit_at_eof=True,
                                   on_stop=lambda d: _summary(d, narrator, out)))
        narrator.daemon = daemon
        out.write(f"forewarn demo: a real 10-minute drive (Ratingen, 2009) replayed at {speed:g}x against a 3-stop route\n")
        asyncio.run(daemon.run())
    return 0


def _summary(daemon: Daemon, narrator: _Narrator, out) -> None:
    tracker = daemon.tracker
    if tracker is None:
        out.write("no route was loaded\n")
        return
    tz = tracker.tz

    def hm(t: float | None) -> str:
        return "-" if t is None else datetime.fromtimestamp(t, tz=timezone.utc).astimezone(tz).strftime("%H:%M:%S")

    out.write(f"\nsummary of route {tracker.route.route_id} ({tracker.route.timezone})\n")
    rows = daemon.outbox.rows(tracker.route.route_id)
    for stop in tracker.route.stops:
        rec = tracker.record(stop.id)
        w0, w1 = stop.window.start_t, stop.window.end_t
        verdict = "-"
        if rec.arrived_at is not None:
            verdict = "on time" if rec.arrived_at <= w1 else f"LATE by {(rec.arrived_at - w1) / 60:.0f} min"
        msgs = [r for r in rows if r.stop_id == stop.id]
        out.write(f"  {stop.id}: window {hm(w0)[:5]}-{hm(w1)[:5]}, arrived {hm(rec.arrived_at)}, {verdict}; "
                  f"state {rec.state.value}\n")
        for r in msgs:
            lead = ""
            if r.kind == "delay":
                lead = f" ({(w1 - r.msg.created_at) / 60:.1f} min before the window ended)"
            out.write(f"      {r.kind:<13} {hm(r.msg.created_at)}  {r.channel:<5} {r.state}{lead}\n")
    out.write(f"  {sum(1 for r in rows if r.state == 'sent')} messages sent, "
              f"{sum(1 for r in rows if r.state not in ('sent',))} not sent\n")

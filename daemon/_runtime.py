"""The daemon: one asyncio TaskGroup of named tasks, cancelled cleanly on SIGTERM.

Tasks: `gps` (fixes -> tracker), `tick` (predictions keep moving through GPS dropouts, and
the health heartbeat), `sender` (outbox -> Twilio), `mqtt` (dispatcher link), `routes`
(manifest files), `watchdog` (WATCHDOG=1 only while `tick` proves the loop is alive).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Sequence

from forewarn.config import ConfigError, Problem, Settings, load_settings, parse_manifest, read_secret
from forewarn.daemon.notify import ConsoleNotifier, Notifier, Sender, TwilioNotifier, mask_phone, mask_phones_in
from forewarn.daemon.outbox import Outbox
from forewarn.devices import FileSource, Fix, GpsdSource, GpsSource, LineQueueSource, SerialSource
from forewarn.eta import Route, TravelHistory, warm_kernels

from . import __version__
from ._mqtt import MqttLink
from ._publish import Pacer, eta_payload, position_payload
from ._reorder import OrderStore, base_version, reordered
from ._sdnotify import Notifier as SdNotify, watchdog_interval
from ._store_guard import open_state
from ._wire import dumps, iso
from ._stops import forget_routes
from ._tracker import RouteTracker, Step, withdraw_unplanned

log = logging.getLogger("forewarn.daemon")

TICK_S = 1.0
STATUS_EVERY_S = 30.0
# The learned history (travel, dwell, calibration and its pending predictions) goes to the
# state file this often when it changed, not only at a clean stop: a gateway that loses power
# with the ignition gets no SIGTERM, and would forget the whole day's learning.
HISTORY_SAVE_S = 60.0
PRUNE_EVERY_S = 6 * 3600.0   # how often finished messages older than [state] keep_days are deleted
CLOCK_WARN_S = 120.0      # say so when the system clock and GPS time disagree by more than this
# event types whose counts the retained `status` carries: what a dispatcher checks at a glance
STATUS_COUNTERS = ("alert_sent", "alert_failed", "alert_undelivered", "missed_unwarned", "expired",
                   "customer_unreachable", "route_rejected", "input_rejected", "config_rejected")
SHUTDOWN_BUDGET_S = 8.0   # systemd's default stop timeout is 90 s; we promise 10


@dataclass
class Hooks:
    """Seams for `demo` (and tests): who hears about each step and each event."""

    on_step: Callable[[Step, RouteTracker], None] | None = None
    on_event: Callable[[dict], None] | None = None
    exit_at_eof: bool = False
    on_stop: Callable[["Daemon"], None] | None = None   # last look at the state before it closes


def clock_gap(ahead_s: float) -> str:
    """"4 min ahead of", "17.4 years behind": the system clock against GPS time in the unit an
    operator reads at a glance. A raw count of seconds (+549019478) reads as nothing to a
    person, and as a phone number to the log's masking."""
    a = abs(ahead_s)
    side = "ahead of" if ahead_s >= 0 else "behind"
    for unit, size in (("years", 365.25 * 86400.0), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if a >= 2.0 * size:
            return f"{a / size:.1f} {unit} {side}"
    return f"{a:.0f} s {side}"


def make_source(settings: Settings) -> GpsSource:
    g = settings.gps
    if g.source == "serial":
        return SerialSource(g.device, g.baudrate, stale_after_s=g.stale_after_s)
    if g.source == "gpsd":
        return GpsdSource(g.host, g.port, stale_after_s=g.stale_after_s)
    if g.source == "mqtt":
        return LineQueueSource(stale_after_s=g.stale_after_s)
    path = Path(g.path)
    if not path.is_absolute():
        path = Path(settings.source_path) / path
    # a daemon paces a recorded drive; `replay` is the fast path
    return FileSource(path, g.speed or 1.0, stale_after_s=g.stale_after_s)


def make_notifier(settings: Settings) -> Notifier:
    t = settings.twilio
    if t is None:
        return ConsoleNotifier(sys.stderr)
    token = read_secret(t.auth_token_file, "twilio-token", "Twilio auth token")
    if not token:
        raise ConfigError([Problem(settings.source_path or "<config>", "twilio.auth_token_file",
                                   "no Twilio auth token: set auth_token_file or the systemd credential twilio-token")])
    return TwilioNotifier(t.account_sid, token, from_=t.from_, messaging_service_sid=t.messaging_service_sid,
                          api_base=t.api_base, allowed_countries=t.allowed_countries)


class Daemon:
    def __init__(self, settings: Settings, *, config_path: str | None = None, notifier: Notifier | None = None,
                 hooks: Hooks | None = None) -> None:
        self.settings = settings
        self.config_path = config_path
        self.hooks = hooks or Hooks()
        self.sd = SdNotify()
        self.state = open_state(settings.state.path)
        self.conn: sqlite3.Connection = self.state.conn
        self.outbox = Outbox(self.conn, clock=self.now)
        self.notifier = notifier or make_notifier(settings)
        self.sender = Sender(self.outbox, self.notifier, on_event=self.emit, clock=self.now)
        self.source = make_source(settings)
        self.link = MqttLink(settings.mqtt, settings.vehicle.id, self.conn, on_message=self._on_mqtt,
                             nmea_topic=settings.gps.topic, on_reject=self.emit) if settings.mqtt else None
        self.history = TravelHistory.load(self.conn)
        self.orders = OrderStore(self.conn)
        self.tracker: RouteTracker | None = None
        self._route_files: dict[Path, float] = {}
        self._routes_dir_missing = False
        if settings.routes.dir:
            try:   # under systemd the state directory exists, its routes/ subfolder not yet
                Path(settings.routes.dir).mkdir(parents=True, exist_ok=True)
            except OSError:
                pass   # scan_routes_dir says so
        self.counters: Counter[str] = Counter()
        self._stop = asyncio.Event()
        self._eof = asyncio.Event()
        self._last_fix_wall = 0.0
        self._last_fix_t: float | None = None
        self._eta_pacer = Pacer()          # the `eta` topic: at most once a second of fix time, and on events
        self._gps_offset = 0.0     # GPS time - system time at the last fix
        self._tick_beat = time.monotonic()
        self._pruned_at = -PRUNE_EVERY_S

    @property
    def last_fix_time(self) -> float | None:
        return self._last_fix_t

    # -- time --------------------------------------------------------------------------------
    def now(self) -> float:
        """The daemon's clock: GPS time.

        Live, the system clock corrected by how far it was from GPS time at the last fix: a
        gateway without a real-time clock or NTP must not judge windows by a wrong clock, and
        the tick (GPS dropouts) and the fixes must agree on what time it is. Replaying a file,
        log time (so the demo's messages go out in log time).
        """
        if self._last_fix_t is None:
            return time.time()
        if self.settings.gps.source == "file":
            speed = self.settings.gps.speed or 1.0
            return self._last_fix_t + (time.monotonic() - self._last_fix_wall) * speed
        return time.time() + self._gps_offset

    # -- events and publishing ---------------------------------------------------------------
    def emit(self, event: dict) -> None:
        self.counters[event["type"]] += 1
        ev = {"ts": iso(self.now()), "vehicle": self.settings.vehicle.id, **event}
        if self.tracker is not None and "route_id" not in ev:
            ev["route_id"] = self.tracker.route.route_id
        if "to" in ev and isinstance(ev["to"], str) and not ev["to"].count("*"):
            ev["to"] = mask_phone(ev["to"])
        log.info("event %s", dumps(ev))
        if self.link is not None:
            self.link.event(ev)
        if self.hooks.on_event is not None:
            self.hooks.on_event(ev)

    def _status(self) -> dict:
        return {"ts": iso(time.time()), "state": "offline" if self._stop.is_set() else "online", "version": __version__,
                "vehicle": self.settings.vehicle.id,
                "route_id": self.tracker.route.route_id if self.tracker else None,
                "gps": self.source.status.to_json(),
                "queue_depth": self.link.queue_depth() if self.link else 0,
                "state_store": self.state.describe(),
                "counters": {k: self.counters[k] for k in STATUS_COUNTERS if self.counters[k]}}

    def _publish_step(self, step: Step, fix: Fix | None) -> None:
        for ev in step.events:
            self.emit(ev)
        if any(ev["type"] in ("arrival", "departure") for ev in step.events):
            self._save_history()   # what a stop taught (its dwell, the calibration it scored) is kept
        if step.messages:
            self.sender.kick()
        if self.link is not None and self.tracker is not None:
            if fix is not None:
                self.link.set_retained("position", position_payload(fix, step.estimate))
            if step.estimate is not None and self._eta_pacer.due(step.estimate.t, bool(step.events)):
                self.link.set_retained("eta", eta_payload(self.tracker, step.estimate))
        if self.hooks.on_step is not None and self.tracker is not None:
            self.hooks.on_step(step, self.tracker)

    # -- routes ------------------------------------------------------------------------------
    def accept_route(self, route: Route, origin: str, unreachable: Sequence[Problem] = ()) -> None:
        """Install `route`; `unreachable`: customers kept off messages for bad contact details
        (see `parse_manifest`), each told to dispatch."""
        if route.vehicle_id != self.settings.vehicle.id:
            self.emit({"type": "route_rejected", "origin": origin, "route_id": route.route_id,
                       "reason": f"manifest is for vehicle {route.vehicle_id!r}, this is {self.settings.vehicle.id!r}"})
            return
        self._install(self.orders.apply(route), origin)
        for p in unreachable:
            log.warning("route %s: customer not to be messaged: %s", route.route_id, p)
            self.emit({"type": "customer_unreachable", "route_id": route.route_id, "origin": origin,
                       "field": p.field, "reason": mask_phones_in(p.message)})

    def _install(self, route: Route, origin: str) -> None:
        cur = self.tracker
        if cur is not None and cur.route.route_id == route.route_id and cur.route.version == route.version:
            return
        if cur is not None:
            self.history.save(self.conn)
        self.tracker = RouteTracker(route, self.settings.alerts, self.outbox, conn=self.conn, history=self.history)
        self._eta_pacer.reset()
        kind = "route_updated" if cur is not None and cur.route.route_id == route.route_id else "route_loaded"
        self.emit({"type": kind, "route_id": route.route_id, "version": route.version, "origin": origin,
                   "stops": len(route.stops),
                   **({"reused_from": self.tracker.reused_from} if self.tracker.reused_from else {})})
        withdrawn = {(route.route_id, sid): n for sid, n in self.tracker.withdrawn.items()}
        if cur is not None and cur.route.route_id != route.route_id:   # replaced: the old plan's stops are not ours now
            withdrawn.update({(cur.route.route_id, sid): n
                              for sid, n in withdraw_unplanned(self.outbox, cur.route.route_id, ()).items()})
        for (rid, sid), n in withdrawn.items():
            self.emit({"type": "withdrawn", "route_id": rid, "stop_id": sid, "messages": n, "reason": "not in the plan"})
        if self.settings.gps.source != "file" or self._last_fix_t is not None:
            # a recorded drive starts its route at its first fix, in log time (RouteTracker.on_fix)
            self._publish_step(self.tracker.start(self.now()), None)

    def reject_route(self, err: ConfigError, origin: str) -> None:
        log.error("route rejected (%s):\n%s", origin, err)
        self.emit({"type": "route_rejected", "origin": origin, "reason": [str(p) for p in err.problems][:20]})

    def scan_routes_dir(self) -> None:
        d = self.settings.routes.dir
        if not d:
            return
        if not Path(d).is_dir():
            if not self._routes_dir_missing:
                log.warning("routes dir %s does not exist (yet): waiting for it, and for the MQTT route topic", d)
            self._routes_dir_missing = True
            return
        self._routes_dir_missing = False
        for path in sorted(Path(d).glob("*.json")):
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if self._route_files.get(path) == mtime:
                continue
            self._route_files[path] = mtime
            unreachable: list[Problem] = []
            try:
                route = parse_manifest(path.read_bytes(), str(path), unreachable=unreachable)
            except ConfigError as e:
                self.reject_route(e, str(path))
                continue
            except OSError as e:
                log.error("cannot read %s: %s", path, e.strerror)
                continue
            if route.vehicle_id == self.settings.vehicle.id:
                self.accept_route(route, str(path), unreachable)

    async def _on_mqtt(self, suffix: str, payload: bytes) -> None:
        if suffix == "route":
            unreachable: list[Problem] = []
            try:
                route = parse_manifest(payload, f"mqtt:{self.link.topic('route')}", unreachable=unreachable)
            except ConfigError as e:
                self.reject_route(e, "mqtt")
                return
            self.accept_route(route, "mqtt", unreachable)
        elif suffix == "nmea" and isinstance(self.source, LineQueueSource):
            self.source.push(payload)
        elif suffix == "cmd":
            self._on_cmd(payload)

    def _on_cmd(self, payload: bytes) -> None:
        try:
            try:
                doc = json.loads(payload)
            except json.JSONDecodeError as e:
                raise ValueError(f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
            if not isinstance(doc, dict):
                raise ValueError('a command is a JSON object {"cmd": "complete"|"skip"|"fail", "stop_id": "..."}'
                                 ' or {"cmd": "reorder", "order": ["S4", "S3", ...]}')
            cmd = doc["cmd"]
            if cmd not in ("complete", "skip", "fail", "reorder"):
                raise ValueError(f"unknown cmd {cmd!r} (complete | skip | fail | reorder)")
            if self.tracker is None:
                raise ValueError("no route loaded")
            if cmd == "reorder":
                cur = self.tracker
                done = {sid: rec.state.value for sid, rec in cur.book.records.items() if rec.state.done}
                route = reordered(cur.route, doc["order"], done)      # names every problem
            else:
                stop_id = doc["stop_id"]
                if not isinstance(stop_id, str) or all(s.id != stop_id for s in self.tracker.route.stops):
                    # not a KeyError: that would read "missing field" below
                    raise ValueError(f"unknown stop {stop_id!r} on route {self.tracker.route.route_id}")
        except (ValueError, KeyError, TypeError) as e:
            reason = f"missing field {e}" if isinstance(e, KeyError) else str(e)
            self.emit({"type": "input_rejected", "topic": "cmd", "reason": reason})
            return
        if cmd == "reorder":
            self.orders.save(route.route_id, base_version(self.tracker.route), doc["order"])
            self._install(route, "cmd")
        else:
            self._publish_step(self.tracker.command(cmd, stop_id, self.now()), None)

    # -- tasks -------------------------------------------------------------------------------
    async def _gps(self) -> None:
        async for fix in self.source.fixes():
            self._last_fix_t = fix.t
            self._last_fix_wall = time.monotonic()
            offset = fix.t - time.time()
            if abs(offset - self._gps_offset) > CLOCK_WARN_S:
                if self.settings.gps.source == "file":     # a recorded drive: its own time, by design
                    log.info("replaying a drive recorded %s: windows are judged by its log time", iso(fix.t))
                else:
                    log.warning("system clock is %s GPS time (%s): the daemon goes by GPS time",
                                clock_gap(-offset), iso(fix.t))
            self._gps_offset = offset
            if self.tracker is not None:
                self._publish_step(self.tracker.on_fix(fix), fix)
            elif self.link is not None:
                self.link.set_retained("position", position_payload(fix, None))
        self._eof.set()
        if self.hooks.exit_at_eof:
            self._stop.set()

    async def _tick(self) -> None:
        stale = self.settings.gps.stale_after_s
        last_status, last_status_at = "", 0.0
        saved_at = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            self._tick_beat = time.monotonic()
            now = self.now()
            if self.tracker is not None and self._last_fix_t is not None and now - self._last_fix_t > stale \
                    and not self._eof.is_set():
                self._publish_step(self.tracker.on_tick(now), None)
            if self.link is not None:
                # republish on a change of state (GPS, route, store), and every STATUS_EVERY_S for the counters
                status = self._status()
                key = json.dumps({k: v for k, v in status.items() if k not in ("ts", "gps", "counters", "queue_depth")}
                                 | {"gps": status["gps"].get("state")}, sort_keys=True)
                if key != last_status or time.monotonic() - last_status_at >= STATUS_EVERY_S:
                    last_status, last_status_at = key, time.monotonic()
                    self.link.set_retained("status", status)
            if time.monotonic() - saved_at >= HISTORY_SAVE_S:
                saved_at = time.monotonic()
                self._save_history()
            if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
                self.prune_state()
            self.state.maybe_recover()

    def prune_state(self) -> None:
        """Delete messages finished more than `[state] keep_days` ago, and the stop states and
        orders of routes left with none. Only by GPS time (a gateway that boots with its clock
        years ahead must not delete this week's rows, whose absence would let a re-sent
        manifest message its customers again), never the route in hand, never in a replay."""
        days = self.settings.state.keep_days
        if not days or self._last_fix_t is None or self.settings.gps.source == "file":
            return
        self._pruned_at = time.monotonic()
        gone = self.outbox.prune(self.now() - days * 86400.0)
        if self.tracker is not None:
            gone.discard(self.tracker.route.route_id)
        if gone:
            forget_routes(self.conn, gone)
            self.orders.forget(gone)
            log.info("state file: messages and stop states of %d route(s) finished over %g days ago deleted",
                     len(gone), days)

    async def _routes(self) -> None:
        while True:
            self.scan_routes_dir()
            await asyncio.sleep(2.0)

    async def _watchdog(self, interval: float) -> None:
        while True:
            if time.monotonic() - self._tick_beat < max(3 * TICK_S, interval):
                self.sd.watchdog()
            else:
                log.error("main loop stalled: withholding WATCHDOG=1 so systemd restarts us")
            await asyncio.sleep(interval)

    async def _stopper(self) -> None:
        """SIGTERM: finish in-flight sends, say offline, flush events; then cancel everything."""
        await self._stop.wait()
        self.sd.stopping("finishing sends and flushing state")
        t0 = time.monotonic()
        try:
            await self.sender.drain(timeout=SHUTDOWN_BUDGET_S / 2)
        except Exception:
            log.exception("draining the outbox failed")
        if self.link is not None:
            self.link.set_retained("status", self._status())   # "offline": we are stopping
            if not await self.link.flush(SHUTDOWN_BUDGET_S - (time.monotonic() - t0)):
                log.warning("mqtt: %d events stay queued on disk for the next start", self.link.queue_depth())
        raise _Shutdown

    # -- lifecycle ---------------------------------------------------------------------------
    def stop(self) -> None:
        """What SIGTERM does: finish in-flight work and return from run()."""
        self._stop.set()

    def reload(self) -> None:
        """SIGHUP: new config and route files; a bad config is refused and the old one runs on."""
        self.sd.reloading()
        if not self.config_path:
            return
        try:
            new = load_settings(self.config_path)
        except ConfigError as e:
            log.error("reload refused, keeping the running config:\n%s", e)
            self.emit({"type": "config_rejected", "reason": [str(p) for p in e.problems][:20]})
        else:
            for section in ("vehicle", "gps", "mqtt", "twilio", "state"):
                if getattr(new, section) != getattr(self.settings, section):
                    log.warning("reload: [%s] changed; that takes a restart", section)
            self.settings = self.settings.model_copy(update={"alerts": new.alerts, "routes": new.routes, "log": new.log})
            if self.tracker is not None:
                self.tracker.set_alerts(new.alerts)
            logging.getLogger().setLevel(new.log.level.upper())
            self._route_files.clear()
            self.scan_routes_dir()
            log.info("config reloaded from %s", self.config_path)
        self.sd.ready("reloaded")

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.sd.status("warming ETA kernels")
        # a gateway serves one truck: no fleet kernel
        secs = await self.sd.extend_while(asyncio.to_thread(warm_kernels, fleet=False), "warming ETA kernels")
        log.info("ETA kernels ready in %.2f s", secs)
        self.scan_routes_dir()
        await self.sender.reconcile()
        interval = watchdog_interval()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._stopper(), name="stopper")
                tg.create_task(self._gps(), name="gps")
                tg.create_task(self._tick(), name="tick")
                tg.create_task(self.sender.run(), name="sender")
                if self.link is not None:
                    self.link.set_retained("status", self._status())
                    tg.create_task(self.link.run(), name="mqtt")
                if self.settings.routes.dir:
                    tg.create_task(self._routes(), name="routes")
                if interval:
                    tg.create_task(self._watchdog(interval), name="watchdog")
                route = self.tracker.route.route_id if self.tracker else "none yet"
                self.sd.ready(f"running; route {route}")
                log.info("forewarn %s running for vehicle %s (route %s)", __version__, self.settings.vehicle.id, route)
        except* _Shutdown:
            pass
        finally:
            self._shutdown()
        return 0

    def _save_history(self) -> None:
        try:
            self.history.save(self.conn)
        except sqlite3.Error as e:
            log.error("learned history not saved: %s", e)

    def _shutdown(self) -> None:
        if self.hooks.on_stop is not None:
            self.hooks.on_stop(self)
        self._save_history()   # into the in-memory copy too: state.close() tries to write that back one last time
        self.state.close()
        log.info("stopped cleanly")


class _Shutdown(Exception):
    """Raised inside the TaskGroup to cancel every task on SIGTERM."""


def run_daemon(config_path: str) -> int:
    from ._log import setup_logging
    try:
        settings = load_settings(config_path)
    except ConfigError as e:
        print(f"forewarn: bad config:\n{e}", file=sys.stderr)
        return 2
    setup_logging(settings.log.level)
    try:
        daemon = Daemon(settings, config_path=config_path)
    except ConfigError as e:
        print(f"forewarn: bad config:\n{e}", file=sys.stderr)
        return 2
    # A DNS lookup for an unreachable broker runs in an executor thread that cannot be cancelled and
    # may hold the interpreter for a minute (seen with an unresolvable broker name). asyncio.run()
    # would join it; we run the loop ourselves and, once everything is closed and flushed, leave
    # without joining it: systemd wants us gone within seconds of SIGTERM.
    loop = asyncio.new_event_loop()
    code = 1
    try:
        code = loop.run_until_complete(daemon.run())
    except Exception:
        log.critical("forewarn failed; systemd will restart it", exc_info=True)
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)

"""`forewarn` command line (DESIGN.md "CLI"). Exit codes: 0 ok, 2 bad input, 1 runtime failure.

Heavy modules (numba, aiomqtt, twilio) are imported inside each command, so `forewarn check`
answers fast and NUMBA_CACHE_DIR can be set from systemd's CACHE_DIRECTORY before numba loads.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _numba_cache_from_systemd() -> None:
    """Under systemd, CacheDirectory= is the writable place for Numba's cache (FIELD-NOTES)."""
    cache = os.environ.get("CACHE_DIRECTORY")
    if cache and "NUMBA_CACHE_DIR" not in os.environ:
        os.environ["NUMBA_CACHE_DIR"] = os.path.join(cache.split(":")[0], "numba")


def _parse_delays(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        stop, sep, minutes = item.partition("=")
        try:
            if not sep or not stop:
                raise ValueError
            out[stop] = float(minutes)
        except ValueError:
            raise UsageError(f"--delay {item!r}: expected STOP=MINUTES, e.g. S3=25") from None
    return out


class UsageError(ValueError):
    """Bad command-line arguments found after argparse: exit 2 like argparse itself."""


def _dated_note(route, now: float) -> str:
    """A valid manifest can still be the wrong day's: say so (by this machine's clock)."""
    from forewarn.config import AlertSettings
    from ._routeday import service_day
    hours = AlertSettings().expire_hours
    last_end = max(s.window.end_t for s in route.stops)
    if now - last_end > hours * 3600:
        return (f"every window ended more than {hours:g} h ago (service day {service_day(route)}): a truck "
                f"would track it but tell no customer ([alerts] expire_hours)")
    return ""


def cmd_check(args: argparse.Namespace) -> int:
    from forewarn.config import ConfigError, load_route, load_settings
    path = Path(args.file)
    try:
        text = path.read_bytes()
    except OSError as e:
        print(f"{path}: cannot read: {e.strerror}", file=sys.stderr)
        return 2
    try:
        if path.suffix == ".json" or text.lstrip()[:1] == b"{":
            route = load_route(path)
            print(f"{path}: ok: route {route.route_id}, vehicle {route.vehicle_id}, {len(route.stops)} stops"
                  f"{', geometry ' + str(len(route.geometry)) + ' points' if route.geometry else ', no geometry (straight legs)'}")
            note = _dated_note(route, time.time())
            if note:
                print(f"{path}: note: {note}")
        else:
            s = load_settings(path)
            print(f"{path}: ok: vehicle {s.vehicle.id}, gps {s.gps.source}, mqtt {'on' if s.mqtt else 'off'}, "
                  f"twilio {'on' if s.twilio else 'off (messages to the log)'}")
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        print(f"{len(e.problems)} problem(s) found", file=sys.stderr)
        return 2
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from ._runtime import run_daemon
    return run_daemon(args.config)


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo
    return run_demo(speed=args.speed, quiet=args.quiet)


def cmd_replay(args: argparse.Namespace) -> int:
    from forewarn.config import AlertSettings, ConfigError, load_route, load_settings
    from ._replay import read_lines, replay
    try:
        route = load_route(args.route)
        alerts = load_settings(args.config).alerts if args.config else AlertSettings()
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 2
    try:
        lines = read_lines(args.log)
    except OSError as e:
        print(f"{args.log}: cannot read: {e.strerror}", file=sys.stderr)
        return 2
    doc = replay(lines, route, alerts, state_path=args.state, step_s=args.step)
    if args.report:
        from ._report import write_report
        write_report(doc, Path(args.report))
    if not args.events:
        doc.pop("events", None)
    if args.json:
        json.dump(doc, sys.stdout, indent=None if args.compact else 1)
        print()
    else:
        from ._report import print_summary
        print_summary(doc, sys.stdout)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ._report import print_fleet_report
    docs = []
    for p in args.files:
        try:
            docs.append(json.loads(Path(p).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            print(f"{p}: not a replay JSON document ({e})", file=sys.stderr)
            return 2
    print_fleet_report(docs, sys.stdout)
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from forewarn.devices import decode_main
    return decode_main(args.log, sys.stdout, sys.stderr)


def cmd_simulate(args: argparse.Namespace) -> int:
    from forewarn.config import ConfigError, load_route
    from forewarn.eta.simulate import simulate, write_simulation
    try:
        route = load_route(args.route)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 2
    delays = _parse_delays(args.delay)
    unknown = sorted(set(delays) - {s.id for s in route.stops})
    if unknown:
        print(f"forewarn: --delay names stops not in {args.route}: {', '.join(unknown)}", file=sys.stderr)
        return 2
    if args.detour and args.detour not in {s.id for s in route.stops}:
        print(f"forewarn: --detour {args.detour!r} is not a stop of {args.route}", file=sys.stderr)
        return 2
    start = None
    if args.start:
        from datetime import datetime
        try:
            start = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
            if start.tzinfo is None:
                raise ValueError
        except ValueError:
            print(f"forewarn: --start {args.start!r}: expected ISO 8601 with an offset, e.g. 2026-11-23T13:00:00Z",
                  file=sys.stderr)
            return 2
    sim = simulate(route, seed=args.seed, delays=delays, start=start, hz=args.hz, detour=args.detour,
                   dropouts=not args.no_dropouts)
    if args.output:
        write_simulation(sim, Path(args.output))
        print(f"wrote {args.output} ({len(sim.lines)} sentences) and its .truth.json", file=sys.stderr)
    else:
        sys.stdout.write("\n".join(sim.lines) + "\n")
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from ._watch import run_watch
    return run_watch(args.broker, args.prefix, once=args.once, timeout=args.timeout)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="forewarn", description="Delivery ETAs and early delay alerts from a truck's GPS.")
    p.add_argument("--version", action="version", version="forewarn 0.1.0")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("run", help="the daemon (systemd's ExecStart)")
    s.add_argument("-c", "--config", default="/etc/forewarn/forewarn.toml")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("demo", help="replay a bundled real drive against a bundled route; no broker or Twilio needed")
    s.add_argument("--speed", type=float, default=60.0, help="replay speed factor (default 60x)")
    s.add_argument("--quiet", action="store_true", help="no live progress, just messages and the summary")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("replay", help="backtest a recorded NMEA log against a route")
    s.add_argument("log", metavar="LOG")
    s.add_argument("--route", required=True, metavar="ROUTE.json")
    s.add_argument("-c", "--config", help="take [alerts] from this config")
    s.add_argument("--state", metavar="DB", help="read and update the learned travel/dwell history in this state file")
    s.add_argument("--report", metavar="DIR", help="write replay.json and PNG plots here")
    s.add_argument("--json", action="store_true", help="print the JSON document")
    s.add_argument("--compact", action="store_true", help="with --json: one line")
    s.add_argument("--events", action="store_true", help="include every event in the JSON")
    s.add_argument("--step", type=float, default=0.0, help="one prediction per stop every STEP log seconds (default: per fix)")
    s.set_defaults(func=cmd_replay)

    s = sub.add_parser("report", help="promises kept, warnings and their lead time over replay JSON files")
    s.add_argument("files", nargs="+", metavar="REPLAY.json")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("decode", help="NMEA in (file or -), one JSON line per fix out")
    s.add_argument("log", metavar="LOG")
    s.set_defaults(func=cmd_decode)

    s = sub.add_parser("simulate", help="write a realistic NMEA stream for driving a route")
    s.add_argument("--route", required=True, metavar="ROUTE.json")
    s.add_argument("--delay", action="append", default=[], metavar="STOP=MIN", help="inject MIN minutes of delay before STOP")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--detour", metavar="STOP", help="leave the route for a ~2 km detour before STOP")
    s.add_argument("--start", metavar="TIME", help="departure time (ISO 8601); default: before the first window")
    s.add_argument("--hz", type=float, default=1.0, help="fixes per second (default 1)")
    s.add_argument("--no-dropouts", action="store_true", help="no GPS dropouts")
    s.add_argument("-o", "--output", metavar="FILE.nmea", help="write here (+ FILE.truth.json) instead of stdout")
    s.set_defaults(func=cmd_simulate)

    s = sub.add_parser("watch", help="dispatcher's live terminal view of the MQTT topics")
    s.add_argument("--broker", default="mqtt://localhost:1883")
    s.add_argument("--prefix", default="fleet")
    s.add_argument("--once", action="store_true", help="print one snapshot after --timeout seconds and exit")
    s.add_argument("--timeout", type=float, default=3.0)
    s.set_defaults(func=cmd_watch)

    s = sub.add_parser("check", help="validate a config (TOML) or route manifest (JSON)")
    s.add_argument("file", metavar="CONFIG|ROUTE")
    s.set_defaults(func=cmd_check)
    return p


def main(argv: list[str] | None = None) -> int:
    _numba_cache_from_systemd()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"forewarn: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

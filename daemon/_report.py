"""Human-readable and plotted views of replay results (`replay`, `replay --report`, `report`)."""
from __future__ import annotations

import json
import statistics
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TextIO

from ._wire import from_iso, local_clock, zone


def route_zone(doc: dict) -> tzinfo:
    """The route's own clock, in which its windows were promised (UTC for replay files from
    before the document carried its zone, or a zone this machine does not know)."""
    return zone(doc.get("timezone"))


def _lead(minutes: float | None) -> str:
    return "-" if minutes is None else f"{minutes} min"


def print_summary(doc: dict, out: TextIO) -> None:
    """Times on the route's local clock: a dispatcher reads a window as it was promised."""
    tz = route_zone(doc)
    out.write(f"route {doc['route_id']} ({tz})  log {doc.get('log_start')} .. {doc.get('log_end')}\n")
    for s in doc["stops"]:
        w = s["window"]
        out.write(f"  {s['id']:<10} window {local_clock(w['start'], tz)}-{local_clock(w['end'], tz)}  "
                  f"state {s['state']:<10} arrived {local_clock(s['arrived'], tz, '%H:%M:%S'):<8}  "
                  f"messages {', '.join(m['kind'] + '@' + local_clock(m['at'], tz) for m in s['messages']) or '-'}\n")
    m = doc["metrics"]
    out.write(f"  late {m['late']} (warned before window end {m['late_warned_before_window_end']}, "
              f"median lead {_lead(m['median_lead_min'])}), false alarms {m['false_alarms']}, "
              f"messages/stop {m['messages_per_stop']}\n")
    c = doc["counters"]
    out.write("  counters " + " ".join(f"{k}={v}" for k, v in c.items()) + "\n")


def fleet_totals(docs: list[dict]) -> dict:
    """The business figures over several replays (a day of routes): one computation for
    `forewarn report` and bench/alerts.py."""
    ms = [d["metrics"] for d in docs]
    late = sum(m["late"] for m in ms)
    warned = sum(m["late_warned_before_window_end"] for m in ms)
    on_time = sum(m["on_time"] for m in ms)
    false = sum(m["false_alarms"] for m in ms)
    stops = sum(m["stops"] for m in ms)
    leads = sorted(v for m in ms for v in m["warning_lead_min"])
    messages = sum(len(s["messages"]) for d in docs for s in d["stops"])
    dup = sum(len(s["messages"]) - len({(m["kind"], m["at"], m["text"]) for m in s["messages"]})
              for d in docs for s in d["stops"])
    return {
        "routes": len(docs), "stops": stops, "on_time": on_time, "late": late, "warned": warned,
        "not_warned": sum(m["late_not_warned"] for m in ms), "false_alarms": false, "leads_min": leads,
        "warned_pct": round(100 * warned / late, 1) if late else None,
        "median_lead_min": round(statistics.median(leads), 1) if leads else None,
        "false_alarm_pct": round(100 * false / on_time, 2) if on_time else None,
        "duplicates": dup, "messages_per_stop": round(messages / max(stops, 1), 2),
        "approach_broken": sum(m.get("approach_broken", 0) for m in ms),
        "approach_broken_told": sum(m.get("approach_broken_told", 0) for m in ms),
    }


def print_fleet_report(docs: list[dict], out: TextIO) -> None:
    """Per-route table, then the totals of `fleet_totals`."""
    out.write(f"{'route':<28}{'stops':>6}{'on time':>9}{'late':>6}{'warned':>8}{'unwarned':>10}{'false':>7}{'msgs/stop':>11}\n")
    for d in docs:
        m = d["metrics"]
        out.write(f"{d['route_id']:<28}{m['stops']:>6}{m['on_time']:>9}{m['late']:>6}{m['late_warned_before_window_end']:>8}"
                  f"{m['late_not_warned']:>10}{m['false_alarms']:>7}{m['messages_per_stop']:>11}\n")
    t = fleet_totals(docs)
    out.write(f"\nlate stops warned before their window ended: {t['warned']}/{t['late']} ({t['warned_pct']:.0f}%)\n"
              if t["late"] else "\nno late stops\n")
    if t["leads_min"]:
        out.write(f"median warning lead: {_lead(t['median_lead_min'])} (all: {t['leads_min']})\n")
    if t["on_time"]:
        out.write(f"false alarms: {t['false_alarms']}/{t['on_time']} on-time stops ({t['false_alarm_pct']:.1f}%)\n")
    out.write(f"duplicate messages: {t['duplicates']}; messages per stop: {t['messages_per_stop']:.2f}\n")
    out.write(f"\"about N min away\", then the truck 10+ min later: {t['approach_broken']} stops, told before it came "
              f"(held up or delay): {t['approach_broken_told']}\n")


def write_report(doc: dict, directory: Path) -> list[Path]:
    """replay.json, and one PNG per stop (p10/p50/p90 and P(late) over time) when matplotlib is there."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "replay.json"]
    written[0].write_text(json.dumps(doc, indent=1))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        (directory / "PLOTS-MISSING.txt").write_text("install matplotlib (pip install 'forewarn[plot]') for PNG plots\n")
        return written
    import matplotlib.dates as mdates
    tz = route_zone(doc)

    def ts(s: str) -> datetime:
        return from_iso(s).astimezone(tz)

    for s in doc["stops"]:
        if not s["predictions"]:
            continue
        at = [ts(p["at"]) for p in s["predictions"]]
        fig, (ax, ax2) = plt.subplots(2, 1, sharex=True, figsize=(8, 5), height_ratios=(3, 1))
        ax.fill_between(at, [ts(p["p10"]) for p in s["predictions"]], [ts(p["p90"]) for p in s["predictions"]],
                        alpha=0.3, label="p10-p90")
        ax.plot(at, [ts(p["p50"]) for p in s["predictions"]], label="p50")
        ax.axhspan(ts(s["window"]["start"]), ts(s["window"]["end"]), color="green", alpha=0.1, label="window")
        if s["arrived"]:
            ax.axhline(ts(s["arrived"]), color="black", linestyle="--", label="arrived")
        for m in s["messages"]:
            ax.axvline(ts(m["at"]), color="red" if m["kind"] == "delay" else "grey", linewidth=0.8)
        ax.set_ylabel(f"predicted arrival ({tz})")
        ax.yaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
        ax2.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
        ax.legend(loc="best", fontsize=7)
        ax.set_title(f"{doc['route_id']} / {s['id']}")
        ax2.plot(at, [p["p_late"] for p in s["predictions"]], color="red")
        ax2.set_ylabel("P(late)")
        ax2.set_ylim(0, 1)
        fig.autofmt_xdate()
        path = directory / f"stop-{s['id']}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written

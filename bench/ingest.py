"""Ingestion throughput over the real corpus: full NmeaDecoder vs a bare pynmea2.parse loop.

Same lines, same process, interleaved repeats, medians. "full" is what the daemon runs per
line: pre-filter, pynmea2.parse(check=True) for used types, field conversion, epoch
assembly, plausibility gate. "bare" is `pynmea2.parse(line, check=True)` on every line
(try/except, nothing else), given already-decoded str lines (its best case; the full path
takes raw bytes as a serial port delivers them). "bare-used" is the same loop restricted to
the lines the pre-filter lets through, to show what assembly and checks cost on top of
parsing.

    .venv/bin/python bench/ingest.py [--repeats 7]
Prints a table and, last, one JSON line.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pynmea2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forewarn.devices import NmeaDecoder  # noqa: E402
from forewarn.devices._frame import frame  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def corpus() -> list[bytes]:
    """Every receiver line of every capture (capture-file `#` comments removed)."""
    paths = sorted((DATA / "gpsd").glob("*.log")) + [DATA / "tizen-replay" / "nmea_replay.log"]
    lines: list[bytes] = []
    for path in paths:
        for line in path.read_bytes().split(b"\n"):
            if line.strip() and not line.startswith(b"#"):
                lines.append(line)
    return lines


def full(lines: list[bytes]) -> Callable[[], int]:
    def run() -> int:
        dec = NmeaDecoder()
        n = 0
        for line in lines:
            n += len(dec.feed(line))
        return n + len(dec.flush())
    return run


def bare(lines: list[str]) -> Callable[[], int]:
    def run() -> int:
        ok = 0
        for line in lines:
            try:
                pynmea2.parse(line, check=True)
                ok += 1
            except Exception:
                pass
        return ok
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    raw = corpus()
    text = [ln.decode("ascii", "replace").strip() for ln in raw]
    used = [t for r, t in zip(raw, text) if frame(r).sentence is not None]
    cases = {"full": (full(raw), len(raw)), "bare": (bare(text), len(text)),
             "bare-used": (bare(used), len(used))}
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.repeats):          # interleaved: drift hits every case alike
        for name, (fn, _n) in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)

    med = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: cases[k][1] / med[k] for k in cases}
    ratio = med["full"] / med["bare"]
    print(f"corpus: {len(raw)} lines ({len(used)} of the types we decode), "
          f"{args.repeats} repeats, medians")
    print(f"{'case':<10} {'lines':>7} {'median s':>10} {'lines/s':>12} {'us/line':>8}")
    for k in cases:
        print(f"{k:<10} {cases[k][1]:>7} {med[k]:>10.4f} {rate[k]:>12,.0f} "
              f"{1e6 * med[k] / cases[k][1]:>8.2f}")
    print(f"full / bare time ratio: {ratio:.2f}  (target <= 1.5; < 1 means the pre-filter "
          f"makes the whole ingestion cheaper than parsing every line)")
    print(f"full lines/s: {rate['full']:,.0f}  (target >= 100,000 on one core)")
    print(json.dumps({
        "bench": "ingest", "lines": len(raw), "used_lines": len(used), "repeats": args.repeats,
        "full_s": round(med["full"], 5), "bare_s": round(med["bare"], 5),
        "bare_used_s": round(med["bare-used"], 5),
        "full_lines_per_s": round(rate["full"]), "bare_lines_per_s": round(rate["bare"]),
        "bare_used_lines_per_s": round(rate["bare-used"]),
        "full_over_bare": round(ratio, 3),
        "full_over_bare_used": round(med["full"] / med["bare-used"], 3),
    }))


if __name__ == "__main__":
    main()

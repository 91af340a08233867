"""FileSource (replay, paced replay) and `forewarn decode` on real files."""
from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from pathlib import Path

from forewarn.devices import FileSource, Fix, GpsSource, decode_main
from tests.devices.nmea import T0, drive

DATA = Path(__file__).parent.parent / "data"
TIZEN = DATA / "tizen-replay" / "nmea_replay.log"


async def collect(source: FileSource) -> tuple[list[Fix], float]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    fixes = [fix async for fix in source.fixes()]
    return fixes, loop.time() - start


def test_file_replay_as_fast_as_possible_yields_every_fix_of_a_real_drive() -> None:
    source = FileSource(TIZEN)
    assert isinstance(source, GpsSource)
    fixes, _ = asyncio.run(collect(source))
    assert len(fixes) == 596  # one per second, 14:42:23 .. 14:52:18
    assert all(b.t - a.t == 1.0 for a, b in zip(fixes, fixes[1:]))
    assert source.status.counters["unsupported"] == 1787  # the GSV lines
    # a replay that ended is not a receiver that vanished: the status says which
    assert source.status.state == "no-device" and source.status.detail == f"end of {TIZEN}"


def test_paced_replay_honours_the_data_timestamps(tmp_path: Path) -> None:
    log = tmp_path / "drive.nmea"
    log.write_text("\n".join(drive(T0, 11, step_s=2.0)) + "\n")  # 20 s of data time
    fixes, elapsed = asyncio.run(collect(FileSource(log, speed=50.0)))
    assert len(fixes) == 11
    # asyncio.sleep never returns early: 20 s / 50 is a lower bound that cannot flake
    assert elapsed >= 20.0 / 50.0


def test_missing_file_ends_the_replay_with_a_named_reason(tmp_path: Path) -> None:
    source = FileSource(tmp_path / "nope.nmea")
    fixes, _ = asyncio.run(collect(source))
    assert fixes == [] and source.status.counters["open_failed"] == 1
    assert source.status.state == "no-device"


def test_decode_prints_one_json_line_per_fix_and_counters_on_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    path = DATA / "gpsd" / "gp-320fw-2019-04-07-coldboot.log"
    assert decode_main(str(path), out, err) == 0
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert len(lines) == 1
    assert set(lines[0]) == {"time", "lat", "lon", "alt", "speed", "course", "mode", "sats",
                             "hdop"}
    summary = json.loads(err.getvalue())
    assert summary["fixes"] == 1
    assert {"checksum", "truncated", "garbage", "invalid_fix"} <= set(summary["dropped"])


def test_decode_of_an_unreadable_path_exits_2_with_a_message(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert decode_main(str(tmp_path / "missing.log"), out, err) == 2
    assert "cannot open" in err.getvalue() and out.getvalue() == ""
    assert decode_main(str(tmp_path), out, err) == 2  # a directory


def test_replay_from_a_live_stdin_pipe_does_not_wait_for_eof() -> None:
    """`gpspipe -r | …`: fixes must flow while the pipe is still open."""
    child = ("import asyncio, json, sys\n"
             "from forewarn.devices import FileSource\n"
             "async def main():\n"
             "    async for fix in FileSource('-').fixes():\n"
             "        print(json.dumps(fix.to_json()), flush=True)\n"
             "asyncio.run(main())\n")

    async def main() -> list[dict]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", child, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(("\n".join(drive(T0, 4)) + "\n").encode())
        await proc.stdin.drain()
        got = [json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
               for _ in range(3)]          # 3 of 4 epochs complete while stdin stays open
        proc.stdin.close()
        got.append(json.loads(await asyncio.wait_for(proc.stdout.readline(), 30)))
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        return got

    got = asyncio.run(main())
    assert [g["time"] for g in got] == [f"2026-11-23T10:00:0{i}Z" for i in range(4)]


def test_decode_reads_stdin_with_dash() -> None:
    log = DATA / "gpsd" / "nl2008u.log"
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from forewarn.devices import decode_main; "
         "sys.exit(decode_main('-', sys.stdout, sys.stderr))"],
        stdin=log.open("rb"), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 9
    assert json.loads(proc.stderr)["fixes"] == 9


def test_a_directory_or_unreadable_path_ends_the_replay_with_a_reason(tmp_path: Path) -> None:
    source = FileSource(tmp_path)             # a directory: open() itself fails
    fixes, _ = asyncio.run(collect(source))
    assert fixes == [] and source.status.counters["open_failed"] == 1
    if Path("/proc/self/mem").exists():       # opens, but reading at offset 0 fails (EIO)
        source = FileSource("/proc/self/mem")
        fixes, _ = asyncio.run(collect(source))
        assert fixes == [] and source.status.counters["read_failed"] == 1

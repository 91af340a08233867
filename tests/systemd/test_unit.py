"""The unit file passes systemd's own checks, and the daemon speaks sd_notify as systemd expects."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.daemon.helpers import write_config
from tests.daemon.proc import DaemonProcess

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "forewarn.service"


@pytest.fixture
def analyze():
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.fail("systemd-analyze missing: scripts/test.sh installs the systemd package")
    return exe


def test_unit_verifies(tmp_path, analyze):
    # verify checks that ExecStart exists: point it at this checkout's entry point
    unit = tmp_path / "forewarn.service"
    forewarn = Path(sys.executable).parent / "forewarn"
    unit.write_text(UNIT.read_text().replace("/opt/forewarn/venv/bin/forewarn", str(forewarn)))
    r = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [l for l in (r.stdout + r.stderr).splitlines() if "forewarn.service" in l]
    assert r.returncode == 0 and not problems, r.stdout + r.stderr


def test_unit_exposure_is_low_and_jit_friendly(analyze):
    r = subprocess.run([analyze, "security", "--offline=true", str(UNIT)], capture_output=True, text=True, timeout=60)
    line = next(l for l in r.stdout.splitlines() if "Overall exposure level" in l)
    level = float(line.split(":")[1].split()[0])
    assert level <= 2.5, line
    text = UNIT.read_text()
    assert "\nMemoryDenyWriteExecute=yes" not in text, "Numba's JIT needs W+X memory"
    assert "\nPrivateDevices=yes" not in text, "it would hide the GPS serial port"
    for needed in ("Type=notify", "WatchdogSec=", "StateDirectory=", "CacheDirectory=", "NUMBA_CACHE_DIR",
                   "LoadCredential=twilio-token", "SupplementaryGroups=dialout", "DevicePolicy=closed"):
        assert needed in text


def test_ready_watchdog_stopping_in_order(tmp_path):
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(60)
    config = write_config(tmp_path, speed=1)   # a slow replay: the daemon is busy, not finished
    d = DaemonProcess(config, env={"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "1000000"}).start()
    got: list[str] = []
    try:
        def until(field: str) -> None:
            while True:
                msg = sock.recv(4096).decode()
                got.extend(msg.split("\n"))
                if field in msg.split("\n"):
                    return
        until("READY=1")
        assert any(g.startswith("STATUS=") for g in got), "status text says what it is doing"
        until("WATCHDOG=1")
        d.proc.send_signal(15)
        until("STOPPING=1")
        assert d.proc.wait(timeout=10) == 0, d.output()
    finally:
        if d.alive():
            d.proc.kill()
        sock.close()
    order = [g for g in got if g in ("READY=1", "WATCHDOG=1", "STOPPING=1")]
    assert order.index("READY=1") < order.index("WATCHDOG=1") < order.index("STOPPING=1")
    warm = next(i for i, g in enumerate(got) if g.startswith("STATUS=warming"))
    assert warm < got.index("READY=1"), "kernels are warm before READY=1"


def test_a_long_first_start_asks_systemd_for_more_time(tmp_path):
    """Compiling the kernels on a small ARM gateway outlasts TimeoutStartSec: while the start-up
    work runs, EXTEND_TIMEOUT_USEC (with a status saying how long so far) keeps coming, each
    asking for more than the time to the next; the work's result comes back when it ends."""
    import asyncio
    import threading

    from forewarn.daemon._sdnotify import Notifier
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    gate = threading.Event()

    async def scenario() -> tuple[str, list[str]]:
        sd = Notifier(str(sock_path))
        start = asyncio.ensure_future(sd.extend_while(asyncio.to_thread(lambda: gate.wait(30) and "warm"),
                                                      "warming ETA kernels", every_s=0.05))
        got = [await asyncio.to_thread(lambda: sock.recv(4096).decode()) for _ in range(2)]
        gate.set()                                     # the compile ends
        return await asyncio.wait_for(start, 30), got

    try:
        result, got = asyncio.run(scenario())
    finally:
        sock.close()
    assert result == "warm"
    for msg in got:
        fields = dict(line.split("=", 1) for line in msg.split("\n"))
        assert int(fields["EXTEND_TIMEOUT_USEC"]) > 0.05e6
        assert fields["STATUS"].startswith("warming ETA kernels (")


def test_a_reload_says_reloading_with_its_monotonic_time_then_ready(tmp_path):
    """systemd 253+ pairs RELOADING=1 with the reload by MONOTONIC_USEC (CLOCK_MONOTONIC when
    the reload began); READY=1 ends it."""
    import time
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(60)
    d = DaemonProcess(write_config(tmp_path, speed=1), env={"NOTIFY_SOCKET": str(sock_path)}).start()
    try:
        while "READY=1" not in sock.recv(4096).decode().split("\n"):
            pass
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        d.proc.send_signal(1)
        msg = sock.recv(4096).decode().split("\n")
        while "RELOADING=1" not in msg:
            msg = sock.recv(4096).decode().split("\n")
        fields = dict(m.split("=", 1) for m in msg if "=" in m)
        assert before <= int(fields["MONOTONIC_USEC"]) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        while "READY=1" not in sock.recv(4096).decode().split("\n"):
            pass
        assert d.terminate()[0] == 0
    finally:
        if d.alive():
            d.proc.kill()
        sock.close()

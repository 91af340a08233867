"""A real gpsd (Debian package `gpsd`) reading NMEA from a pseudo-terminal, on a free port.

Not a fake of gpsd: the distribution's daemon, started per test with
`gpsd -N -n -b -S <port> <pty slave>`; the test plays the receiver by writing NMEA into
the pty master. Skips (with the reason) when gpsd is not installed.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.devices.pty_gps import PtyReceiver


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts on 127.0.0.1:port (gpsd is up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@dataclass
class GpsdProcess:
    """gpsd on `port`, reading the pty of `receiver`."""

    receiver: PtyReceiver
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["gpsd", "-N", "-n", "-b", "-S", str(self.port), self.receiver.slave_path],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None


@pytest.fixture
def gpsd() -> Iterator[GpsdProcess]:
    if shutil.which("gpsd") is None:
        pytest.skip("gpsd not installed (Debian package gpsd)")
    process = GpsdProcess(PtyReceiver())
    process.start()
    try:
        yield process
    finally:
        process.stop()
        process.receiver.unplug()

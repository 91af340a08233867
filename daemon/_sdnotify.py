"""sd_notify(3) in a few lines: one datagram to $NOTIFY_SOCKET (the `sdnotify` package is unmaintained).

A leading '@' names an abstract socket. Without $NOTIFY_SOCKET (not under systemd) every call
is a no-op, so the daemon runs the same from a terminal.
"""
from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

# A first start compiles the ETA kernels (Numba): 15-20 s on a desktop core, minutes on a small
# ARM gateway, longer than the unit's TimeoutStartSec. While it runs, systemd is asked for more
# time every EXTEND_EVERY_S (EXTEND_TIMEOUT_USEC, systemd 236+; older ones ignore it), up to
# EXTEND_MAX_S in all: a compile that long is stuck, and systemd's timeout should end it.
EXTEND_EVERY_S = 20.0
EXTEND_MAX_S = 900.0


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        addr = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._addr = ("\0" + addr[1:]) if addr.startswith("@") else addr
        self._sock: socket.socket | None = None
        if self._addr:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, *fields: str) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendto("\n".join(fields).encode(), self._addr)
        except OSError:
            pass  # systemd gone (shutdown) or socket full: nothing useful to do

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self, status: str = "stopping") -> None:
        self.notify("STOPPING=1", f"STATUS={status}")

    def reloading(self) -> None:
        """With the CLOCK_MONOTONIC time it began: systemd 253+ pairs a reload with the
        RELOADING=1 sent after it by that field; without it `systemctl reload` may return
        before the reload is done, or fail on its timeout (puppetserver: OpenVoxProject/
        trapperkeeper #110). Older versions ignore the field."""
        self.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    async def extend_while(self, job: Awaitable[T], status: str, every_s: float = EXTEND_EVERY_S,
                           max_s: float = EXTEND_MAX_S) -> T:
        """Await `job` (start-up work), asking for 3 x `every_s` more start time every `every_s`
        while it runs, for at most `max_s`."""
        task = asyncio.ensure_future(job)
        t0 = time.monotonic()
        while True:
            done, _ = await asyncio.wait({task}, timeout=every_s)
            if done:
                return task.result()
            took = time.monotonic() - t0
            if took < max_s:
                self.notify(f"EXTEND_TIMEOUT_USEC={int(3 * every_s * 1e6)}", f"STATUS={status} ({took:.0f} s so far)")


def watchdog_interval() -> float | None:
    """Half of WATCHDOG_USEC in seconds (systemd's advice), or None when no watchdog is set."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None

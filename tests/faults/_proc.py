"""The daemon as a real subprocess whose log we can wait on, line by line.

Why not tests/daemon/proc.py: fault tests need to *wait for* log lines (a CRITICAL line,
"mqtt connected") rather than read a file afterwards, and the disk-full test limits the
daemon's file sizes (RLIMIT_FSIZE), which would also cut off a log written to a regular
file. A pipe is not a file: the log always gets through.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path


def _ignore_sigxfsz() -> None:
    """In the child before exec: an ignored signal stays ignored across exec, so a write past
    RLIMIT_FSIZE fails with EFBIG (as on a full disk) instead of killing the daemon."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


class Daemon:
    """`forewarn run -c CONFIG`, stdout+stderr collected by a reader thread."""

    def __init__(self, config: Path, *, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self.started_at = 0.0

    def start(self) -> "Daemon":
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "forewarn.daemon.cli", "run", "-c", str(self.config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env, preexec_fn=_ignore_sigxfsz)
        self._reader = threading.Thread(target=self._read, name="daemon-log", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for_line(self, predicate: Callable[[str], bool] | str, timeout: float) -> bool:
        """Block until a log line satisfies `predicate` (or contains the string); False on timeout
        or if the daemon exited first."""
        pred = (lambda ln: predicate in ln) if isinstance(predicate, str) else predicate
        with self._cond:
            return self._cond.wait_for(
                lambda: any(pred(ln) for ln in self.lines) or (self.proc is not None and self.proc.poll() is not None
                                                                and not (self._reader and self._reader.is_alive())),
                timeout) and any(pred(ln) for ln in self.lines)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._join()

    def terminate(self, timeout: float = 10.0) -> tuple[int | None, float]:
        """SIGTERM; (exit code or None if it did not exit within `timeout`, seconds taken)."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - t0
        if code is None:
            self.kill9()
        self._join()
        return code, took

    def wait(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def _join(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)

    def stop(self) -> None:
        """Fixture teardown: make sure nothing outlives the test."""
        if self.alive():
            self.kill9()

"""A GPS receiver on a pty that plays the bundled drive, paced, from its own thread."""
from __future__ import annotations

import os
import threading

from tests.devices.pty_gps import PtyReceiver


class Feeder:
    """Writes `epochs` into `rx` one per `interval` s; stops at the end or at `stop()`.

    The pacing is the receiver's own rhythm (1 Hz real, faster here), not a wait for the
    daemon: an Event.wait(interval) that `stop()` interrupts.
    """

    def __init__(self, rx: PtyReceiver, epochs: list[list[str]], interval: float = 0.02) -> None:
        self.rx = rx
        self.epochs = epochs
        self.interval = interval
        self.written = 0
        self.error: OSError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gps-feeder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for epoch in self.epochs:
            if self._stop.is_set():
                return
            try:
                self.rx.send(epoch)
            except OSError as e:   # unplugged under us
                self.error = e
                return
            self.written += 1
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def done(self) -> bool:
        return not self._thread.is_alive()


def write_raw(rx: PtyReceiver, data: bytes, timeout: float = 30.0) -> None:
    """Write bytes as they are into the receiver (from a thread: a full pty buffer blocks
    until the daemon reads, and a dead daemon must fail the test, not hang it)."""
    def run() -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(rx.master, view):]

    t = threading.Thread(target=run, name="gps-noise", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError(f"the daemon did not read {len(data)} bytes of noise within {timeout} s")

"""A fake receiver on a real pseudo-terminal pair: the test writes NMEA into the master,
the code under test opens the slave (or a udev-like symlink to it) with pyserial."""
from __future__ import annotations

import os
import tty
from pathlib import Path


class PtyReceiver:
    """One "plugged-in" receiver. `unplug()` closes it; a new instance is a replug."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)  # so nothing is echoed or line-edited before pyserial opens it
        self.slave_path = os.ttyname(slave)
        self._slave = slave

    def send(self, lines: list[str]) -> None:
        self.send_bytes("".join(ln + "\r\n" for ln in lines).encode())

    def send_bytes(self, data: bytes) -> None:
        """Blocking write of all of `data` (the pty buffer holds a few KiB: call it from a
        thread when the reader runs on the same event loop and data is large)."""
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view):]

    def unplug(self) -> None:
        """Hang up: the reader sees EIO, as when a USB receiver is pulled."""
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def link(self, path: Path) -> None:
        """Point a stable name at this receiver, as udev does for /dev/gps0."""
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.slave_path)
        tmp.replace(path)

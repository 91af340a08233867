"""Two ways to make the state file's disk refuse writes under a running daemon, and give
the space back.

- `TmpfsDisk`: the state file lives on a small tmpfs; `fill()` writes a ballast file until
  ENOSPC (SQLite says SQLITE_FULL, "database or disk is full"), `free()` deletes it. Needs
  the right to mount (root in a container); otherwise the test using it is skipped.
- `FsizeDisk`: lowers the running daemon's RLIMIT_FSIZE with prlimit(2), so every write past
  4 KiB of any file fails with EFBIG (SQLite: SQLITE_IOERR, "disk I/O error"); `free()`
  lifts it. Works unprivileged; the daemon ignores SIGXFSZ (tests/faults/_proc.py), its
  log goes to a pipe, which has no size.
"""
from __future__ import annotations

import errno
import resource
import subprocess
from pathlib import Path

import pytest


class TmpfsDisk:
    kind = "tmpfs"

    def __init__(self, mountpoint: Path, size: str = "8m") -> None:
        mountpoint.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); the fsize variant covers this")
        self.dir = mountpoint
        self.ballast = mountpoint / "ballast"

    def fill(self, pid: int) -> None:
        chunk = b"\0" * 4096
        with self.ballast.open("wb", buffering=0) as f:
            while True:
                try:
                    f.write(chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    return

    def free(self, pid: int) -> None:
        self.ballast.unlink()

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.dir)], check=False)


class FsizeDisk:
    kind = "fsize"
    LIMIT = 4096

    def __init__(self, dir_: Path) -> None:
        dir_.mkdir(parents=True, exist_ok=True)
        self.dir = dir_

    def fill(self, pid: int) -> None:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (self.LIMIT, resource.RLIM_INFINITY))

    def free(self, pid: int) -> None:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    def close(self) -> None:
        pass


@pytest.fixture(params=["tmpfs", "fsize"])
def full_disk(request, tmp_path: Path):
    disk = TmpfsDisk(tmp_path / "disk") if request.param == "tmpfs" else FsizeDisk(tmp_path / "disk")
    yield disk
    disk.close()



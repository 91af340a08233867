"""The GPS serial device misbehaves (issue 6): it is unplugged and plugged back, and it
sends line noise. The daemon reads a pty behind a udev-like symlink, as on a truck."""
from __future__ import annotations

import random
from pathlib import Path

from forewarn.daemon._runtime import STATUS_EVERY_S   # counters alone republish `status` this often
from tests.daemon.helpers import DRIVE, write_config
from tests.devices.pty_gps import PtyReceiver

from ._drive import epoch_time, epochs, ts
from ._feeder import Feeder, write_raw
from ._watch import Watcher


FIX_STATES = ("2D", "3D")


def _serial_config(tmp: Path, broker, prefix: str, device: Path) -> Path:
    config = write_config(tmp, broker_url=broker.url, prefix=prefix)
    text = config.read_text()
    file_gps = text[text.index('source = "file"'):text.index("[alerts]")]
    config.write_text(text.replace(file_gps, f'source = "serial"\ndevice = "{device}"\nbaudrate = 9600\n'))
    assert str(DRIVE) not in config.read_text()
    return config


def _gps(w: Watcher) -> dict:
    st = w.last("status")
    return st["gps"] if st else {}


def _positions_after(w: Watcher, t) -> list[dict]:
    return [m.json() for m in w.of("position") if ts(m.json()["ts"]) > t]


def test_gps_unplugged_and_replugged_mid_route(tmp_path, broker, unique_prefix, spawn):
    device = tmp_path / "gps0"
    drive = epochs()
    first, second = drive[:150], drive[150:300]
    rx = PtyReceiver()
    rx.link(device)
    watcher = Watcher(broker.host, broker.port, f"{unique_prefix}/demo-truck", suffixes=("status", "position"))
    try:
        daemon = spawn(_serial_config(tmp_path, broker, unique_prefix, device))
        feeder = Feeder(rx, first)
        assert watcher.wait(lambda w: _gps(w).get("state") in FIX_STATES and len(w.of("position")) >= 5, 60), \
            daemon.output()[-3000:]
        feeder.stop()

        device.unlink()      # udev removes the node's link ...
        rx.unplug()          # ... and the receiver is gone (the reader sees EIO/EOF)
        assert watcher.wait(lambda w: _gps(w).get("state") == "no-device", 15), (_gps(watcher), daemon.output()[-2000:])
        assert daemon.alive()

        rx = PtyReceiver()   # plugged back in: a new tty behind the same name
        rx.link(device)
        feeder = Feeder(rx, second)
        resumed = epoch_time(second[0])
        # the reopen backoff is at most a few seconds after a short absence
        assert watcher.wait(lambda w: _gps(w).get("state") in FIX_STATES and _positions_after(w, resumed), 45), \
            (_gps(watcher), daemon.output()[-2000:])
        assert _gps(watcher)["counters"].get("open_failed", 0) >= 1 or "device_lost" in _gps(watcher)["counters"]
        feeder.stop()
        code, took = daemon.terminate()
        assert code == 0 and took < 10, daemon.output()[-2000:]
    finally:
        rx.unplug()
        watcher.close()


def test_random_bytes_on_the_serial_port_are_dropped_and_fixes_go_on(tmp_path, broker, unique_prefix, spawn):
    device = tmp_path / "gps0"
    drive = epochs()
    rx = PtyReceiver()
    rx.link(device)
    rng = random.Random(6)
    watcher = Watcher(broker.host, broker.port, f"{unique_prefix}/demo-truck", suffixes=("status", "position"))
    try:
        daemon = spawn(_serial_config(tmp_path, broker, unique_prefix, device))
        feeder = Feeder(rx, drive[:60])
        assert watcher.wait(lambda w: _gps(w).get("state") in FIX_STATES, 60), daemon.output()[-3000:]
        feeder.stop()
        dropped_before = sum(_gps(watcher)["counters"].values())
        noise = [
            bytes(rng.getrandbits(8) for _ in range(200_000)),                        # binary, few newlines
            b"$GPGGA," + bytes(rng.choice(b"0123456789,.*ABCDEF") for _ in range(90_000)) + b"\r\n",  # one huge line
            b"".join(b"$GP" + bytes(rng.getrandbits(8) for _ in range(rng.randrange(5, 80))) + b"\r\n"
                     for _ in range(500)),                                             # sentence-like noise
            b"\xff\xfe\x00" * 1000 + b"\r\n",
        ]
        for chunk in noise:
            write_raw(rx, chunk)
        after = epoch_time(drive[60])
        feeder = Feeder(rx, drive[60:160])
        assert watcher.wait(lambda w: len(_positions_after(w, after)) >= 20, 45), (_gps(watcher), daemon.output()[-2000:])
        feeder.stop()
        assert daemon.alive()
        # the noise is counted, by reason, on the status topic (republished on a GPS state change,
        # or with the counters every STATUS_EVERY_S)
        assert watcher.wait(lambda w: sum(_gps(w)["counters"].values()) >= dropped_before + 100, STATUS_EVERY_S + 10), \
            _gps(watcher)["counters"]
        code, _ = daemon.terminate()
        assert code == 0, daemon.output()[-2000:]
    finally:
        rx.unplug()
        watcher.close()

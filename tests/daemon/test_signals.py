"""SIGHUP reloads (and refuses a bad config, keeping the old one); SIGTERM stops cleanly within 10 s."""
from __future__ import annotations

import signal
import time

from .helpers import write_config
from .proc import DaemonProcess


def wait_for_log(d: DaemonProcess, text: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in d.output():
            return True
        if not d.alive():
            return False
        time.sleep(0.05)   # polling the log file for a line, bounded by the deadline
    return False


def test_sighup_refuses_bad_config_then_takes_a_good_one(tmp_path):
    config = write_config(tmp_path, speed=1)
    good = config.read_text()
    d = DaemonProcess(config).start()
    try:
        assert wait_for_log(d, "running for vehicle"), d.output()
        config.write_text(good.replace("[alerts]", "[alerts]\nlate_probability = 3"))
        d.proc.send_signal(signal.SIGHUP)
        assert wait_for_log(d, "reload refused, keeping the running config"), d.output()
        assert "alerts.late_probability" in d.output()
        assert d.alive()

        config.write_text(good.replace("approaching_minutes = 2", "approaching_minutes = 5"))
        d.proc.send_signal(signal.SIGHUP)
        assert wait_for_log(d, "config reloaded"), d.output()
        assert d.alive()
        code, took = d.terminate()
        assert code == 0 and took < 10
        assert "stopped cleanly" in d.output()
    finally:
        if d.alive():
            d.proc.kill()


def test_bad_config_at_start_is_exit_2(tmp_path):
    config = write_config(tmp_path)
    config.write_text(config.read_text() + "\n[bogus]\n")
    d = DaemonProcess(config).start()
    assert d.proc.wait(timeout=60) == 2
    assert "bogus: unknown key" in d.output()

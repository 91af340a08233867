"""The learned history reaches the state file while the daemon runs, not only at a clean stop:
a gateway that loses power with the ignition gets no SIGTERM."""
from __future__ import annotations

import sqlite3
import time

from forewarn.daemon.store import open_db
from forewarn.eta import TravelHistory

from .helpers import write_config
from .proc import DaemonProcess


def _rows(path, table: str) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:     # the table is not there yet
        return 0
    finally:
        db.close()


def test_what_a_stop_taught_is_on_disk_before_a_power_cut(tmp_path):
    config = write_config(tmp_path, speed=120)
    state = tmp_path / "state.db"
    d = DaemonProcess(config).start()
    try:
        deadline = time.monotonic() + 60
        def learned() -> bool:   # a stop's service time, and the calibration noted or scored
            return _rows(state, "eta_dwell") > 0 and _rows(state, "eta_calib") + _rows(state, "eta_calib_pending") > 0
        while time.monotonic() < deadline and d.alive() and not learned():
            time.sleep(0.05)
        assert learned(), "nothing learned reached the state file while running\n" + d.output()
        assert '"type":"departure"' in d.output()
    finally:
        d.kill9()                                   # no clean stop: what is on disk is all there is
    h = TravelHistory.load(open_db(state))
    assert h.dwell and h.travel, "dwell and travel learned before the cut survive it"
    assert sum(h.cal_n) > 0 or h.pending, "the calibration noted or scored before the cut survives it"
    assert h.live is not None, "and how the truck was driving against the profile"

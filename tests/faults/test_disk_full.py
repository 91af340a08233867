"""The state file's disk fills up mid-route, then space comes back (issue 6).

The daemon must say so loudly (a CRITICAL log line; `state_store.ok = false` on the
retained `status` topic), keep serving from an in-memory copy (customers still get their
messages, none twice), and write that copy back into the file once writes succeed again.
"""
from __future__ import annotations

from ._disk import TmpfsDisk
from ._drive import write_rest
from ._route import assert_same_messages, config_with_drive, finish_route, posts
from ._state import integrity
from ._watch import Watcher

SPEED = 40.0    # the drive in ~15 s: long enough to be full for a while and recover before the end


def _store_ok(w: Watcher) -> bool | None:
    st = w.last("status")
    return None if st is None else st.get("state_store", {}).get("ok")


def test_disk_full_mid_route_runs_on_memory_and_recovers(tmp_path, full_disk, twilio_server, broker, unique_prefix,
                                                          spawn, reference_outbox):
    config = config_with_drive(tmp_path, twilio_server, broker, unique_prefix, SPEED)
    state = full_disk.dir / "state.db"
    config.write_text(config.read_text().replace(f'path = "{tmp_path / "state.db"}"', f'path = "{state}"'))
    epochs = write_rest(tmp_path / "drive.nmea", None)
    watcher = Watcher(broker.host, broker.port, f"{unique_prefix}/demo-truck", suffixes=("status", "position", "events"))
    try:
        daemon = spawn(config)
        assert daemon.wait_for_line("running for vehicle", 60), daemon.output()[-3000:]
        # early, while SQLite's WAL is still short: a long WAL is recycled in place after each
        # checkpoint and would take writes into a full disk for a while (true, but slow to test)
        full_disk.fill(daemon.pid)
        assert daemon.wait_for_line(lambda ln: "CRITICAL" in ln and "REFUSES WRITES" in ln, 30), daemon.output()[-3000:]
        assert watcher.wait(lambda w: _store_ok(w) is False, 10), watcher.last("status")
        status = watcher.last("status")["state_store"]
        assert status["mode"] == "memory" and status["error"], status
        # customers are still served while the file is out
        sent_before = len(posts(twilio_server))
        assert twilio_server.wait_for(lambda f: len(f.posts("Messages")) + len(f.posts("Calls")) > sent_before, 30), \
            daemon.output()[-3000:]
        assert daemon.alive()

        full_disk.free(daemon.pid)
        assert daemon.wait_for_line("takes writes again", 30), daemon.output()[-3000:]
        assert watcher.wait(lambda w: _store_ok(w) is True, 10), watcher.last("status")
        finish_route(daemon, watcher, state, epochs)
    finally:
        watcher.close()

    assert daemon.output().count("REFUSES WRITES") == 1, "the file failed once and held after the recovery"
    assert integrity(state) == "ok"
    # the file, after the copy-back, knows every message sent from memory
    assert_same_messages(state, twilio_server, reference_outbox)


def test_disk_already_full_at_first_start_runs_on_memory_and_creates_the_file_later(
        tmp_path, twilio_server, broker, unique_prefix, spawn, reference_outbox):
    # room for the WAL: it grows to ~4 MB (1000 pages) between checkpoints, and a smaller
    # disk fills up again after the copy-back (which the daemon then reports, correctly)
    disk = TmpfsDisk(tmp_path / "disk", size="8m")
    try:
        config = config_with_drive(tmp_path, twilio_server, broker, unique_prefix, SPEED)
        state = disk.dir / "state.db"
        config.write_text(config.read_text().replace(f'path = "{tmp_path / "state.db"}"', f'path = "{state}"'))
        epochs = write_rest(tmp_path / "drive.nmea", None)
        disk.fill(0)
        watcher = Watcher(broker.host, broker.port, f"{unique_prefix}/demo-truck",
                          suffixes=("status", "position", "events"))
        try:
            daemon = spawn(config)
            assert daemon.wait_for_line(lambda ln: "CRITICAL" in ln and "CANNOT BE CREATED" in ln, 60), \
                daemon.output()[-3000:]
            assert watcher.wait(lambda w: _store_ok(w) is False, 15), watcher.last("status")
            assert twilio_server.wait_for(lambda f: len(f.posts("Messages")) + len(f.posts("Calls")) >= 2, 30), \
                daemon.output()[-3000:]
            disk.free(0)
            assert daemon.wait_for_line("takes writes again", 30), daemon.output()[-3000:]
            assert watcher.wait(lambda w: _store_ok(w) is True, 10), watcher.last("status")
            finish_route(daemon, watcher, state, epochs)
        finally:
            watcher.close()
        assert daemon.output().count("REFUSES WRITES") == 0, daemon.output()[-3000:]
        assert integrity(state) == "ok"
        assert_same_messages(state, twilio_server, reference_outbox)
    finally:
        disk.close()

"""Kill -9 after a message was recorded, start again: nothing is sent twice."""
from __future__ import annotations

import sqlite3
from collections import Counter

from .helpers import write_config
from .proc import DaemonProcess


def test_kill9_and_restart_sends_nothing_twice(tmp_path, twilio_server):
    config = write_config(tmp_path, twilio=twilio_server, speed=120)
    first = DaemonProcess(config).start()
    assert twilio_server.wait_for(lambda f: len(f.posts("Messages")) >= 2, timeout=60), first.output()
    first.kill9()
    before = len(twilio_server.posts("Messages")) + len(twilio_server.posts("Calls"))

    second = DaemonProcess(config).start()
    # the restarted daemon replays the drive from its start; run it to the last stop's arrival
    done = twilio_server.wait_for(
        lambda f: any("arriv" in r.form.get("Body", "") and r.form["To"].endswith("73") for r in f.posts("Messages")),
        timeout=90)
    code, took = second.terminate()
    assert done, second.output()
    assert code == 0 and took < 10, second.output()

    posts = [(r.form["To"], r.form.get("Body") or r.form.get("Twiml")) for r in
             twilio_server.posts("Messages") + twilio_server.posts("Calls")]
    dup = [p for p, n in Counter(posts).items() if n > 1]
    assert not dup, f"sent twice after restart: {dup}"
    assert len(posts) > before, "the second run carried on where the first stopped"
    db = sqlite3.connect(tmp_path / "state.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    keys = [k for (k,) in db.execute("SELECT key FROM outbox")]
    assert len(keys) == len(set(keys))
    assert "stopped cleanly" in second.output()
    logs = first.output() + second.output()
    assert "+4915112345673" not in logs and "4915112345673" not in logs, "phone numbers are masked in logs"
    assert twilio_server.auth_token not in logs, "no secrets in logs"

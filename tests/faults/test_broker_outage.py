"""The broker goes away mid-route and comes back (issue 6).

Events the daemon emits while the broker is down wait in its SQLite queue; after the
reconnect a persistent-session dispatcher gets every one, in `seq` order, none twice but
the one in flight when the broker died (QoS 1: at least once), and
the daemon republishes its retained `status`/`position`/`eta` before it drains the backlog.
"""
from __future__ import annotations

import os
import signal
import time

from tests.daemon.helpers import write_config

from ._state import integrity, queued_seqs
from ._watch import Watcher

#: How long the broker stays down. The issue says 60 s; the daemon's reconnect backoff
#: (1 s doubling, capped at 60 s, with jitter) makes a 60 s outage cost up to two more
#: minutes of waiting for the reconnect, so the suite uses a shorter outage that still
#: spans several failed reconnect attempts. Set FOREWARN_FAULT_OUTAGE_S=60 to run the
#: issue's length.
OUTAGE_S = float(os.environ.get("FOREWARN_FAULT_OUTAGE_S", "8"))
SPEED = 595 / (OUTAGE_S + 14)   # the 10-minute drive spans the outage with time to spare on either side


def test_events_during_outage_arrive_in_order_after_reconnect_retained_first(
        tmp_path, logging_broker, twilio_server, unique_prefix, spawn):
    config = write_config(tmp_path, twilio=twilio_server, broker_url=logging_broker.url, prefix=unique_prefix,
                          speed=SPEED)
    base = f"{unique_prefix}/demo-truck"
    watcher = Watcher(logging_broker.host, logging_broker.port, base, persistent=True)
    try:
        daemon = spawn(config)
        assert watcher.wait(lambda w: len(w.events("stop_state")) >= 1 and w.of("position"), 60), daemon.output()

        logging_broker.stop()
        down_at = time.monotonic()
        state = tmp_path / "state.db"
        # the fault is the outage's length; meanwhile the route must go on producing events
        deadline = down_at + OUTAGE_S + 30
        while time.monotonic() < deadline and (time.monotonic() - down_at < OUTAGE_S or len(queued_seqs(state)) < 3):
            time.sleep(0.2)
        backlog = queued_seqs(state)
        assert len(backlog) >= 3, f"no events were queued during the outage: {backlog}\n{daemon.output()}"
        assert daemon.alive(), daemon.output()

        mark = logging_broker.mark()
        logging_broker.start()
        # persistent session: what the broker receives for us is kept even if we reconnect late
        assert watcher.wait(lambda w: {e["seq"] for e in w.events()} >= set(backlog), 120), \
            f"backlog {backlog} not delivered\n{daemon.output()}"

        got = [e["seq"] for e in watcher.events()]
        # QoS 1 is at-least-once on both legs: the event in flight when the broker died (still in
        # the daemon's queue, so the first of the backlog, or handed on to the dispatcher but not
        # acknowledged, which the persistent broker redelivers) may come twice, with its seq.
        # Nothing queued after it can: it never reached a broker before the outage ended.
        twice = sorted({s for s in got if got.count(s) > 1})
        assert all(s <= backlog[0] for s in twice), f"an event arrived twice: {got} (backlog {backlog})"
        seqs = list(dict.fromkeys(got))                         # first arrivals, in arrival order
        assert seqs == sorted(seqs), f"events out of order: {got}"
        # (seen once under full-suite load, not reproduced since: the daemon deletes an event
        # only after the broker's PUBACK, so a gap is on the broker -> dispatcher side; the
        # broker's log and the daemon's say which)
        assert seqs == list(range(seqs[0], seqs[-1] + 1)), \
            (f"an event went missing: {seqs}\n--- broker log, events only ---\n"
             + "\n".join(ln for ln in logging_broker.log_path.read_text(errors="replace").splitlines()
                         if "/events" in ln)[-6000:]
             + f"\n--- daemon ---\n{daemon.output()}")

        # the daemon's own order of publishing after the reconnect, as the broker received it
        after = [p.topic.rsplit("/", 1)[-1] for p in logging_broker.received(since=mark)]
        assert "events" in after, after
        first_event = after.index("events")
        for suffix in ("status", "position", "eta"):
            assert suffix in after[:first_event], f"{suffix} not refreshed before the backlog: {after[:10]}"
        assert watcher.last("status")["state"] == "online"

        code, took = daemon.terminate()
        assert code == 0 and took < 10, daemon.output()
        assert integrity(state) == "ok"
    finally:
        watcher.close()


def _sigterm_exits_promptly_while_broker_unreachable(tmp_path, broker, twilio_server, prefix, spawn, *, how: str):
    config = write_config(tmp_path, twilio=twilio_server, broker_url=broker.url, prefix=prefix, speed=20)
    watcher = Watcher(broker.host, broker.port, f"{prefix}/demo-truck")
    try:
        daemon = spawn(config)
        assert watcher.wait(lambda w: w.of("eta"), 60), daemon.output()
    finally:
        watcher.close()
    if how == "stopped":
        broker.stop()            # connection refused from now on
    else:
        os.kill(broker.proc.pid, signal.SIGSTOP)   # alive but silent: TCP open, no PUBACKs
    try:
        assert daemon.alive()
        code, took = daemon.terminate(timeout=15)
        assert code == 0, daemon.output()
        assert took < 10, f"SIGTERM took {took:.1f} s with the broker {how}\n{daemon.output()}"
    finally:
        if how == "frozen":
            os.kill(broker.proc.pid, signal.SIGCONT)
    assert "stopped cleanly" in daemon.output()


def test_sigterm_exits_0_within_10s_while_broker_is_down(tmp_path, own_broker, twilio_server, unique_prefix, spawn):
    _sigterm_exits_promptly_while_broker_unreachable(tmp_path, own_broker, twilio_server, unique_prefix, spawn,
                                                    how="stopped")


def test_sigterm_exits_0_within_10s_while_broker_hangs(tmp_path, own_broker, twilio_server, unique_prefix, spawn):
    _sigterm_exits_promptly_while_broker_unreachable(tmp_path, own_broker, twilio_server, unique_prefix, spawn,
                                                    how="frozen")

"""`kill -9` at random moments of a route, many times over one state file (issue 6).

Each cycle starts the daemon on the same state file and the same fake Twilio and kills it
after a random delay (seeded) somewhere between "still importing" and "route finished";
after every kill the file must pass `PRAGMA integrity_check`. A last run finishes the
route. The customers must then have received exactly what one uninterrupted run on a fresh
state file sends: the same outbox keys, each message once, none lost.

The truck does not teleport: each restart replays the drive from the last position the
dispatcher saw, as a real receiver would report where the truck is now (replaying the
whole file again would show it driving back to the depot and "departing" the stop it
stands at).
"""
from __future__ import annotations

import os
import random

from ._drive import ts, write_rest
from ._route import config_with_drive, finish_route, outbox_sids, posts, provider_sids, sent_keys, sent_twice
from ._state import integrity
from ._watch import Watcher

KILL_CYCLES = 20
SPEED = 200.0                 # the 10-minute drive in 3 s: a kill lands anywhere in it
KILL_WINDOW_S = (0.0, 3.0)    # from spawn: importing, warming kernels, replaying, idle after the end
SEED = int(os.environ.get("FOREWARN_FAULT_SEED", "20261123"))


def test_random_kill9_cycles_send_exactly_the_reference_messages(tmp_path, twilio_server, broker, unique_prefix,
                                                                 spawn, reference_sent):
    config = config_with_drive(tmp_path, twilio_server, broker, unique_prefix, SPEED)
    state = tmp_path / "state.db"
    watcher = Watcher(broker.host, broker.port, f"{unique_prefix}/demo-truck", suffixes=("position",))
    rng = random.Random(SEED)
    delays: list[float] = []
    try:
        for cycle in range(KILL_CYCLES):
            last = watcher.last("position")
            write_rest(tmp_path / "drive.nmea", ts(last["ts"]) if last else None)
            delay = rng.uniform(*KILL_WINDOW_S)
            delays.append(round(delay, 3))
            daemon = spawn(config)
            # the kill moment is the injected fault: a deliberate, seeded delay, not a wait for an outcome
            assert daemon.wait(delay) is None, f"cycle {cycle}: daemon exited by itself\n{daemon.output()[-3000:]}"
            daemon.kill9()
            if state.exists():
                assert integrity(state) == "ok", f"cycle {cycle} (seed {SEED}, delays {delays}): state file corrupt"

        last = watcher.last("position")
        epochs = write_rest(tmp_path / "drive.nmea", ts(last["ts"]) if last else None)
        seen = len(watcher.of("position"))
        finish_route(spawn(config), watcher, state, epochs, seen_before=seen)
    finally:
        watcher.close()

    where = f"seed {SEED}, kill delays {delays}"
    assert integrity(state) == "ok", where
    assert not sent_twice(twilio_server), f"sent twice ({where}): {sent_twice(twilio_server)}"
    got = sent_keys(state)
    assert got == reference_sent, \
        f"({where}) missing {sorted(reference_sent - got)}, extra {sorted(got - reference_sent)}"
    assert len(posts(twilio_server)) == len(got), f"({where}) {len(posts(twilio_server))} requests for {len(got)} messages"
    # the provider's log and the outbox agree on every message: none untracked, none lost track of
    assert outbox_sids(state) == provider_sids(twilio_server), where

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
from ._route import assert_same_messages, config_with_drive, finish_route
from ._state import integrity
from ._watch import Watcher

KILL_CYCLES = 20
# Each cycle replays the drive from where the last one was killed. Start-up takes ~0.5-1 s,
# so a kill at 0.3-2.5 s leaves ~1 s of replay per cycle: at 30x that is ~30 s of the
# 10-minute drive, and the 20 kills land all along the route (the final run does the rest).
SPEED = 30.0
KILL_WINDOW_S = (0.3, 2.5)
SEED = int(os.environ.get("FOREWARN_FAULT_SEED", "20261123"))


def test_random_kill9_cycles_send_exactly_the_reference_messages(tmp_path, twilio_server, broker, unique_prefix,
                                                                 spawn, reference_outbox):
    config = config_with_drive(tmp_path, twilio_server, broker, unique_prefix, SPEED)
    state = tmp_path / "state.db"
    watcher = Watcher(broker.host, broker.port, f"{unique_prefix}/demo-truck", suffixes=("position",))
    rng = random.Random(SEED)
    delays: list[float] = []
    reached: list[str] = []   # where the truck was at each kill, for the failure message
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
            last = watcher.last("position")
            reached.append(last["ts"][11:19] if last else "-")
            if state.exists():
                assert integrity(state) == "ok", f"cycle {cycle} (seed {SEED}, delays {delays}): state file corrupt"

        last = watcher.last("position")
        epochs = write_rest(tmp_path / "drive.nmea", ts(last["ts"]) if last else None)
        seen = len(watcher.of("position"))
        finish_route(spawn(config), watcher, state, epochs, seen_before=seen)
    finally:
        watcher.close()

    where = f"seed {SEED}, kill delays {delays}, truck at {reached}"
    assert integrity(state) == "ok", where
    assert_same_messages(state, twilio_server, reference_outbox, where)

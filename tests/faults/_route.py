"""Running the bundled route to its end and judging what the customers got.

Shared by the fault tests: "exactly the messages an undisturbed run sends, each once" is
the promise every fault must keep.
"""
from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from pathlib import Path

from tests.daemon.helpers import DRIVE, write_config
from tests.fakes.twilio import FakeTwilio, _Handler, _Server

from ._drive import at_end
from ._proc import Daemon
from ._state import outbox
from ._wait import poll_until
from ._watch import Watcher

FINAL = ("sent", "failed", "discarded")


def config_with_drive(tmp: Path, fake: FakeTwilio | None, broker, prefix: str, speed: float, **kw) -> Path:
    """write_config, but replaying `tmp/drive.nmea` (see _drive.write_rest) instead of the bundled file."""
    config = write_config(tmp, twilio=fake, broker_url=broker.url, prefix=prefix, speed=speed, **kw)
    config.write_text(config.read_text().replace(f'path = "{DRIVE}"', f'path = "{tmp / "drive.nmea"}"'))
    return config


def finish_route(daemon: Daemon, watcher: Watcher, state: Path, epochs: int, *, seen_before: int = 0,
                 timeout: float = 90) -> None:
    """Wait until the daemon replayed the `epochs` left of the drive (it publishes more than
    the `seen_before` positions the watcher had when it was started, up to the last fix) and
    every message is settled; then stop it with SIGTERM, which must exit 0."""
    before = seen_before
    assert daemon.wait_for_line("running for vehicle", 60), daemon.output()[-3000:]
    if epochs:
        assert watcher.wait(lambda w: len(w.of("position")) > before and at_end(w.last("position")), timeout), \
            daemon.output()[-3000:]
    settled = lambda: all(s in FINAL for s in outbox(state).values())  # noqa: E731
    assert poll_until(settled, 30), outbox(state)
    code, took = daemon.terminate()
    assert code == 0 and took < 10, daemon.output()[-3000:]


def sent_keys(state: Path) -> set[str]:
    return {k for k, s in outbox(state).items() if s == "sent"}


def posts(fake: FakeTwilio) -> list[tuple[str, str]]:
    """Every send request the provider got: (to, text or TwiML)."""
    return [(r.form["To"], r.form.get("Body") or r.form.get("Twiml", "")) for r in
            fake.posts("Messages") + fake.posts("Calls")]


def sent_twice(fake: FakeTwilio) -> list[tuple[str, str]]:
    return [p for p, n in Counter(posts(fake)).items() if n > 1]


def outbox_sids(state: Path) -> set[str]:
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return {s for (s,) in db.execute("SELECT sid FROM outbox WHERE sid IS NOT NULL")}
    finally:
        db.close()


def provider_sids(fake: FakeTwilio) -> set[str]:
    return {r["sid"] for res in ("Messages", "Calls") for r in fake.created(res)}


class SecondTwilio:
    """Another fake Twilio (the fixture gives one per test): a reference run's own log."""

    def __enter__(self) -> FakeTwilio:
        self.srv = _Server(("127.0.0.1", 0), _Handler)
        self.srv.fake = FakeTwilio()
        self.srv.fake.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self.srv.fake

    def __exit__(self, *exc) -> None:
        self.srv.shutdown()
        self.srv.server_close()


def reference_run(tmp: Path, broker, prefix: str, speed: float) -> dict[str, str]:
    """One undisturbed run of the whole route on a fresh state file: its outbox, key -> state."""
    from ._drive import write_rest
    tmp.mkdir(parents=True, exist_ok=True)
    with SecondTwilio() as fake:
        config = config_with_drive(tmp, fake, broker, prefix, speed)
        epochs = write_rest(tmp / "drive.nmea", None)
        watcher = Watcher(broker.host, broker.port, f"{prefix}/demo-truck", suffixes=("position",))
        daemon = Daemon(config).start()
        try:
            finish_route(daemon, watcher, tmp / "state.db", epochs)
        finally:
            daemon.stop()
            watcher.close()
        rows = outbox(tmp / "state.db")
        assert sent_keys(tmp / "state.db") and len(posts(fake)) == len(sent_keys(tmp / "state.db"))
        assert not sent_twice(fake)
    return rows


#: Kinds the tracker cancels while still pending once their stop is completed or skipped.
DISCARDABLE = ("window", "delay", "approaching", "back_on_time", "early", "held_up")


def assert_same_messages(state: Path, fake: FakeTwilio, reference: dict[str, str], where: str = "") -> None:
    """The run decided exactly the messages the reference run decided, and settled each one.

    Decisions (outbox keys) are compared, not which of them went out: a message still
    pending when its stop is completed is discarded by design (no "your window" SMS after
    the delivery), and at 30-200x replay speed how far the sender got before that depends
    on the machine's load. What must hold whatever the load: the same keys, each settled,
    none failed, every send request to the provider known to the outbox, none twice.
    """
    rows = outbox(state)
    assert set(rows) == set(reference), \
        f"({where}) missing {sorted(set(reference) - set(rows))}, extra {sorted(set(rows) - set(reference))}"
    unsettled = {k: s for k, s in rows.items() if s not in ("sent", "discarded")}
    assert not unsettled, f"({where}) {unsettled}"
    wrongly_dropped = [k for k, s in rows.items() if s == "discarded" and k.split("/")[2] not in DISCARDABLE]
    assert not wrongly_dropped, f"({where}) {wrongly_dropped}"
    assert not sent_twice(fake), f"({where}) sent twice: {sent_twice(fake)}"
    assert len(posts(fake)) == len(sent_keys(state)), \
        f"({where}) {len(posts(fake))} provider requests for {len(sent_keys(state))} sent messages"
    assert outbox_sids(state) == provider_sids(fake), where

"""A broker that writes down, in order, every PUBLISH it receives (mosquitto's debug log).

Why: "on reconnect the retained state is refreshed before the backlog drains" is a claim
about the order in which the daemon publishes. A subscriber cannot see it reliably (QoS 0
`position` is not queued for a subscriber that reconnects a moment later than the daemon);
the broker's own log can.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.mosquitto import MOSQUITTO, Broker, _wait_listening

_RECEIVED = re.compile(r"Received PUBLISH from (\S+) \(d\d, q(\d), r(\d), m\d+, '([^']+)'")


@dataclass
class Publish:
    client: str
    qos: int
    retain: bool
    topic: str


@dataclass
class LoggingBroker(Broker):
    def start(self) -> None:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.workdir}/\nautosave_interval 1\n"
            "log_dest stdout\nlog_type all\n")
        # the log goes through a file we open: mosquitto may drop root for a user who cannot write here
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=subprocess.PIPE)
        _wait_listening(self.port, self.proc)

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def mark(self) -> int:
        """A position in the log: `received(since=mark)` sees only what came after."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def received(self, since: int = 0, client_prefix: str = "forewarn-") -> list[Publish]:
        with self.log_path.open("rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
        return [Publish(m[1], int(m[2]), m[3] == "1", m[4]) for m in _RECEIVED.finditer(text)
                if m[1].startswith(client_prefix)]


@pytest.fixture
def logging_broker(tmp_path: Path):
    """Like `own_broker` (stop()/start() on the same port), with a PUBLISH log."""
    b = LoggingBroker(tmp_path / "mosq")
    b.workdir.mkdir()
    b.start()
    yield b
    b.stop()

"""Fixtures of the fault-injection suite (the shared fakes come from tests/conftest.py)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ._broker import logging_broker  # noqa: F401  (a fixture)
from ._proc import Daemon


@pytest.fixture
def spawn() -> Iterator:
    """`spawn(config)` starts the daemon; whatever is still running at the end is killed."""
    started: list[Daemon] = []

    def _spawn(config: Path, **kw) -> Daemon:
        d = Daemon(config, **kw).start()
        started.append(d)
        return d

    yield _spawn
    for d in started:
        d.stop()


_REFERENCE_SPEED = 40.0


@pytest.fixture(scope="session")
def reference_outbox(tmp_path_factory: pytest.TempPathFactory, broker) -> dict[str, str]:
    """The outbox (key -> state) of one undisturbed run of the bundled route (computed once)."""
    import uuid

    from ._route import reference_run
    return reference_run(tmp_path_factory.mktemp("reference"), broker, f"ref{uuid.uuid4().hex[:8]}", _REFERENCE_SPEED)
from ._disk import full_disk  # noqa: E402,F401  (a fixture)

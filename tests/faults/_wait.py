"""Polling a condition with a deadline: for state that announces nothing (files, databases)."""
from __future__ import annotations

import time
from collections.abc import Callable


def poll_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """True as soon as `predicate()` holds; False once `timeout` seconds have passed without."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)

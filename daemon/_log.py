"""Logging to stderr that journald understands: `<N>` priority prefixes when under systemd.

Lines are `level logger: message key=value ...`. Phone numbers are masked at the source
(notify.mask_phone); as a last line of defence any E.164-looking number is masked here too.
"""
from __future__ import annotations

import logging
import os
import re
import sys

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}
# a number masked at the source (`+491511234**71`) is left as it is: masked twice it no longer
# matches the same customer in the MQTT events
_PHONE = re.compile(r"\+\d{6,15}(?![\d*])")


def _mask(m: re.Match) -> str:
    s = m.group(0)
    return s[:5] + "*" * (len(s) - 7) + s[-2:]


class _Formatter(logging.Formatter):
    def __init__(self, journald: bool) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s" if journald
                         else "%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        text = _PHONE.sub(_mask, super().format(record))
        if self.journald:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{text}"
        return text


def setup_logging(level: str = "info") -> None:
    journald = bool(os.environ.get("JOURNAL_STREAM")) or bool(os.environ.get("INVOCATION_ID"))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(journald))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("twilio", "urllib3", "numba"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))

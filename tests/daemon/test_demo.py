"""`forewarn demo` on the embedded default: the late stop's customer is warned before the window ends."""
from __future__ import annotations

import io
import logging
import re

from forewarn.daemon._demo import run_demo
from forewarn.daemon._log import _Formatter
from forewarn.daemon._runtime import clock_gap


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_demo_warns_the_late_customer_first_and_summarises():
    out = io.StringIO()
    seen = _Records()
    logger = logging.getLogger("forewarn")      # run_demo replaces the root's handlers, not this one's
    logger.addHandler(seen)
    try:
        assert run_demo(speed=600, out=out) == 0
    finally:
        logger.removeHandler(seen)
    # a recorded drive (2009) goes by its own clock: nothing for a newcomer to worry about
    assert [r.getMessage() for r in seen.records if r.levelno >= logging.WARNING] == []
    text = out.getvalue()
    # the delay SMS to S3's customer (French) goes out, and the summary says it came before the window ended
    assert re.search(r">>> \[sms to \+491511234\*\*73\] Bonjour Claire Dubois, désolés", text), text
    m = re.search(r"delay\s+(\d\d:\d\d:\d\d)\s+sms\s+sent \(([\d.]+) min before the window ended\)", text)
    assert m and float(m.group(2)) > 2, text
    assert "S3: window 16:30-16:48, arrived 16:5" in text and "LATE by" in text
    assert text.count("Bonjour Claire Dubois, désolés") == 1, "no duplicate"
    # her window was lost from the first fix on: she is not promised it first and told otherwise a minute later
    assert "Claire Dubois, votre livraison est prévue" not in text
    assert "S1: window 16:40-17:00" in text and "on time" in text
    assert "[call to +491511234**72]" in text, "the voice customer is called"
    assert "+4915112345673" not in text, "numbers are masked on the console too"


def test_clock_gap_reads_as_a_duration_and_survives_the_log_masking():
    assert clock_gap(90.0) == "90 s ahead of"
    assert clock_gap(-300.0) == "5.0 min behind"
    assert clock_gap(3 * 3600.0 + 1800.0) == "3.5 h ahead of"
    assert clock_gap(549_019_478.0) == "17.4 years ahead of"
    rec = logging.LogRecord("forewarn.daemon", logging.WARNING, __file__, 1,
                            "system clock is %s GPS time (%s)", (clock_gap(549_019_478.0), "2009-07-07T14:42:23Z"),
                            None)
    line = _Formatter(journald=True).format(rec)
    assert line == "<4>WARNING forewarn.daemon: system clock is 17.4 years ahead of GPS time (2009-07-07T14:42:23Z)"


def test_log_masks_a_raw_number_once_and_leaves_a_masked_one_alone():
    fmt = _Formatter(journald=False)

    def line(msg: str) -> str:
        return fmt.format(logging.LogRecord("forewarn.notify", logging.INFO, __file__, 1, msg, (), None))

    assert line("to +491511234**71 sid=1").endswith("to +491511234**71 sid=1")
    assert "+14165550123" not in line("Twilio said: +14165550123 is not a mobile number")
    assert "+1416*****23" in line("Twilio said: +14165550123 is not a mobile number")

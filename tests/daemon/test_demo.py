"""`forewarn demo` on the embedded default: the late stop's customer is warned before the window ends."""
from __future__ import annotations

import io
import re

from forewarn.daemon._demo import run_demo


def test_demo_warns_the_late_customer_first_and_summarises():
    out = io.StringIO()
    assert run_demo(speed=600, out=out) == 0
    text = out.getvalue()
    # the delay SMS to S3's customer (French) goes out, and the summary says it came before the window ended
    assert re.search(r">>> \[sms to \+491511234\*\*73\] Bonjour Claire Dubois, désolés", text), text
    m = re.search(r"delay\s+(\d\d:\d\d:\d\d)\s+sms\s+sent \(([\d.]+) min before the window ended\)", text)
    assert m and float(m.group(2)) > 2, text
    assert "S3: window 16:30-16:48, arrived 16:5" in text and "LATE by" in text
    assert text.count("Bonjour Claire Dubois, désolés") == 1, "no duplicate"
    assert "S1: window 16:40-17:00" in text and "on time" in text
    assert "[call to +491511234**72]" in text, "the voice customer is called"
    assert "+4915112345673" not in text, "numbers are masked on the console too"

"""Shared pytest setup: fakes of the outside world live in tests/fakes/ and are plugins here."""

pytest_plugins: list[str] = [
    "tests.fakes.mosquitto",  # real broker on a free port
    # add a fakes module here when you create one
    "tests.fakes.gpsd",  # real gpsd on a free port, reading a pty (devices/)
    "tests.fakes.twilio",
]

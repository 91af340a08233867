#!/usr/bin/env bash
# Command 2 of README: install what the tests need (Mosquitto, gpsd, systemd-analyze) and run the whole suite.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
apt_install mosquitto gpsd systemd
ensure_venv "[test]"
cd "$ROOT"
"$VENV/bin/python" -m pytest "$@"

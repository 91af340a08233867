#!/usr/bin/env bash
# Command 1 of README: set up and run `forewarn demo` (no broker, no Twilio account needed).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
ensure_venv ""
exec "$VENV/bin/forewarn" demo "$@"

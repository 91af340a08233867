"""Daemon runtime: stop states, alert policy, notifications, MQTT, CLI."""

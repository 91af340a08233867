"""Daemon runtime: stop states, alert policy, notifications, MQTT, CLI."""

__version__ = "0.1.0"

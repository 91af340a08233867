"""Secrets from files and systemd credentials: what a deployment without some of them needs."""
from __future__ import annotations

import asyncio

import pytest

from forewarn.config import ConfigError, load_settings
from forewarn.config._settings import read_secret
from forewarn.daemon._mqtt import MqttLink
from forewarn.daemon.store import open_db

from .helpers import write_config


def test_an_empty_credential_is_an_unused_placeholder_an_empty_file_is_an_error(tmp_path, monkeypatch):
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "mqtt-password").write_text("")                 # the unit needs the file; nothing in it
    (creds / "twilio-token").write_text("tok-123\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert read_secret(None, "mqtt-password", "MQTT password") is None
    assert read_secret(None, "twilio-token", "Twilio auth token") == "tok-123"
    assert read_secret(None, "nothing-here", "x") is None
    (tmp_path / "pw").write_text("  \n")
    with pytest.raises(ConfigError, match="MQTT password file is empty"):
        read_secret(str(tmp_path / "pw"), "mqtt-password", "MQTT password")
    with pytest.raises(ConfigError, match="does not exist"):
        read_secret(str(tmp_path / "nope"), "mqtt-password", "MQTT password")


def test_without_a_user_name_the_mqtt_password_is_never_read(tmp_path, monkeypatch):
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "mqtt-password").mkdir()                        # unreadable as a file: reading it would fail
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    settings = load_settings(write_config(tmp_path, broker_url="mqtt://127.0.0.1:1883"))
    named = settings.mqtt.model_copy(update={"username": "truck"})

    async def build() -> None:                               # aiomqtt clients are made inside a loop
        MqttLink(settings.mqtt, "demo-truck", open_db(":memory:"))._client()   # no password read
        with pytest.raises(ConfigError, match="cannot read MQTT password"):
            MqttLink(named, "demo-truck", open_db(":memory:"))._client()

    asyncio.run(build())

"""The daemon's TOML config (DESIGN.md "Config"), validated at start: unknown keys are errors.

Secrets are never in this file: tokens and passwords come from `*_file` paths or from
systemd credentials ($CREDENTIALS_DIRECTORY), read only when the client is built.
"""
from __future__ import annotations

import os
import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._errors import ConfigError, Problem, from_pydantic

_TOPIC_SAFE = re.compile(r"^[^#+/\s][^#+\s]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VehicleSettings(_Strict):
    id: str = Field(min_length=1, max_length=64)

    @field_validator("id")
    @classmethod
    def _topic_safe(cls, v: str) -> str:
        if "/" in v or not _TOPIC_SAFE.match(v):
            raise ValueError("vehicle id becomes an MQTT topic level: no '/', '+', '#' or spaces")
        return v


class GpsSettings(_Strict):
    source: Literal["serial", "gpsd", "mqtt", "file"]
    device: str | None = None
    baudrate: Literal["auto"] | int = "auto"
    host: str = "127.0.0.1"
    port: int = Field(default=2947, ge=1, le=65535)
    topic: str | None = None          # mqtt: defaults to <prefix>/<vehicle>/nmea
    path: str | None = None           # file
    speed: float | None = Field(default=None, gt=0, le=10_000)  # file: replay speed factor; absent = real time
    stale_after_s: float = Field(default=5.0, gt=0)

    @field_validator("baudrate")
    @classmethod
    def _baud(cls, v: str | int) -> str | int:
        if isinstance(v, int) and v not in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600):
            raise ValueError(f"unusual baud rate {v}; use \"auto\" or one of 4800, 9600, ..., 115200")
        return v

    @model_validator(mode="after")
    def _needs(self) -> "GpsSettings":
        if self.source == "serial" and not self.device:
            raise ValueError("source \"serial\" needs device = \"/dev/ttyUSB0\" (or similar)")
        if self.source == "file" and not self.path:
            raise ValueError("source \"file\" needs path = \"...nmea\"")
        return self


class MqttSettings(_Strict):
    url: str = "mqtt://localhost:1883"
    prefix: str = "fleet"
    username: str | None = None
    password_file: str | None = None   # or $CREDENTIALS_DIRECTORY/mqtt-password
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    client_id: str | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        u = urlsplit(v)
        if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"scheme must be mqtt:// or mqtts:// (got {u.scheme or 'none'}://)")
        if not u.hostname:
            raise ValueError("no host in the URL")
        if u.password:
            raise ValueError("no password in the URL: use password_file or a systemd credential")
        try:
            u.port
        except ValueError:
            raise ValueError("port is not a number") from None
        return v

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not v or not _TOPIC_SAFE.match(v) or v.endswith("/"):
            raise ValueError("prefix is an MQTT topic without wildcards, spaces or a trailing '/'")
        return v

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "localhost"

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme in ("mqtts", "ssl")

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)


class TwilioSettings(_Strict):
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token_file: str | None = None     # or $CREDENTIALS_DIRECTORY/twilio-token
    from_: str | None = Field(default=None, alias="from")
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    api_base: str = "https://api.twilio.com"
    allowed_countries: list[str] = Field(default_factory=list)   # e.g. ["CA", "US"]: the toll-fraud guard

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _sender(self) -> "TwilioSettings":
        if not self.from_ and not self.messaging_service_sid:
            raise ValueError("set \"from\" (an E.164 number) or messaging_service_sid")
        if self.from_:
            from ._manifest import parse_e164
            parse_e164(self.from_)
        u = urlsplit(self.api_base)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"api_base must be an http(s) URL (got {self.api_base!r})")
        return self


def _parse_hhmm(s: str) -> time:
    h, m = s.split(":")
    return time(int(h), int(m))


class AlertSettings(_Strict):
    # 0.85, not DESIGN's first 0.7: on 20 simulated days (bench/alerts.py, seeds 700 and 710)
    # 0.7 told 4.7-5.1% of on-time customers "late", 0.85 told 1.6-2.5%, still warning every
    # late stop, median lead 22-33 min; 0.9 let the lead fall under 20 min.
    late_probability: float = Field(default=0.85, gt=0, lt=1)      # P(late) that triggers the customer's delay message
    at_risk_probability: float = Field(default=0.4, gt=0, lt=1)    # dispatcher's at_risk event: earlier than customers
    sustain_s: float = Field(default=120, ge=0)                    # P(late) must hold this long (no flapping) ...
    sustain_fraction: float = Field(default=0.2, ge=0, le=1)       # ... or this share of the time left before the
                                                                   # window ends, if longer: early, there is time to be sure
    sustain_max_s: float = Field(default=1200, ge=0)               # ... but never longer than this
    back_on_time_probability: float = Field(default=0.1, gt=0, lt=1)  # after a delay message: "good news" below this
    approaching_minutes: float = Field(default=15, gt=0)
    approach_lead_hours: float = Field(default=3, gt=0)            # approaching / early / arrival only this close to the
                                                                   # window: earlier is another run (tomorrow's route,
                                                                   # driven past and stopped at tonight)
    held_up_minutes: float = Field(default=10, ge=0)               # after "about N min away": the ETA slipped this far
                                                                   # past it (held for sustain_s) -> one "held up" (0 = never)
    max_messages_per_stop: int = Field(default=5, ge=1, le=20)     # 5: room for a "held up" beside window, delay,
                                                                   # approaching and delivered (4 leaves it out)
    quiet_hours: str | None = "21:00-08:00"                        # in the stop's time zone
    window_lead_hours: float = Field(default=24, gt=0)             # window message no earlier than this before the window
    delay_margin_minutes: float = Field(default=15, ge=0)          # a second delay only if p50 leaves the announced window by this
    early_minutes: float = Field(default=30, gt=0)                 # dispatcher "early" event when p90 < window start - this
    notify_customer_early: bool = False
    rating: bool = False                                           # delivered message asks for a 1-5 rating
    arrival_speed_mps: float = Field(default=1.5, gt=0)            # "stopped" for arrival detection
    arrival_dwell_s: float = Field(default=20, ge=0)               # stopped inside the radius this long = arrived
    delivered_hold_s: float = Field(default=120, ge=0)             # "delivered" inferred from GPS waits this long,
                                                                   # so the driver's "fail" can still withdraw it
    expire_hours: float = Field(default=12, ge=0)                  # a window that ended this long ago is history: no
                                                                   # customer messages about it (0 = never expire)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        m = re.fullmatch(r"(\d{1,2}:\d{2})-(\d{1,2}:\d{2})", v.strip())
        if not m:
            raise ValueError("quiet_hours is \"HH:MM-HH:MM\", e.g. \"21:00-08:00\"")
        try:
            _parse_hhmm(m.group(1)), _parse_hhmm(m.group(2))
        except ValueError:
            raise ValueError("quiet_hours has an impossible time") from None
        return v.strip()

    @model_validator(mode="after")
    def _order(self) -> "AlertSettings":
        if self.at_risk_probability > self.late_probability:
            raise ValueError("at_risk_probability must not exceed late_probability (dispatchers hear first)")
        if self.back_on_time_probability >= self.late_probability:
            raise ValueError("back_on_time_probability must be below late_probability")
        return self

    def quiet_range(self) -> tuple[time, time] | None:
        if not self.quiet_hours:
            return None
        a, b = self.quiet_hours.split("-")
        return _parse_hhmm(a), _parse_hhmm(b)


class StateSettings(_Strict):
    path: str = "/var/lib/forewarn/state.db"
    keep_days: float = Field(default=30, ge=0)   # finished messages and their routes' stop states are
                                                 # deleted after this (0 = keep everything)


class RoutesSettings(_Strict):
    dir: str | None = None


class LogSettings(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(_Strict):
    vehicle: VehicleSettings
    gps: GpsSettings
    mqtt: MqttSettings | None = None
    twilio: TwilioSettings | None = None
    alerts: AlertSettings = AlertSettings()
    state: StateSettings = StateSettings()
    routes: RoutesSettings = RoutesSettings()
    log: LogSettings = LogSettings()
    source_path: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _cross(self) -> "Settings":
        if self.gps.source == "mqtt" and self.mqtt is None:
            raise ValueError("gps.source = \"mqtt\" needs an [mqtt] section")
        return self


def parse_settings(text: str, source: str = "<config>") -> Settings:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([Problem(source, "", f"not valid TOML: {e}")]) from None
    try:
        settings = Settings.model_validate(doc)
    except ValidationError as e:
        raise from_pydantic(source, e, Settings) from None
    base = Path(source).parent if source and not source.startswith("<") else Path(".")
    return settings.model_copy(update={"source_path": str(base)})


def load_settings(path: str | Path) -> Settings:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([Problem(str(p), "", f"cannot read: {e.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem(str(p), "", "not UTF-8 text")]) from None
    return parse_settings(text, str(p))


def read_secret(file: str | None, credential: str, what: str) -> str | None:
    """A secret from `file`, else from the systemd credential `credential`, else None.

    An empty credential counts as none: systemd refuses to start a unit whose LoadCredential=
    file is missing (243/CREDENTIALS), so a deployment without MQTT auth keeps an empty
    placeholder. An empty `file` someone configured is an error. The error names the file,
    never the content.
    """
    candidates = [file] if file else []
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        candidates.append(os.path.join(cred_dir, credential))
    for c in candidates:
        try:
            value = Path(c).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            if c == file:
                raise ConfigError([Problem(c, "", f"{what} file does not exist")]) from None
            continue
        except OSError as e:
            raise ConfigError([Problem(c, "", f"cannot read {what}: {e.strerror}")]) from None
        if not value:
            if c != file:
                continue
            raise ConfigError([Problem(c, "", f"{what} file is empty")])
        return value
    return None

"""Route manifests (DESIGN.md "Route manifest"): JSON from a file or the retained MQTT topic.

Validated with pydantic so that every problem is reported at once with its path, then
turned into the plain `forewarn.eta.Route` the rest of the daemon uses.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from forewarn.eta import Customer, Route, Stop, Window

from ._errors import ConfigError, Problem, from_pydantic

MAX_MANIFEST_BYTES = 2_000_000  # a day's route with a dense geometry is ~200 kB; more is a mistake


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowModel(_Strict):
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("time needs an offset, e.g. 2026-11-23T15:00:00Z")
        return v

    @model_validator(mode="after")
    def _order(self) -> "WindowModel":
        if self.end <= self.start:
            raise ValueError(f"window ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})")
        return self


def parse_e164(raw: str) -> str:
    """Validate a phone number with libphonenumber and return it in E.164."""
    if not raw.startswith("+"):
        raise ValueError(f"phone {raw!r} is not E.164 (must start with + and the country code)")
    try:
        num = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as e:
        raise ValueError(f"phone {raw!r} is not a phone number ({e._msg})") from None
    if not phonenumbers.is_valid_number(num):
        raise ValueError(f"phone {raw!r} is not a valid number")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


class CustomerModel(_Strict):
    name: str = Field(min_length=1, max_length=80)
    phone: str | None = None
    channel: Literal["sms", "voice", "none"] = "sms"
    locale: str = Field(default="en", pattern=r"^[a-z]{2}([-_][A-Za-z]{2})?$")
    voice_fallback: bool = False

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return None if v is None else parse_e164(v)

    @model_validator(mode="after")
    def _reachable(self) -> "CustomerModel":
        if self.channel != "none" and not self.phone:
            raise ValueError(f"channel {self.channel!r} needs a phone number")
        return self


class StopModel(_Strict):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[^/#+\s]+$")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    service_s: float = Field(default=300, ge=0, le=6 * 3600)
    radius_m: float = Field(default=60, gt=0, le=2000)
    # The route planner's drive time (seconds, no service time) from the previous stop, or from
    # the start of the route for the first: it knows the road classes, so it is the best prior
    # speed for that leg until forewarn has learned the streets itself.
    drive_s: float | None = Field(default=None, gt=0, le=24 * 3600)
    window: WindowModel
    customer: CustomerModel | None = None
    address: str | None = None


class LineStringModel(_Strict):
    type: Literal["LineString"]
    coordinates: list[Annotated[list[float], Field(min_length=2, max_length=3)]] = Field(min_length=2)

    @field_validator("coordinates")
    @classmethod
    def _ranges(cls, v: list[list[float]]) -> list[list[float]]:
        for i, c in enumerate(v):
            if not (-180 <= c[0] <= 180 and -90 <= c[1] <= 90):
                raise ValueError(f"coordinate {i} {c[:2]} is not [lon, lat] in range (GeoJSON order is lon, lat)")
        return v


class ManifestModel(_Strict):
    route_id: str = Field(min_length=1, max_length=128, pattern=r"^[^/#+\s]+$")
    vehicle_id: str = Field(min_length=1, max_length=64, pattern=r"^[^/#+\s]+$")
    timezone: str = "UTC"
    geometry: Union[LineStringModel, str, None] = None
    detour_factor: float = Field(default=1.3, ge=1.0, le=5.0)
    stops: list[StopModel] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name like 'America/Toronto')") from None
        return v

    @field_validator("stops")
    @classmethod
    def _unique(cls, v: list[StopModel]) -> list[StopModel]:
        seen: set[str] = set()
        for s in v:
            if s.id in seen:
                raise ValueError(f"stop id {s.id!r} appears more than once")
            seen.add(s.id)
        return v


def manifest_schema() -> dict:
    """The JSON Schema shipped as config/schemas/route-manifest.schema.json (test keeps it in sync)."""
    schema = ManifestModel.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "forewarn route manifest"
    return schema


def _geometry(model: ManifestModel, source: str) -> tuple[tuple[float, float], ...] | None:
    g = model.geometry
    if g is None:
        return None
    if isinstance(g, str):
        from forewarn.eta import decode_polyline
        try:
            pts = decode_polyline(g)
        except (ValueError, IndexError) as e:
            raise ConfigError([Problem(source, "geometry", f"not a valid encoded polyline ({e})")]) from None
        if len(pts) < 2:
            raise ConfigError([Problem(source, "geometry", "encoded polyline has fewer than 2 points")])
        return tuple((float(lon), float(lat)) for lon, lat in pts)
    return tuple((float(c[0]), float(c[1])) for c in g.coordinates)


def _drop_bad_contacts(doc: dict, source: str, unreachable: list[Problem]) -> dict:
    """Customers whose contact details do not validate (a mistyped phone, say) become
    unreachable (channel "none") instead of failing the route: one bad number must not leave
    every other customer of the day untold. Their problems go to `unreachable`."""
    stops = doc.get("stops")
    if not isinstance(stops, list):
        return doc
    kept = []
    for i, stop in enumerate(stops):
        customer = stop.get("customer") if isinstance(stop, dict) else None
        if isinstance(customer, dict):
            try:
                CustomerModel.model_validate(customer)
            except ValidationError as e:
                where = f"stops[{i}].customer"
                unreachable.extend(Problem(source, f"{where}.{p.field}" if p.field else where, p.message)
                                   for p in from_pydantic(source, e, CustomerModel).problems)
                name = customer.get("name")
                name = name.strip()[:80] if isinstance(name, str) and name.strip() else "customer"
                stop = {**stop, "customer": {"name": name, "channel": "none"}}
        kept.append(stop)
    return {**doc, "stops": kept}


def parse_manifest(data: bytes | str, source: str = "<manifest>", *,
                   unreachable: list[Problem] | None = None) -> Route:
    """Bytes of a manifest -> Route, or ConfigError listing every problem with its path.

    With an `unreachable` list (the daemon), a customer whose contact details are bad is kept
    as not to be messaged and the problem goes to the list; without (`forewarn check`), it is
    a problem like any other."""
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_MANIFEST_BYTES:
        raise ConfigError([Problem(source, "", f"manifest is {len(data)} bytes; the limit is {MAX_MANIFEST_BYTES}")])
    try:
        doc = json.loads(data)
    except UnicodeDecodeError as e:
        raise ConfigError([Problem(source, "", f"not UTF-8 text ({e.reason} at byte {e.start})")]) from None
    except json.JSONDecodeError as e:
        raise ConfigError([Problem(source, "", f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}")]) from None
    if not isinstance(doc, dict):
        raise ConfigError([Problem(source, "", "a manifest is a JSON object {\"route_id\": ..., \"stops\": [...]}")])
    if unreachable is not None:
        doc = _drop_bad_contacts(doc, source, unreachable)
    try:
        model = ManifestModel.model_validate(doc)
    except ValidationError as e:
        raise from_pydantic(source, e, ManifestModel) from None
    stops = tuple(
        Stop(
            id=s.id, lat=s.lat, lon=s.lon, service_s=float(s.service_s), radius_m=float(s.radius_m),
            drive_s=None if s.drive_s is None else float(s.drive_s),
            window=Window(start=s.window.start, end=s.window.end),
            customer=None if s.customer is None else Customer(
                name=s.customer.name, phone=s.customer.phone, channel=s.customer.channel,
                locale=s.customer.locale, voice_fallback=s.customer.voice_fallback),
        )
        for s in model.stops
    )
    return Route(
        route_id=model.route_id, vehicle_id=model.vehicle_id, timezone=model.timezone,
        stops=stops, geometry=_geometry(model, source), detour_factor=model.detour_factor,
        version=hashlib.sha256(data).hexdigest()[:16],
    )


def load_route(path: str | Path) -> Route:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ConfigError([Problem(str(p), "", f"cannot read: {e.strerror}")]) from None
    return parse_manifest(data, str(p))

"""Configuration and route manifests: parsed, validated (every problem at once), typed."""
from ._errors import ConfigError, Problem
from ._manifest import load_route, manifest_schema, parse_e164, parse_manifest
from ._settings import AlertSettings, Settings, load_settings, parse_settings, read_secret

__all__ = [
    "AlertSettings", "ConfigError", "Problem", "Settings", "load_route", "load_settings",
    "manifest_schema", "parse_e164", "parse_manifest", "parse_settings", "read_secret",
]

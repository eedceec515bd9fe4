"""Typed settings: definitions, validation and layered resolution with provenance."""

from provisioner.settings._spec import (
    VERSION_PATTERN,
    SettingSpec,
    SettingType,
    Value,
    Version,
    as_int,
    is_host,
    parse_networks,
    parse_version,
)

__all__ = [
    "VERSION_PATTERN",
    "SettingSpec",
    "SettingType",
    "Value",
    "Version",
    "as_int",
    "is_host",
    "parse_networks",
    "parse_version",
]

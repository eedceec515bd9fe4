"""Typed settings: definitions, validation and layered resolution with provenance."""

from provisioner.settings._spec import (
    SettingSpec,
    SettingType,
    Value,
    as_int,
    is_host,
    parse_networks,
    parse_version,
)

__all__ = [
    "SettingSpec",
    "SettingType",
    "Value",
    "as_int",
    "is_host",
    "parse_networks",
    "parse_version",
]

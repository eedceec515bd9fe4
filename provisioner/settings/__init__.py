"""Typed settings: definitions, validation and layered resolution with provenance."""

from provisioner.settings._spec import (
    CONTROL_CHARS,
    SettingSpec,
    SettingType,
    Value,
    check_no_control,
    is_host,
    parse_networks,
    parse_version,
)

__all__ = [
    "CONTROL_CHARS",
    "SettingSpec",
    "SettingType",
    "Value",
    "check_no_control",
    "is_host",
    "parse_networks",
    "parse_version",
]

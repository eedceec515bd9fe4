"""Typed settings: definitions, validation and layered resolution with provenance."""

from provisioner.settings._keys import (
    MAX_KEYS,
    TARGET_TYPES,
    WATCHED_TYPES,
    Key,
    KeyType,
    is_sip_uri,
    parse_keys,
)
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
    "MAX_KEYS",
    "TARGET_TYPES",
    "VERSION_PATTERN",
    "WATCHED_TYPES",
    "Key",
    "KeyType",
    "SettingSpec",
    "SettingType",
    "Value",
    "Version",
    "as_int",
    "is_host",
    "is_sip_uri",
    "parse_keys",
    "parse_networks",
    "parse_version",
]

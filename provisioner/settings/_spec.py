"""Typed setting definitions and value validation.

A :class:`SettingSpec` is one entry of a settings schema (the common schema in
``templates/common.toml`` or a family's own ``[[settings]]``). It knows how to
turn admin input into a typed value and how to say what it accepts, so every
error names the setting, the scope and the allowed values.

Characters policy (docs/escaping.md): every text-typed setting value passes
:func:`provisioner.chars.check_text` at write time, so it holds no control
character or line separator (nothing can carry a line break into a
``key = value`` file) and nothing XML 1.0 cannot carry (surrogates,
U+FFFE/U+FFFF).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from provisioner.chars import check_text
from provisioner.errors import InputError
from provisioner.settings import timezone
from provisioner.settings._keys import Key, parse_keys

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

# A list setting's value is a tuple (hashable, immutable like the other values);
# a keys setting's value is a tuple of Key records.
Value = bool | int | str | tuple[str, ...] | tuple[Key, ...]
# A parsed firmware version: (number, letters) per dotted component.
Version = tuple[tuple[int, str], ...]

_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_URL_SCHEMES = ("http", "https", "tftp", "ftp", "ftps")
# Dotted numbers, each optionally followed by letters: Polycom 5.9.1.0615,
# Cisco SPA 7.4.9c (the letter is a release of its own: 7.4.9 and 7.4.9c are
# different images).
VERSION_PATTERN = r"[0-9]+[A-Za-z]*(?:\.[0-9]+[A-Za-z]*)*"
_VERSION = re.compile(VERSION_PATTERN)
_COMPONENT = re.compile(r"([0-9]+)([A-Za-z]*)")


class SettingType(StrEnum):
    """The value types a setting may have."""

    BOOL = "bool"
    INT = "int"
    ENUM = "enum"
    STRING = "string"
    HOST = "host"
    URL = "url"
    IP = "ip"
    TIMEZONE = "timezone"
    CIDRS = "cidrs"  # comma-separated IPv4/IPv6 networks; empty = anywhere
    LIST = "list"  # an ordered list of distinct names: from choices, or matching pattern
    KEYS = "keys"  # an ordered list of programmable keys (provisioner.settings._keys)


def as_int(value: Value) -> int:
    """An ``int`` setting's resolved value as an ``int`` (a list is a programming error)."""
    if isinstance(value, tuple):
        raise TypeError(f"expected an integer setting value, got the list {value!r}")
    return int(value)


def parse_version(text: str) -> Version:
    """Parse a dotted firmware version (``5.9.6``, ``7.4.9c``) into a comparable tuple.

    Components compare by number, then by their letters (case-insensitive,
    none first): 7.4.9 < 7.4.9a < 7.4.9c < 7.4.10. A version that is a
    prefix of another is the smaller one (5.9 < 5.9.0).
    """
    if _VERSION.fullmatch(text) is None:
        raise InputError(
            f"invalid version {text!r}: expected numbers separated by dots, "
            "each optionally followed by letters (5.9.1.0615, 7.4.9c)"
        )
    parts = (_COMPONENT.fullmatch(part) for part in text.split("."))
    return tuple((int(m.group(1)), m.group(2).lower()) for m in parts if m is not None)


def is_host(text: str) -> bool:
    """True for a DNS host name (RFC 1123 labels) or an IPv4/IPv6 address."""
    return _is_hostname(text) or _is_ip(text)


def _is_hostname(text: str) -> bool:
    if len(text) > 253:
        return False
    labels = text.rstrip(".").split(".")
    return all(_HOST_LABEL.fullmatch(label) for label in labels)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One setting of a schema.

    ``line`` settings may also be set per line and resolve per line; the rest
    are per phone. ``owner`` is ``None`` for common settings and
    ``"vendor/family"`` for family settings. ``secret`` values are masked in
    ``explain`` output and never logged. ``generated`` settings default to a
    per-device random value (see :mod:`provisioner.settings.resolve`).
    ``firmware`` bounds gate the setting: outside them it is not rendered.
    ``server`` settings steer the server (access control, unknown devices)
    and are never rendered into phone files; ``tenant_only`` ones may be set
    on tenants only.
    """

    name: str
    type: SettingType
    default: Value
    label: str
    description: str = ""
    line: bool = False
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    max_length: int = 255
    secret: bool = False
    generated: bool = False
    min_firmware: Version | None = None
    max_firmware: Version | None = None
    owner: str | None = None
    server: bool = False
    tenant_only: bool = False

    def allowed(self) -> str:
        """Human description of the accepted values, for error messages."""
        if self.type is SettingType.BOOL:
            return "true or false"
        if self.type is SettingType.INT:
            low = "" if self.minimum is None else str(self.minimum)
            high = "" if self.maximum is None else str(self.maximum)
            return f"an integer in [{low}, {high}]"
        if self.type is SettingType.ENUM:
            return "one of " + ", ".join(self.choices)
        if self.type is SettingType.HOST:
            return "a host name, an IPv4/IPv6 address, or empty"
        if self.type is SettingType.IP:
            return "an IPv4/IPv6 address, or empty"
        if self.type is SettingType.URL:
            return "a URL with scheme " + "/".join(_URL_SCHEMES) + ", or empty"
        if self.type is SettingType.TIMEZONE:
            return "an IANA time zone name such as Europe/Berlin"
        if self.type is SettingType.CIDRS:
            return "comma-separated IPv4/IPv6 networks such as 10.0.0.0/8,2001:db8::/32, or empty"
        if self.type is SettingType.LIST:
            return self._allowed_list()
        if self.type is SettingType.KEYS:
            return (
                "a list of keys {type, value, label, line, module, page} with type "
                "line, blf, speed_dial, park, intercom, dtmf, url or none "
                "(on the command line: a JSON array)"
            )
        return self._allowed_text()

    def _allowed_text(self) -> str:
        text = f"text of at most {self.max_length} characters without control characters"
        if self.pattern is not None:
            text += f" matching {self.pattern.pattern}"
        return text

    def _allowed_list(self) -> str:
        items = "one of " + ", ".join(self.choices) if self.choices else self._allowed_text()
        text = f"a list of distinct items, each {items}"
        if self.maximum is not None:
            text += f"; at most {self.maximum} items"
        return text + " (on the command line: comma-separated)"

    def coerce(self, raw: object, *, scope: str, from_text: bool = False) -> Value:
        """Validate ``raw`` and return the typed value.

        ``from_text`` is true for command-line input, where every value arrives
        as a string (``true``, ``10``); documents (JSON/TOML) must use native
        types. Raises :class:`InputError` naming setting, scope and what is allowed.
        """
        try:
            return self._coerce(raw, from_text)
        except InputError as exc:
            raise InputError(
                f"setting {self.name} at {scope}: {exc}; allowed: {self.allowed()}"
            ) from None

    def _coerce(self, raw: object, from_text: bool) -> Value:
        kind = self.type
        if kind is SettingType.BOOL:
            return _coerce_bool(raw, from_text)
        if kind is SettingType.INT:
            number = _coerce_int(raw, from_text)
            if self.minimum is not None and number < self.minimum:
                raise InputError(f"{number} is below the minimum {self.minimum}")
            if self.maximum is not None and number > self.maximum:
                raise InputError(f"{number} is above the maximum {self.maximum}")
            return number
        if kind is SettingType.LIST:
            return self._coerce_list(raw, from_text)
        if kind is SettingType.KEYS:
            return parse_keys(raw, from_text=from_text)
        if not isinstance(raw, str):
            raise InputError(f"expected text, got {type(raw).__name__} {raw!r}")
        check_text(raw, "value")
        if kind is SettingType.ENUM:
            if raw not in self.choices:
                raise InputError(f"{raw!r} is not one of the choices")
            return raw
        if kind is SettingType.HOST:
            if raw and not is_host(raw):
                raise InputError(f"{raw!r} is not a host name or IP address")
            return raw
        if kind is SettingType.IP:
            if raw and not _is_ip(raw):
                raise InputError(f"{raw!r} is not an IP address")
            return raw
        if kind is SettingType.URL:
            if raw:
                _check_url(raw)
            return raw
        if kind is SettingType.TIMEZONE:
            if not timezone.exists(raw):
                raise InputError(f"{raw!r} is not a known time zone")
            return raw
        if kind is SettingType.CIDRS:
            return ",".join(str(net) for net in parse_networks(raw))
        return self._coerce_text(raw)

    def _coerce_text(self, raw: str) -> str:
        if len(raw) > self.max_length:
            raise InputError(f"{len(raw)} characters is longer than {self.max_length}")
        if self.pattern is not None and raw and self.pattern.fullmatch(raw) is None:
            raise InputError(f"{raw!r} does not match the required pattern")
        return raw

    def _coerce_list(self, raw: object, from_text: bool) -> tuple[str, ...]:
        if from_text and isinstance(raw, str):
            # ``provisioner set … codecs g722,pcmu``; an empty value is the empty list.
            raw = [part.strip() for part in raw.split(",")] if raw.strip() else []
        if not isinstance(raw, list | tuple):
            raise InputError(f"expected a list, got {type(raw).__name__} {raw!r}")
        items: list[str] = []
        for item in raw:
            if not isinstance(item, str):
                raise InputError(f"expected text items, got {type(item).__name__} {item!r}")
            check_text(item, "item")
            if self.choices:
                if item not in self.choices:
                    raise InputError(f"{item!r} is not one of the choices")
            elif not item:
                raise InputError("an item is empty")
            else:
                self._coerce_text(item)
            if item in items:
                raise InputError(f"{item!r} is listed twice")
            items.append(item)
        if self.maximum is not None and len(items) > self.maximum:
            raise InputError(f"{len(items)} items is more than {self.maximum}")
        return tuple(items)

    def gated_out(self, firmware: Version | None) -> bool:
        """True when the phone's firmware version lies outside this setting's bounds.

        An unknown firmware version (``None``) never gates a setting out.
        """
        if firmware is None:
            return False
        if self.min_firmware is not None and firmware < self.min_firmware:
            return True
        return self.max_firmware is not None and firmware > self.max_firmware


def parse_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Parse a comma-separated list of networks (host bits must be zero)."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=True))
        except ValueError as exc:
            raise InputError(f"{part!r} is not a network ({exc})") from None
    return networks


def _coerce_bool(raw: object, from_text: bool) -> bool:
    if isinstance(raw, bool):
        return raw
    if from_text and isinstance(raw, str):
        lowered = raw.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
    raise InputError(f"expected a boolean, got {raw!r}")


def _coerce_int(raw: object, from_text: bool) -> int:
    # bool is an int subclass in Python; a JSON true is not a number here.
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if from_text and isinstance(raw, str) and re.fullmatch(r"[+-]?\d{1,18}", raw.strip()):
        return int(raw)
    raise InputError(f"expected an integer, got {raw!r}")


def _check_url(text: str) -> None:
    if any(ch.isspace() for ch in text):
        raise InputError(f"{text!r} contains white space")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InputError(f"{text!r} is not a valid URL ({exc})") from None
    if parts.scheme not in _URL_SCHEMES:
        raise InputError(f"{text!r} has no supported scheme")
    host = parts.hostname or ""
    if not is_host(host):
        raise InputError(f"{text!r} has no valid host")
    if port == 0:
        raise InputError(f"{text!r} has port 0")

"""Validation of entity fields (tenants, groups, phones, lines).

Shared by the store's single writes and the fleet file, so both refuse the
same things with the same words. Setting values are validated by their
:class:`~provisioner.settings.SettingSpec` instead. Every check starts with
:func:`provisioner.chars.check_text`, so a character no output format can
carry is refused by name (``U+FFFF``) before the field's own syntax.
"""

from __future__ import annotations

import re

from provisioner.chars import check_text
from provisioner.errors import InputError
from provisioner.mac import is_mac
from provisioner.settings import is_host

__all__ = [
    "MAX_WEIGHT",
    "check_canonical_mac",
    "check_credential",
    "check_free_text",
    "check_name",
    "check_sip_domain",
    "check_sip_user",
    "check_weight",
]

MAX_WEIGHT = 1_000_000
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
# RFC 3261 §25.1 user part, minus characters some key/value formats treat
# specially ('#', ';', quotes, spaces).
_SIP_USER = re.compile(r"[A-Za-z0-9._\-+*!~$%&=,?/()]{1,128}")
# Printable ASCII without space, quotes or backslash: no vendor format needs
# quoting or escaping beyond XML's.
_CREDENTIAL = re.compile(r"[!#-&(-\[\]-~]{0,128}")


def check_name(text: str, what: str) -> str:
    """Tenant and group names: 1–64 of letters, digits, ``_ . -``, starting alphanumeric."""
    check_text(text, what)
    if _NAME.fullmatch(text) is None:
        raise InputError(
            f"invalid {what} {text!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return text


def check_canonical_mac(text: str) -> str:
    """A phone's MAC as stored: 12 lower-case hex digits (commands and files parse their input)."""
    check_text(text, "MAC")
    if not is_mac(text):
        raise InputError(f"invalid MAC {text!r}: expected 12 lower-case hex digits")
    return text


def check_sip_domain(text: str) -> str:
    """A SIP domain: a host name or IP address."""
    check_text(text, "SIP domain")
    if not is_host(text):
        raise InputError(f"invalid SIP domain {text!r}: expected a host name or IP address")
    return text


def check_sip_user(text: str, what: str) -> str:
    """A SIP user part (line user or auth user)."""
    check_text(text, what)
    if _SIP_USER.fullmatch(text) is None:
        raise InputError(f"invalid {what} {text!r}: use 1-128 letters, digits or ._-+*!~$%&=,?/()")
    return text


def check_credential(text: str, what: str) -> str:
    """A password: printable ASCII without space, quotes or backslash."""
    check_text(text, what)
    if _CREDENTIAL.fullmatch(text) is None:
        raise InputError(
            f"invalid {what}: use at most 128 printable ASCII characters "
            "without spaces, quotes or backslashes"
        )
    return text


def check_free_text(text: str, what: str, *, allow_control: bool = False) -> str:
    """Descriptions, display names and labels: at most 255 characters.

    Display names and labels may hold control characters (they are replaced
    by spaces when rendered, see docs/escaping.md); descriptions may not.
    """
    check_text(text, what, controls=allow_control)
    if len(text) > 255:
        raise InputError(f"{what} is {len(text)} characters long; the maximum is 255")
    return text


def check_weight(value: int) -> int:
    """A group weight, higher wins."""
    if not -MAX_WEIGHT <= value <= MAX_WEIGHT:
        raise InputError(f"group weight {value} is outside [-{MAX_WEIGHT}, {MAX_WEIGHT}]")
    return value

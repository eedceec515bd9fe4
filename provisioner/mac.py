"""MAC address parsing and formatting.

Phones are keyed by their MAC address everywhere (database, file names, seen
records), so there is exactly one canonical form: 12 lower-case hex digits.
Input is accepted in the four notations admins paste in practice; anything
else is refused with a message that says what was expected.
"""

from __future__ import annotations

import re

from provisioner.errors import InputError

__all__ = ["format_mac", "is_mac", "parse_mac"]

# The accepted notations, each matched whole (no partial matches, no mixed
# separators): aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff (Cisco),
# aabbccddeeff.
_FORMS = re.compile(
    r"""
    (?P<colon>[0-9a-f]{2}(?::[0-9a-f]{2}){5})
    |(?P<dash>[0-9a-f]{2}(?:-[0-9a-f]{2}){5})
    |(?P<dot>[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4})
    |(?P<bare>[0-9a-f]{12})
    """,
    re.IGNORECASE | re.VERBOSE,
)
_CANONICAL = re.compile(r"[0-9a-f]{12}")


def parse_mac(text: str) -> str:
    """Return the canonical form (12 lower-case hex digits) of a MAC address.

    Accepts ``aa:bb:cc:dd:ee:ff``, ``AA-BB-CC-DD-EE-FF``, ``aabb.ccdd.eeff`` and
    ``aabbccddeeff`` in any letter case. Surrounding whitespace is ignored.

    :raises InputError: for anything else, naming the accepted forms.
    """
    candidate = text.strip()
    if _FORMS.fullmatch(candidate) is None:
        raise InputError(
            f"invalid MAC address {text!r}: expected aa:bb:cc:dd:ee:ff, "
            "aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff or 12 hex digits"
        )
    return re.sub(r"[:.\-]", "", candidate).lower()


def is_mac(text: str) -> bool:
    """True when ``text`` is already canonical (12 lower-case hex digits)."""
    return _CANONICAL.fullmatch(text) is not None


def format_mac(mac: str, style: str = "bare") -> str:
    """Format a canonical MAC for display or file names.

    ``style`` is ``bare`` (``0004f2aabbcc``), ``upper`` (``0004F2AABBCC``),
    ``colon`` (``00:04:f2:aa:bb:cc``), ``dash`` (``00-04-F2-AA-BB-CC``) or
    ``dot`` (``0004.f2aa.bbcc``).
    """
    if not is_mac(mac):
        raise ValueError(f"not a canonical MAC: {mac!r}")
    if style == "bare":
        return mac
    if style == "upper":
        return mac.upper()
    pairs = [mac[i : i + 2] for i in range(0, 12, 2)]
    if style == "colon":
        return ":".join(pairs)
    if style == "dash":
        return "-".join(pairs).upper()
    if style == "dot":
        return ".".join(mac[i : i + 4] for i in range(0, 12, 4))
    raise ValueError(f"unknown MAC style {style!r}")

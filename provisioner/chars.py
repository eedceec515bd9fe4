"""Which characters a stored text value may hold: what every output format can carry.

The one rule every write applies (through :func:`provisioner.check.check_tenant`,
whose field checks and :meth:`SettingSpec.coerce` call :func:`check_text`), so a
value that was accepted is always stored and always renders. docs/escaping.md
has the table.

- **XML 1.0** (§2.2, the ``Char`` production) allows only TAB, LF, CR,
  U+0020–U+D7FF, U+E000–U+FFFD and U+10000–U+10FFFF. The renderer replaces
  control characters with spaces (:mod:`provisioner.render`), but it cannot
  repair surrogates (U+D800–U+DFFF) or U+FFFE/U+FFFF: lxml refuses the file
  and the phone keeps stale files, or gets none. No value may hold them.
- **Valid UTF-8**: every file is encoded as UTF-8, and a lone surrogate (what
  Python makes of bytes that were not UTF-8, or of a JSON ``"\\ud800"``) has
  no UTF-8 encoding, so it could not even be stored.
- **The store**: PostgreSQL text cannot hold U+0000, so no value may either.
- **key = value files** end a value at a line break, and some parsers at other
  controls: C0 and C1 controls, DEL and U+2028/U+2029 are refused too, except
  in the fields the renderer cleans because imports carry them (line display
  name and label; ``controls=True``).
"""

from __future__ import annotations

import re

from provisioner.errors import EncodingError, InputError

__all__ = ["CONTROL_CHARS", "SURROGATES", "check_text", "clean_text", "decode_utf8", "storable"]

# C0 controls, DEL, C1 controls, NEL and the Unicode line/paragraph separators:
# everything a config parser might treat as a line break or that XML 1.0
# forbids outright. The renderer replaces each with a space.
_CONTROLS = "\x00-\x1f\x7f-\x9f\u2028\u2029"
CONTROL_CHARS = re.compile(f"[{_CONTROLS}]")


def clean_text(text: str) -> str:
    """Replace every control or line-separator character with a space."""
    return CONTROL_CHARS.sub(" ", text)


# Lone surrogates: what Python makes of bytes that were not UTF-8
# ("surrogateescape": command-line arguments) or of a JSON "\ud800" escape.
SURROGATES = re.compile("[\ud800-\udfff]")

# What no stored value may hold: NUL (PostgreSQL), and what XML 1.0 cannot
# carry and the renderer does not replace.
_UNREPAIRABLE = "\x00\ud800-\udfff\ufffe\uffff"
_REFUSED = re.compile(f"[{_UNREPAIRABLE}]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_REFUSED_WITH_CONTROLS = re.compile(f"[{_CONTROLS}{_UNREPAIRABLE}]")


def check_text(text: str, what: str, *, controls: bool = False) -> str:
    """Return ``text``; raise :class:`InputError` naming ``what`` and the first refused character.

    ``controls`` admits control characters other than NUL and line separators
    (the renderer turns them into spaces); NUL, surrogates and U+FFFE/U+FFFF
    are never admitted.
    """
    match = (_REFUSED if controls else _REFUSED_WITH_CONTROLS).search(text)
    if match is None:
        return text
    char = match.group()
    where = f"U+{ord(char):04X} at position {match.start()} is not allowed"
    if char == "\x00":
        raise InputError(f"{what}: control character {where} (NUL: PostgreSQL cannot store it)")
    if CONTROL_CHARS.match(char):
        raise InputError(f"{what}: control character {where}")
    if SURROGATES.match(char):
        raise InputError(f"{what}: {where} (a lone surrogate: not a character, not UTF-8)")
    raise InputError(f"{what}: {where} (not a character XML 1.0 can carry)")


def decode_utf8(raw: bytes, what: str) -> str:
    """``raw`` decoded as UTF-8; :class:`EncodingError` naming ``what`` and the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"{what} is not valid UTF-8 at byte {exc.start} (0x{raw[exc.start]:02X}: {exc.reason})"
        ) from None


def storable(text: str) -> str:
    """``text`` with what a database cannot hold (NUL, lone surrogates) replaced by U+FFFD.

    For text the server records from requests (a User-Agent may carry any
    bytes): kept for the admin to read, where an admin's own value is refused.
    """
    return _UNSTORABLE.sub("\ufffd", text)

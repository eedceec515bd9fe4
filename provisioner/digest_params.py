"""Digest auth-parameters: ``name=token`` and ``name="quoted string"`` (RFC 7235 §2.1).

The one reader of the parameters of a Digest challenge (SIP client,
``provisioner/sip/_digest.py``) and of a Digest answer (HTTP server,
``provisioner/serve/_digest.py``), and the one writer of a quoted value.
Names are tokens (RFC 7230 §3.2.6 ``tchar``), compared without regard to
case; a quoted value may escape any character with ``\\`` (quoted-pair);
an unquoted value runs to the next white space, comma or quote.
"""

from __future__ import annotations

import re

__all__ = ["parse_params", "quote", "read_param", "skip"]

TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"  # RFC 7230 §3.2.6 tchar
# A quoted string's content: characters but quote and backslash, each backslash with the
# character it escapes. Written as runs between escapes ("unrolled"), not one alternation
# per character: the same strings, matched in about half the time.
_QUOTED = r'[^"\\]*(?:\\.[^"\\]*)*'
_PARAM = re.compile(rf'[ \t]*({TOKEN})[ \t]*=[ \t]*(?:"({_QUOTED})"|([^\s,"]*))')
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
# One element of a list, with what separates it from the next: white space, then a
# comma (and any empty elements after it) or the end. Group 1 is the whole element:
# parse_params takes all elements with one findall, and the list is well formed when
# their lengths add up to its own (matches that do not overlap, in order, and cover it).
_ELEMENT = re.compile(
    rf'([ \t]*({TOKEN})[ \t]*=[ \t]*(?:"({_QUOTED})"|([^\s,"]*))[ \t]*(?:,[ \t,]*|\Z))'
)


def read_param(text: str, position: int) -> tuple[str, str, int] | None:
    """The parameter at ``position`` (white space before it skipped), or ``None``.

    Returns its lower-cased name, its value with quoting undone, and the
    position just after it.
    """
    hit = _PARAM.match(text, position)
    if hit is None:
        return None
    return hit.group(1).lower(), _value(hit), hit.end()


def _value(hit: re.Match[str]) -> str:
    """The value of a parameter matched by ``_PARAM`` or ``_ELEMENT``, quoting undone."""
    quoted = hit.group(2)
    if quoted is None:
        return hit.group(3)
    return _ESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted


def skip(text: str, position: int, characters: str) -> int:
    """The first position at or after ``position`` not holding one of ``characters``."""
    while position < len(text) and text[position] in characters:
        position += 1
    return position


def parse_params(text: str) -> dict[str, str] | None:
    """A comma-separated parameter list, strictly: ``None`` when malformed.

    Malformed: anything that is not a parameter where one must be, two
    parameters without a comma between them, or a name given twice (RFC 7235
    §2.1: each may occur only once). Empty list elements (``a=1,,b=2``, a
    trailing comma) are allowed, as RFC 7230 §7 asks of a recipient.
    """
    params: dict[str, str] = {}
    covered = 0
    # One findall, not a match per element: the server parses one such list per digest
    # request, and the calls per element were a fifth of parsing it
    # (docs/performance-notes.md). An unmatched group is "" here, as an empty value is.
    for element, name, quoted, bare in _ELEMENT.findall(text):
        covered += len(element)
        name = name.lower()
        if name in params:
            return None
        if "\\" in quoted:
            params[name] = _ESCAPE.sub(r"\1", quoted)
        else:
            params[name] = quoted or bare
    # A gap (something that is not a parameter, or two without a comma) leaves text uncovered.
    return params if covered == len(text) else None


def quote(text: str) -> str:
    """``text`` as a quoted-string (RFC 7230 §3.2.6, RFC 3261 §25.1): ``"`` and ``\\`` escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

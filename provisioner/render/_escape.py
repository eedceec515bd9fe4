"""Output escaping, chosen by the file's format.

Two rules, applied to every ``{{ ... }}`` a template prints (Jinja's
``finalize`` hook, so a template cannot forget them):

1. **Control characters become spaces, in every format.** C0/C1 controls,
   DEL, NEL and U+2028/U+2029 are replaced by a single space each. Stored
   values other than display names and labels cannot contain them (they are
   refused at write time); display names imported from elsewhere may, and a
   space is the least surprising thing to show on a phone. This is what makes
   ``key = value`` and ``key: value`` files safe: a value can never start a
   new line. XML 1.0 also forbids most of these characters outright.
2. **XML files are XML-escaped** (``& < > " '``) by Jinja's autoescape, after
   rule 1; the result is then parsed with lxml before use.

Printing ``None`` or a boolean is a template bug (a phone would read the
word ``None`` or ``True``), so it raises instead of rendering.
"""

from __future__ import annotations

from jinja2 import Undefined
from markupsafe import Markup

from provisioner.chars import CONTROL_CHARS, clean_text

__all__ = ["finalize"]


class PrintError(TypeError):
    """A template printed a value that has no textual form in a config file."""


def finalize(value: object) -> object:
    """Jinja ``finalize`` hook shared by every output format (runs for every ``{{ }}``)."""
    # Fast paths first: this runs about a hundred times per phone.
    if type(value) is str:
        # isprintable() is False for every character CONTROL_CHARS matches
        # (tests/test_render.py checks this for all of Unicode).
        return value if value.isprintable() else CONTROL_CHARS.sub(" ", value)
    if type(value) is int:
        return value
    if isinstance(value, Undefined):
        # StrictUndefined raises here, naming what the template asked for.
        return str(value)
    if value is None or isinstance(value, bool):
        raise PrintError(
            f"template printed {value!r}; use a filter such as onezero/yesno or a default"
        )
    if isinstance(value, Markup):
        # Already escaped (``|e``); cleaning cannot undo the escaping.
        return Markup(clean_text(value))
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int | float):
        return value
    # Dicts, lists and other objects would print Python syntax into the file.
    raise PrintError(f"template printed a {type(value).__name__}; print its fields instead")

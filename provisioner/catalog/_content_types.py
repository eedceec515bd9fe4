"""The one map from a file's format, or its name, to the Content-Type it is served with.

Rendered files are served with their format's type unless the family names
another (``content_type`` in a ``[[files]]`` table). Files the server did not
render — firmware set files, a phone's own uploads served back — have no
declared format: it is told from the name's suffix, the ones vendors use
for text files (Polycom ``sip.ver`` and ``.cfg``, Cisco ``OS79XX.TXT``,
every ``.xml``); anything else is an opaque image.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from provisioner.catalog._model import OutputFormat

__all__ = ["BINARY_CONTENT_TYPE", "FORMAT_CONTENT_TYPES", "content_type_of"]

FORMAT_CONTENT_TYPES: Mapping[OutputFormat, str] = MappingProxyType(
    {
        OutputFormat.XML: "text/xml; charset=utf-8",
        OutputFormat.KV: "text/plain; charset=utf-8",
    }
)
BINARY_CONTENT_TYPE = "application/octet-stream"
_SUFFIX_FORMATS = {
    ".xml": OutputFormat.XML,
    ".cfg": OutputFormat.KV,
    ".txt": OutputFormat.KV,
    ".ver": OutputFormat.KV,
}


def content_type_of(name: str, default: str = BINARY_CONTENT_TYPE) -> str:
    """The Content-Type of a file called ``name`` that has no declared format.

    The suffix is matched without regard to case; ``default`` is for names
    with none of the text suffixes.
    """
    dot = name.rfind(".")
    found = _SUFFIX_FORMATS.get(name[dot:].lower()) if dot >= 0 else None
    return FORMAT_CONTENT_TYPES[found] if found is not None else default

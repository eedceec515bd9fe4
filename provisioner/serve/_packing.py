"""Rendered files held deflated, against a preset dictionary per file pattern.

Why: the rendered bytes were most of what a large fleet costs the server
(about 3.5 KB of some 6.4 KB per phone at 100,000 phones; docs/scaling.md
"Memory of the cache"). The files of one template differ between phones
only in their values, so each is deflated with an earlier file of the same
pattern as zlib's preset dictionary (``zdict``): the fleet of
``bench/render.py`` shrinks 13.7× that way and only 3.1× without one.

The first file of a pattern becomes its dictionary and stays as it is (the
dictionary holds the same ``bytes`` object, so it costs nothing beside
it); later files are kept deflated when that is smaller. A file references
its dictionary, which lives as long as any file deflated against it.

Raw deflate (no zlib header or checksum, six bytes a file) is enough: the
bytes never leave the process deflated, and the ETag, computed from the
inflated bytes at install, is what tells a file's versions apart.
"""

from __future__ import annotations

import zlib

__all__ = ["Dictionary", "Packer"]

# Level 6 (zlib's default): on the benchmark fleet it deflates to 2.56 MB
# against 3.52 MB at level 1, for 30 % more CPU (0.26 s against 0.20 s for
# 16,800 files); level 9 gains 1 % more for the same time.
_LEVEL = 6
_WBITS = -15  # raw deflate, the largest window (32 KB)
_MEMLEVEL = 9


class Dictionary:
    """The preset dictionary of one file pattern: the bytes of a file of that pattern."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def deflate(self, data: bytes) -> bytes:
        """``data`` deflated against this dictionary."""
        packer = zlib.compressobj(
            _LEVEL, zlib.DEFLATED, _WBITS, _MEMLEVEL, zlib.Z_DEFAULT_STRATEGY, self.data
        )
        return packer.compress(data) + packer.flush()

    def inflate(self, packed: bytes) -> bytes:
        """The bytes :meth:`deflate` was given for ``packed``."""
        return zlib.decompressobj(_WBITS, self.data).decompress(packed)


class Packer:
    """Chooses how each rendered file is held; one per catalog, used by the render thread only.

    Dictionaries are kept by pattern for the catalog's lifetime, so a
    change that renders a few phones deflates them against the dictionary
    their neighbours use rather than making a new one. There are as many
    as the catalog has per-phone files per family (a phone's paths differ
    from another's only by the MAC, which the pattern leaves out). A new catalog (the
    templates changed) gets a new packer: the old dictionaries go when the
    last file using them is replaced.
    """

    __slots__ = ("_dictionaries",)

    def __init__(self) -> None:
        self._dictionaries: dict[str, Dictionary] = {}

    def pack(self, pattern: str, data: bytes) -> tuple[bytes, Dictionary | None]:
        """How to hold ``data``: deflated and the dictionary, or as it is and ``None``.

        ``pattern`` names the files alike (the same template's files for
        different phones have one pattern).
        """
        dictionary = self._dictionaries.get(pattern)
        if dictionary is None:
            self._dictionaries[pattern] = Dictionary(data)
            return data, None
        packed = dictionary.deflate(data)
        if len(packed) >= len(data):
            return data, None
        return packed, dictionary

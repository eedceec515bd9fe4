"""Request paths: normalisation and matching against the catalog's file patterns.

A request path is only ever *compared*: with the rendered files held in
memory, or with the catalog's patterns compiled to regular expressions. It is
never joined onto a filesystem path (security goal 11). Everything a phone
legitimately asks for is a plain relative name, so :func:`normalize` refuses
whatever is not: parent references, backslashes, control characters, percent
signs left after the one URL decoding the HTTP layer does (double encoding),
empty segments, and names over 255 characters. Refusals are indistinguishable
from "not found" to the client.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from provisioner.catalog import Catalog, Family, FileDef, FilePer, ModelDef, UploadDef, expand_path

__all__ = ["MAX_PATH", "PathIndex", "PathMatch", "normalize"]

MAX_PATH = 255
_ALLOWED = re.compile(r"[A-Za-z0-9._\-/(),+]+")
_TOKEN = re.compile(r"\{([A-Za-z_]+)\}")


def normalize(raw: str) -> str | None:
    """The canonical form of a requested path, or ``None`` to refuse it.

    Leading ``/`` and ``./`` are dropped (TFTP clients send ``/SEP…``; a
    7960 was seen asking for ``./SIP<MAC>.cnf``, docs/vendors/cisco-79xx.md).
    Phones ask for the same few paths again and again: short ones are
    remembered (a bounded cache; longer ones, which no phone sends, are not).
    """
    if len(raw) <= MAX_PATH + 1:
        return _normalize_cached(raw)
    return _normalize(raw)


def _normalize(raw: str) -> str | None:
    path = raw
    while path.startswith(("/", "./")):
        path = path[1:] if path.startswith("/") else path[2:]
    if not path or len(path) > MAX_PATH or _ALLOWED.fullmatch(path) is None:
        return None
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    return path


_normalize_cached = functools.lru_cache(maxsize=4096)(_normalize)


@dataclass(frozen=True, slots=True)
class PathMatch:
    """What a path is, according to one family's patterns."""

    family: Family
    file: FileDef | None  # a file the server renders
    upload: UploadDef | None  # or a file the phone uploads
    mac: str | None  # canonical MAC for per-phone paths
    models: tuple[ModelDef, ...]  # models a per-model path belongs to


def _regex(pattern: str, family: Family) -> re.Pattern[str]:
    parts: list[str] = []
    position = 0
    for token in _TOKEN.finditer(pattern):
        parts.append(re.escape(pattern[position : token.start()]))
        name = token.group(1)
        if name in ("mac", "MAC"):
            parts.append("(?P<mac>[0-9A-Fa-f]{12})")
        else:
            values = sorted({str(m.vars[name]) for m in family.models if name in m.vars}, key=len)
            parts.append("(?:" + "|".join(re.escape(v) for v in reversed(values)) + ")")
        position = token.end()
    parts.append(re.escape(pattern[position:]))
    # Phones and TFTP servers disagree on case; the MAC is accepted in either.
    return re.compile("".join(parts), re.IGNORECASE)


class PathIndex:
    """Every file and upload pattern of the catalog, compiled once."""

    def __init__(self, catalog: Catalog) -> None:
        self._entries: list[tuple[re.Pattern[str], Family, FileDef | None, UploadDef | None]] = []
        self._models: dict[tuple[str, str], tuple[ModelDef, ...]] = {}
        self._uploads: list[tuple[re.Pattern[str], Family, UploadDef]] = []
        for family in catalog.families.values():
            for file in family.files:
                self._entries.append((_regex(file.path, family), family, file, None))
                if file.per is FilePer.MODEL:
                    for model in family.models:
                        key = (family.key, expand_path(file.path, model).lower())
                        self._models[key] = (*self._models.get(key, ()), model)
            for upload in family.uploads:
                regex = _regex(upload.path, family)
                self._entries.append((regex, family, None, upload))
                self._uploads.append((regex, family, upload))
        self._optional = [
            (_regex(name, family), family.key)
            for family in catalog.families.values()
            for name in family.optional_files
        ]

    def optional(self, path: str) -> tuple[frozenset[str], str | None]:
        """The families for which ``path`` is one of their ``optional_files``, and its MAC."""
        families: set[str] = set()
        mac = None
        for regex, key in self._optional:
            hit = regex.fullmatch(path)
            if hit is not None:
                families.add(key)
                mac = hit.group("mac").lower()
        return frozenset(families), mac

    def uploads(self, path: str) -> list[tuple[Family, UploadDef, str]]:
        """The upload patterns ``path`` matches, each with the (lower-case) MAC it names.

        Only the upload patterns are tried (a handful in the catalog), so the
        serve cache finds a phone's upload from its path on demand instead of
        indexing every phone's upload names.
        """
        found = []
        for regex, family, upload in self._uploads:
            hit = regex.fullmatch(path)
            if hit is not None:
                found.append((family, upload, hit.group("mac").lower()))
        return found

    def match(self, path: str) -> list[PathMatch]:
        """Every family pattern ``path`` matches (per-phone names are shared by families)."""
        found = []
        for regex, family, file, upload in self._entries:
            hit = regex.fullmatch(path)
            if hit is None:
                continue
            mac = hit.groupdict().get("mac")
            models = self._models.get((family.key, path.lower()), ())
            found.append(PathMatch(family, file, upload, mac.lower() if mac else None, models))
        return found

"""Where firmware sets' files are kept: one interface, a local directory behind it.

A set's files live under a *storage key* chosen by the server (32 hex
digits, never a user's text), so nothing an uploader names reaches a
filesystem path except through :func:`provisioner.firmware.ingest`, which
validates every name. :class:`LocalStorage` keeps each set in
``<root>/<key>/``; :class:`~provisioner.firmware.ObjectStorage` keeps sets
in an S3-compatible bucket shared by several nodes, each with a local copy.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Protocol

from provisioner.firmware._ingest import Ingested, Limits, ingest

__all__ = ["FirmwareStorage", "LocalStorage", "is_key", "new_key", "valid_key"]

_KEY = re.compile(r"[0-9a-f]{32}")
_STAGING_PREFIX = ".ingest-"


def new_key() -> str:
    """A fresh storage key."""
    return uuid.uuid4().hex


def is_key(text: str) -> bool:
    """Whether ``text`` is a storage key (as :func:`new_key` makes them)."""
    return _KEY.fullmatch(text) is not None


def valid_key(key: str) -> str:
    """``key``, checked: a storage key never carries anything but 32 hex digits."""
    if not is_key(key):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class FirmwareStorage(Protocol):
    """What the firmware library and the gateway need from a storage backend."""

    def ingest(self, source: Path, name: str, key: str, limits: Limits) -> Ingested:
        """Check and store an upload as set ``key`` (whole or not at all)."""
        ...

    def local_path(self, key: str, path: str) -> Path | None:
        """This node's file holding ``path`` of set ``key``, or ``None`` if it has none (yet)."""
        ...

    def read(self, key: str, path: str, limit: int) -> bytes:
        """The first ``limit`` bytes of a small file of a set (version files)."""
        ...

    def remove(self, key: str) -> None:
        """Delete a set's files (no error when they are already gone)."""
        ...

    def sweep(self, keep: set[str], older_than: float) -> list[str]:
        """Delete leftovers older than ``older_than`` seconds; what was deleted."""
        ...


class LocalStorage:
    """Sets as directories under ``root`` (by default ``<data dir>/firmware``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, key: str) -> Path:
        return self.root / valid_key(key)

    def ingest(self, source: Path, name: str, key: str, limits: Limits) -> Ingested:
        """Check and store an upload (see :func:`provisioner.firmware.ingest`)."""
        self.root.mkdir(mode=0o750, parents=True, exist_ok=True)
        return ingest(source, name, self._dir(key), limits)

    def target(self, key: str, path: str) -> Path:
        """Where the file of a set is (or goes); ``path`` is a recorded, validated name."""
        return self._dir(key) / path

    def local_path(self, key: str, path: str) -> Path | None:
        """The file of a set, or ``None`` if it is missing (deleted by hand, not mirrored yet)."""
        target = self.target(key, path)
        return target if target.is_file() else None

    def read(self, key: str, path: str, limit: int) -> bytes:
        """The first ``limit`` bytes of one file of a set."""
        with open(self.target(key, path), "rb") as handle:
            return handle.read(limit)

    def remove(self, key: str) -> None:
        """Delete a set's directory."""
        shutil.rmtree(self._dir(key), ignore_errors=True)

    def sweep(self, keep: set[str], older_than: float) -> list[str]:
        """Delete staging directories and unrecorded sets left by a crash.

        Only entries older than ``older_than`` seconds go: a set whose upload
        is still being recorded by another process is young.
        """
        if not self.root.is_dir():
            return []
        removed = []
        cutoff = time.time() - older_than
        for entry in self.root.iterdir():
            leftover = entry.name.startswith(_STAGING_PREFIX) or (
                is_key(entry.name) and entry.name not in keep
            )
            if leftover and entry.is_dir() and entry.lstat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
        return sorted(removed)

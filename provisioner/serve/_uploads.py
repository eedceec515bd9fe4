"""Files phones upload, stored per phone outside the template tree.

Layout: ``<data dir>/uploads/<mac>/<name>``. ``name`` is never taken from
the request: it is the catalog's upload pattern expanded with the phone's
MAC (the request path only selects which pattern). Writes are atomic
(temporary file, fsync, rename); a failed or oversized upload leaves
nothing behind. Uploads are owner-only (files 0600, directories 0700): a
phone's ``-phone.cfg`` holds what its user changed, passwords included.
"""

from __future__ import annotations

import os
from pathlib import Path

from provisioner.mac import is_mac
from provisioner.private import private_dir, write_atomic

__all__ = ["UploadStore"]


class UploadStore:
    """Per-phone upload directories under one root."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, mac: str, name: str) -> Path:
        if not is_mac(mac) or not name or "/" in name or name.startswith("."):
            raise ValueError(f"refusing upload name {name!r} for {mac!r}")
        return self.root / mac / name

    def write(self, mac: str, name: str, data: bytes) -> None:
        """Store an upload owner-only, replacing the previous one atomically."""
        target = self._path(mac, name)
        private_dir(self.root)  # also tightens directories from before uploads were private
        private_dir(target.parent)
        write_atomic(target, data)

    def read(self, mac: str, name: str) -> tuple[bytes, int] | None:
        """An upload's bytes and modification time (Unix seconds), from one open file;
        ``None`` when the phone never uploaded it."""
        try:
            with self._path(mac, name).open("rb") as handle:
                return handle.read(), int(os.fstat(handle.fileno()).st_mtime)
        except FileNotFoundError:
            return None

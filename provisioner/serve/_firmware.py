"""Where each file of the active firmware sets is served from, by request path."""

from __future__ import annotations

import mmap
from collections.abc import Iterable
from pathlib import Path

from provisioner.catalog import content_type_of
from provisioner.domain import FirmwareSet
from provisioner.firmware import FirmwareStorage, served_path
from provisioner.serve._model import DiskFile

__all__ = ["firmware_index", "map_file"]


def firmware_index(
    sets: Iterable[FirmwareSet], storage: FirmwareStorage, root_vendors: set[str]
) -> dict[str, DiskFile]:
    """Lower-cased request path → file, for every file of ``sets`` (the active ones)
    that this node has (blocking: it checks the disk).

    Every file is at ``fw/<vendor>/<label>/<path>``. Firmware files of
    vendors whose phones fetch images from the root (Cisco 79xx/79x1 loads)
    are also at ``<path>``; activation keeps two sets from putting different
    files there, and the first set (by label) wins a tie of equal files.
    """
    index: dict[str, DiskFile] = {}
    for found in sorted(sets, key=lambda s: (s.vendor, s.label)):
        for f in found.files:
            local = storage.local_path(found.storage_key, f.path)
            if local is None:
                continue  # not on this node (yet): served once mirrored, never in part
            disk = DiskFile(local, f.size, f.sha256, content_type_of(f.path))
            index[served_path(found.vendor, found.label, f.path).lower()] = disk
            if found.kind == "firmware" and found.vendor in root_vendors:
                index.setdefault(f.path.lower(), disk)
    return index


def map_file(path: Path) -> mmap.mmap | bytes:
    """A read-only memory map of a file, for TFTP (blocking: call it in a thread).

    The pages are shared by every transfer of the file and read as sent.
    An empty file cannot be mapped and is returned as ``b""``.
    """
    with open(path, "rb") as handle:
        if handle.seek(0, 2) == 0:
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)

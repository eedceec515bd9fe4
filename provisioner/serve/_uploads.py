"""Uploads kept on disk by earlier versions, moved into the database once.

Earlier versions stored phone uploads as ``<data dir>/uploads/<mac>/<name>``
on the node that took them. They now live in the database (``phone_uploads``,
:class:`provisioner.store.UploadRepository`) so every node serves them. At
start-up, files still in that directory are imported (one the database
already holds for the same phone and name is newer there and is kept) and
the directory is renamed ``uploads.imported``, so it is read only once and
nothing is deleted.
"""

from __future__ import annotations

import logging
from pathlib import Path

from provisioner.mac import is_mac
from provisioner.private import PRIVATE_DIR, tighten
from provisioner.store import UploadRepository

__all__ = ["import_disk_uploads"]

log = logging.getLogger("provisioner.serve")


def import_disk_uploads(root: Path, uploads: UploadRepository) -> int:
    """Import ``root/<mac>/<name>`` files not yet in the database; returns how many."""
    if not root.is_dir():
        return 0
    imported = 0
    for phone in sorted(root.iterdir()):
        if not phone.is_dir() or not is_mac(phone.name):
            continue
        for file in sorted(phone.iterdir()):
            if not file.is_file() or file.name.startswith("."):
                continue  # a temporary file of an interrupted write
            if uploads.read(phone.name, file.name) is None:
                uploads.write(phone.name, file.name, file.read_bytes(), file.stat().st_mtime)
                imported += 1
    kept = root.with_name(root.name + ".imported")
    root.rename(kept)
    # What phones uploaded may hold their passwords (a -phone.cfg): the kept copy
    # stays owner-only even if an older version left it open.
    tighten(kept, PRIVATE_DIR)
    log.info("event=uploads_imported files=%d from=%s", imported, root)
    return imported

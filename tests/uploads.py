"""What phones uploaded, read from the database (``phone_uploads``) as every node reads it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from provisioner.store import UploadRepository, connect, default_url
from provisioner.store import _tables as t


def stored_upload(data_dir: Path, mac: str, name: str, url: str | None = None) -> bytes | None:
    """The bytes of an upload, or ``None``; from ``url`` or the data directory's SQLite file."""
    engine = connect(url or default_url(data_dir))
    try:
        found = UploadRepository(engine).read(mac, name)
    finally:
        engine.dispose()
    return None if found is None else found[0]


def uploaded_names(data_dir: Path, mac: str, url: str | None = None) -> list[str]:
    """Names of the uploads stored for ``mac``, sorted."""
    engine = connect(url or default_url(data_dir))
    try:
        with engine.connect() as conn:
            query = select(t.phone_uploads.c.name).where(t.phone_uploads.c.mac == mac)
            return sorted(conn.execute(query).scalars())
    finally:
        engine.dispose()

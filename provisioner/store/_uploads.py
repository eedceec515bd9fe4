"""Files phones upload, in the database: one repository for ``phone_uploads``.

A phone reads back what it uploaded (its ``-phone.cfg`` at boot) from
whichever node the load balancer picks, so uploads live where every node
reads them. They are small (the catalog's limits, at most a few MiB), so
the database holds them; the size limit is enforced before a row is written.
``name`` is never taken from a request: it is the catalog's upload pattern
expanded with the phone's MAC. Uploads hold what a phone's user changed,
passwords included: the database is as private as the SQLite file (0600)
or the PostgreSQL role's grants make it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine

from provisioner.mac import is_mac
from provisioner.store import _tables as t
from provisioner.store._dialect import upsert_insert

__all__ = ["UploadRepository"]


class UploadRepository:
    """Per-phone uploads by (MAC, name); each call is one statement."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _check(mac: str, name: str) -> None:
        if not is_mac(mac) or not name or "/" in name or name.startswith(".") or len(name) > 255:
            raise ValueError(f"refusing upload name {name!r} for {mac!r}")

    def write(self, mac: str, name: str, data: bytes, now: float) -> None:
        """Store an upload, replacing the previous one (one statement: atomic)."""
        self._check(mac, name)
        statement = upsert_insert(self.engine, t.phone_uploads).values(
            mac=mac, name=name, data=data, updated_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=["mac", "name"],
            set_={"data": statement.excluded.data, "updated_at": statement.excluded.updated_at},
        )
        with self.engine.begin() as conn:
            conn.execute(statement)

    def read(self, mac: str, name: str) -> tuple[bytes, int] | None:
        """An upload's bytes and when it was stored (Unix seconds); ``None`` when never uploaded."""
        self._check(mac, name)
        uploads = t.phone_uploads.c
        query = select(uploads.data, uploads.updated_at).where(
            uploads.mac == mac, uploads.name == name
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (bytes(row.data), int(row.updated_at))

"""API keys in the database: rows with a keyed digest, never the key itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, insert, select, update
from sqlalchemy.engine import Engine

from provisioner.audit import AuditEntry
from provisioner.errors import NotFoundError
from provisioner.store import _tables as t
from provisioner.store._audit import record_audit

__all__ = ["ApiKeyRecord", "ApiKeyRepository"]


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """One key as stored (``digest`` is the keyed hash the key is checked against)."""

    id: int
    lookup: str
    digest: str
    name: str
    role: str
    tenant: str | None
    created_at: float
    created_by: str
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None


def _select() -> Select[Any]:
    k = t.api_keys
    return select(k, t.tenants.c.name.label("tenant_name")).outerjoin(
        t.tenants, t.tenants.c.id == k.c.tenant_id
    )


def _record(row: object) -> ApiKeyRecord:
    r = row._mapping  # type: ignore[attr-defined]
    return ApiKeyRecord(
        id=r["id"],
        lookup=r["lookup"],
        digest=r["digest"],
        name=r["name"],
        role=r["role"],
        tenant=r["tenant_name"],
        created_at=r["created_at"],
        created_by=r["created_by"],
        expires_at=r["expires_at"],
        revoked_at=r["revoked_at"],
        last_used_at=r["last_used_at"],
    )


class ApiKeyRepository:
    """Reads and writes ``api_keys``; audit entries go in the same transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self,
        *,
        lookup: str,
        digest: str,
        name: str,
        role: str,
        tenant: str | None,
        created_at: float,
        created_by: str,
        expires_at: float | None,
        audit: Sequence[AuditEntry] = (),
    ) -> int:
        """Store a new key; its id.

        :raises NotFoundError: ``tenant`` does not exist.
        """
        with self.engine.begin() as conn:
            tenant_id = None
            if tenant is not None:
                tenant_id = conn.execute(
                    select(t.tenants.c.id).where(t.tenants.c.name == tenant)
                ).scalar()
                if tenant_id is None:
                    raise NotFoundError(f"no tenant named {tenant!r}")
            key = conn.execute(
                insert(t.api_keys).values(
                    lookup=lookup,
                    digest=digest,
                    name=name,
                    role=role,
                    tenant_id=tenant_id,
                    created_at=created_at,
                    created_by=created_by,
                    expires_at=expires_at,
                )
            ).inserted_primary_key
            assert key is not None
            record_audit(conn, audit)
            return int(key[0])

    def by_lookup(self, lookup: str) -> ApiKeyRecord | None:
        """The key whose lookup part is ``lookup``."""
        with self.engine.connect() as conn:
            row = conn.execute(_select().where(t.api_keys.c.lookup == lookup)).first()
        return None if row is None else _record(row)

    def get(self, key_id: int) -> ApiKeyRecord:
        """One key by id."""
        with self.engine.connect() as conn:
            row = conn.execute(_select().where(t.api_keys.c.id == key_id)).first()
        if row is None:
            raise NotFoundError(f"no API key {key_id}")
        return _record(row)

    def all(self) -> list[ApiKeyRecord]:
        """Every key, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(_select().order_by(t.api_keys.c.id)).all()
        return [_record(row) for row in rows]

    def revoke(self, key_id: int, now: float, audit: Sequence[AuditEntry] = ()) -> bool:
        """Revoke a key; False when it was revoked already.

        :raises NotFoundError: no such key.
        """
        with self.engine.begin() as conn:
            revoked = conn.execute(
                select(t.api_keys.c.revoked_at).where(t.api_keys.c.id == key_id)
            ).first()
            if revoked is None:
                raise NotFoundError(f"no API key {key_id}")
            if revoked[0] is not None:
                return False
            conn.execute(update(t.api_keys).where(t.api_keys.c.id == key_id).values(revoked_at=now))
            record_audit(conn, audit)
            return True

    def used(self, key_id: int, now: float) -> None:
        """Note when a key was last used."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.api_keys).where(t.api_keys.c.id == key_id).values(last_used_at=now)
            )

"""Seen records and pending (quarantined) devices.

Their text comes from requests (the User-Agent above all), which may carry
bytes that are not UTF-8 or a NUL; :func:`provisioner.chars.storable` makes it
something every database holds, so one odd request cannot fail a whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from provisioner.chars import storable
from provisioner.store import _tables as t
from provisioner.store._dialect import upsert_insert

__all__ = [
    "PendingDevice",
    "SeenRow",
    "list_pending",
    "list_seen",
    "prune_seen",
    "upsert_pending",
    "upsert_seen",
]


@dataclass(frozen=True, slots=True)
class SeenRow:
    """The latest request of one client for one path over one protocol."""

    client_key: str
    mac: str | None
    address: str
    protocol: str
    path: str
    user_agent: str
    vendor: str
    model: str
    firmware: str
    status: str
    known: bool
    count: int
    first_seen: int
    last_seen: int


@dataclass(frozen=True, slots=True)
class PendingDevice:
    """An unknown phone held under a tenant's quarantine policy."""

    mac: str
    tenant: str
    vendor: str
    model: str
    firmware: str
    address: str
    user_agent: str
    first_seen: int
    last_seen: int


def _values(record: SeenRow | PendingDevice, names: Sequence[str]) -> dict[str, Any]:
    """The record's columns, text made storable."""
    values = {name: getattr(record, name) for name in names}
    return {k: storable(v) if isinstance(v, str) else v for k, v in values.items()}


def upsert_seen(conn: Connection, rows: Sequence[SeenRow]) -> None:
    """Insert or update seen rows (one per client, protocol and path), in one statement."""
    if not rows:
        return
    statement = upsert_insert(conn, t.seen)
    excluded = statement.excluded
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["client_key", "protocol", "path"],
            set_={
                "mac": excluded.mac,
                "address": excluded.address,
                "user_agent": excluded.user_agent,
                "vendor": excluded.vendor,
                "model": excluded.model,
                "firmware": excluded.firmware,
                "status": excluded.status,
                "known": excluded.known,
                "count": t.seen.c.count + excluded.count,
                "last_seen": excluded.last_seen,
            },
        ),
        [_values(row, SeenRow.__slots__) for row in rows],
    )


def prune_seen(conn: Connection, max_rows: int) -> int:
    """Keep the newest ``max_rows`` seen rows; returns how many were deleted."""
    total = conn.execute(select(func.count()).select_from(t.seen)).scalar_one()
    if total <= max_rows:
        return 0
    cutoff = conn.execute(
        select(t.seen.c.last_seen).order_by(t.seen.c.last_seen.desc()).offset(max_rows).limit(1)
    ).scalar_one()
    result = conn.execute(delete(t.seen).where(t.seen.c.last_seen <= cutoff))
    return int(result.rowcount or 0)


def list_seen(conn: Connection, *, unknown: bool, limit: int) -> list[SeenRow]:
    """Newest first; with ``unknown`` only requests from devices we do not manage."""
    query = select(t.seen).order_by(t.seen.c.last_seen.desc(), t.seen.c.id.desc()).limit(limit)
    if unknown:
        query = query.where(t.seen.c.known.is_(False))
    return [
        SeenRow(**{k: getattr(row, k) for k in SeenRow.__slots__}) for row in conn.execute(query)
    ]


def upsert_pending(conn: Connection, device: PendingDevice, tenant_id: int) -> None:
    """Record (or refresh) a quarantined device."""
    values = _values(device, [k for k in PendingDevice.__slots__ if k != "tenant"])
    statement = upsert_insert(conn, t.pending).values(tenant_id=tenant_id, **values)
    excluded = statement.excluded
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["mac"],
            set_={
                "tenant_id": excluded.tenant_id,
                "vendor": excluded.vendor,
                "model": excluded.model,
                "firmware": excluded.firmware,
                "address": excluded.address,
                "user_agent": excluded.user_agent,
                "last_seen": excluded.last_seen,
            },
        )
    )


def list_pending(conn: Connection) -> list[PendingDevice]:
    """Every quarantined device, newest first."""
    query = (
        select(t.pending, t.tenants.c.name.label("tenant"))
        .join(t.tenants, t.tenants.c.id == t.pending.c.tenant_id)
        .order_by(t.pending.c.last_seen.desc())
    )
    return [
        PendingDevice(**{k: getattr(row, k) for k in PendingDevice.__slots__})
        for row in conn.execute(query)
    ]

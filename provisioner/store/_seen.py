"""Seen records and pending (quarantined) devices.

Their text comes from requests (the User-Agent above all), which may carry
bytes that are not UTF-8 or a NUL; :func:`provisioner.chars.storable` makes it
something every database holds, so one odd request cannot fail a whole batch.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, delete, func, select
from sqlalchemy.engine import Connection, Engine

from provisioner.audit import AuditEntry
from provisioner.chars import storable
from provisioner.errors import NotFoundError
from provisioner.store import _tables as t
from provisioner.store._audit import record_audit
from provisioner.store._dialect import upsert_insert

__all__ = ["PendingDevice", "SeenRepository", "SeenRow", "latest_seen", "seen_since"]


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
    etag: str = ""  # of the rendered file served (status ok), else ""


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
    rejected_at: int | None = None  # when an admin rejected it (None: it waits for a decision)
    rejected_by: str = ""  # who rejected it, as the audit log names the actor

    @property
    def state(self) -> str:
        """``pending`` (waiting to be claimed or rejected) or ``rejected``."""
        return "pending" if self.rejected_at is None else "rejected"


def _values(record: SeenRow | PendingDevice, names: Sequence[str]) -> dict[str, Any]:
    """The record's columns, text made storable."""
    values = {name: getattr(record, name) for name in names}
    return {k: storable(v) if isinstance(v, str) else v for k, v in values.items()}


def _upsert_seen(conn: Connection, rows: Sequence[SeenRow]) -> None:
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
                "etag": excluded.etag,
            },
        ),
        [_values(row, SeenRow.__slots__) for row in rows],
    )


def _prune_seen(conn: Connection, max_rows: int) -> int:
    """Keep the newest ``max_rows`` seen rows; returns how many were deleted."""
    total = conn.execute(select(func.count()).select_from(t.seen)).scalar_one()
    if total <= max_rows:
        return 0
    cutoff = conn.execute(
        select(t.seen.c.last_seen).order_by(t.seen.c.last_seen.desc()).offset(max_rows).limit(1)
    ).scalar_one()
    result = conn.execute(delete(t.seen).where(t.seen.c.last_seen <= cutoff))
    return int(result.rowcount or 0)


def _list_seen(conn: Connection, *, unknown: bool, limit: int) -> list[SeenRow]:
    """Newest first; with ``unknown`` only requests from devices we do not manage."""
    query = select(t.seen).order_by(t.seen.c.last_seen.desc(), t.seen.c.id.desc()).limit(limit)
    if unknown:
        query = query.where(t.seen.c.known.is_(False))
    return [
        SeenRow(**{k: getattr(row, k) for k in SeenRow.__slots__}) for row in conn.execute(query)
    ]


def latest_seen() -> Subquery:
    """Each device's newest seen record, one row per MAC (``mac``, ``last_seen``,
    ``address``, ``vendor``, ``model``, ``firmware``): what it last reported.

    Records of one second are told apart by their row id, newest last, so a
    phone is never counted twice (a window function: SQLite 3.25+, PostgreSQL).
    """
    s = t.seen
    newest_first = (s.c.last_seen.desc(), s.c.id.desc())
    ranked = (
        select(
            s.c.mac,
            s.c.last_seen,
            s.c.address,
            s.c.vendor,
            s.c.model,
            s.c.firmware,
            func.row_number().over(partition_by=s.c.mac, order_by=newest_first).label("rank"),
        )
        .where(s.c.mac.is_not(None))
        .subquery("ranked")
    )
    columns = [c for c in ranked.c if c.name != "rank"]
    return select(*columns).where(ranked.c.rank == 1).subquery("latest")


def seen_since(moment: float) -> Select[tuple[str | None]]:
    """The MACs of the devices that asked for anything at ``moment`` or later (none NULL,
    so the set can be used with NOT IN)."""
    s = t.seen
    return select(s.c.mac).where(s.c.mac.is_not(None), s.c.last_seen >= moment)


def _upsert_pending(conn: Connection, device: PendingDevice, tenant_id: int) -> None:
    """Record (or refresh) a quarantined device; a rejection, if any, stays as it was."""
    names = [
        k for k in PendingDevice.__slots__ if k not in ("tenant", "rejected_at", "rejected_by")
    ]
    values = _values(device, names)
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


def _list_pending(conn: Connection) -> list[PendingDevice]:
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


class SeenRepository:
    """What devices asked for (seen records) and the unknown ones held back (pending)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, rows: Sequence[SeenRow], max_rows: int) -> None:
        """Upsert seen rows and keep the table bounded."""
        with self.engine.begin() as conn:
            _upsert_seen(conn, rows)
            _prune_seen(conn, max_rows)

    def latest(self, *, unknown: bool = False, limit: int = 1000) -> list[SeenRow]:
        """Seen records, newest first."""
        with self.engine.connect() as conn:
            return _list_seen(conn, unknown=unknown, limit=limit)

    def fetched(self, macs: Collection[str]) -> list[SeenRow]:
        """The latest successful fetches of these phones' files (every protocol)."""
        wanted = sorted(macs)
        rows: list[SeenRow] = []
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):  # SQLite caps bound parameters
                query = (
                    select(t.seen)
                    .where(t.seen.c.mac.in_(wanted[start : start + 500]))
                    .where(t.seen.c.status == "ok")
                    .order_by(t.seen.c.last_seen, t.seen.c.id)
                )
                rows += [
                    SeenRow(**{k: getattr(row, k) for k in SeenRow.__slots__})
                    for row in conn.execute(query)
                ]
        return rows

    def quarantine(self, device: PendingDevice) -> bool:
        """Hold an unknown device as pending in its tenant (``device.tenant``).

        A device rejected before keeps its record refreshed (when it last
        asked) but stays rejected; False says so.
        """
        with self.engine.begin() as conn:
            tenant_id = conn.execute(
                select(t.tenants.c.id).where(t.tenants.c.name == device.tenant)
            ).scalar()
            if tenant_id is None:
                raise NotFoundError(f"no tenant named {device.tenant!r}")
            _upsert_pending(conn, device, tenant_id)
            return not self._rejected(conn, device.mac)

    def rejected(self, mac: str) -> bool:
        """Whether ``mac`` was rejected (it is then neither held nor auto-registered)."""
        with self.engine.connect() as conn:
            return self._rejected(conn, mac)

    @staticmethod
    def _rejected(conn: Connection, mac: str) -> bool:
        query = select(t.pending.c.rejected_at).where(t.pending.c.mac == mac)
        return conn.execute(query).scalar() is not None

    def reject(self, mac: str, by: str, at: int, audit: Sequence[AuditEntry] = ()) -> bool:
        """Mark a pending device rejected by ``by`` at ``at``; False if it was not pending.

        A device already rejected is not pending: the first decision stands.
        """
        with self.engine.begin() as conn:
            done = conn.execute(
                t.pending.update()
                .where(t.pending.c.mac == mac, t.pending.c.rejected_at.is_(None))
                .values(rejected_at=at, rejected_by=storable(by)[:128])
            ).rowcount
            if done:
                record_audit(conn, audit)
            return bool(done)

    def page(
        self,
        *,
        unknown: bool = False,
        tenant: str | None = None,
        mac: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[SeenRow], int]:
        """One page of seen records, newest first, and how many match in all.

        ``tenant`` keeps the records of that tenant's phones (a device it
        does not manage belongs to no tenant); ``mac`` one device's.
        """
        where: list[ColumnElement[bool]] = []
        if unknown:
            where.append(t.seen.c.known.is_(False))
        if mac is not None:
            where.append(t.seen.c.mac == mac)
        if tenant is not None:
            where.append(
                t.seen.c.mac.in_(
                    select(t.phones.c.mac)
                    .join(t.tenants, t.tenants.c.id == t.phones.c.tenant_id)
                    .where(t.tenants.c.name == tenant)
                )
            )
        query = (
            select(t.seen)
            .where(*where)
            .order_by(t.seen.c.last_seen.desc(), t.seen.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.seen).where(*where))
            rows = [
                SeenRow(**{k: getattr(row, k) for k in SeenRow.__slots__})
                for row in conn.execute(query)
            ]
            return rows, int(total.scalar_one())

    def pending(self) -> list[PendingDevice]:
        """Quarantined devices, the rejected ones included, newest first."""
        with self.engine.connect() as conn:
            return _list_pending(conn)

    def forget_pending(self, mac: str, audit: Sequence[AuditEntry] = ()) -> bool:
        """Drop a device's record, pending or rejected; False if there was none.

        If the device asks again, its tenant's unknown-device policy applies anew.
        """
        with self.engine.begin() as conn:
            gone = conn.execute(t.pending.delete().where(t.pending.c.mac == mac)).rowcount
            if gone:
                record_audit(conn, audit)
            return bool(gone)

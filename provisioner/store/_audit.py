"""The audit log table: entries written inside the write they describe, and queries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Engine

from provisioner.actor import ActorKind
from provisioner.audit import AuditEntry
from provisioner.store import _tables as t

__all__ = ["AuditLog", "AuditQuery", "record_audit"]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of :meth:`AuditLog.query`; ``None`` matches anything."""

    since: float | None = None
    until: float | None = None
    tenant: str | None = None
    mac: str | None = None
    actor: str | None = None
    action: str | None = None
    request_id: str | None = None
    limit: int = 100
    offset: int = 0
    newest_first: bool = True


def record_audit(conn: Connection, entries: Sequence[AuditEntry]) -> None:
    """Insert ``entries`` on ``conn``, in the caller's transaction."""
    if not entries:
        return
    conn.execute(
        insert(t.audit_log),
        [
            {
                "at": e.at,
                "actor_kind": e.actor_kind.value,
                "actor": e.actor[:128],
                "key_id": e.key_id,
                "request_id": e.request_id[:64],
                "action": e.action[:32],
                "scope": e.scope[:255],
                "entity": e.entity[:255],
                "tenant": e.tenant[:64] if e.tenant else None,
                "mac": e.mac,
                "dry_run": e.dry_run,
                "before": json.dumps(e.before, ensure_ascii=False, sort_keys=True),
                "after": json.dumps(e.after, ensure_ascii=False, sort_keys=True),
            }
            for e in entries
        ],
    )


class AuditLog:
    """Reads (and, outside another write, writes) the audit log."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, entries: Sequence[AuditEntry]) -> None:
        """Insert ``entries`` in a transaction of their own (a dry run's record)."""
        with self.engine.begin() as conn:
            record_audit(conn, entries)

    def query(self, q: AuditQuery) -> tuple[list[AuditEntry], int]:
        """The entries ``q`` selects (one page) and how many it selects in all."""
        a = t.audit_log
        where = []
        if q.since is not None:
            where.append(a.c.at >= q.since)
        if q.until is not None:
            where.append(a.c.at < q.until)
        for column, value in (
            (a.c.tenant, q.tenant),
            (a.c.mac, q.mac),
            (a.c.actor, q.actor),
            (a.c.action, q.action),
            (a.c.request_id, q.request_id),
        ):
            if value is not None:
                where.append(column == value)
        order = (a.c.at.desc(), a.c.id.desc()) if q.newest_first else (a.c.at, a.c.id)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(a).where(*where)).scalar_one()
            rows = conn.execute(
                select(a).where(*where).order_by(*order).limit(q.limit).offset(q.offset)
            ).all()
        return [_entry(row) for row in rows], int(total)


def _entry(row: object) -> AuditEntry:
    r = row._mapping  # type: ignore[attr-defined]
    return AuditEntry(
        actor_kind=ActorKind(r["actor_kind"]),
        actor=r["actor"],
        key_id=r["key_id"],
        request_id=r["request_id"],
        action=r["action"],
        scope=r["scope"],
        entity=r["entity"],
        tenant=r["tenant"],
        mac=r["mac"],
        dry_run=bool(r["dry_run"]),
        before=json.loads(r["before"]),
        after=json.loads(r["after"]),
        at=r["at"],
        id=r["id"],
    )

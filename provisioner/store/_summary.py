"""The fleet at a glance, counted by the database (GROUP BY), never by reading every row out.

What the web UI's dashboard and ``GET /api/v1/summary`` show: phones by tenant
and model; by vendor, model and firmware as each phone last reported them
(:func:`~provisioner.store._seen.latest_seen`); the phones not seen since a
time (never seen ones included); failed fetches since a time; unknown devices
waiting. Every count can be limited to one tenant: its phones, the seen
records of its phones (an unknown device belongs to no tenant) and the
devices its policy holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.engine import Engine

from provisioner.store import _tables as t
from provisioner.store._seen import SeenRow, latest_seen

__all__ = ["FleetSummary", "StalePhone", "SummaryRepository"]


@dataclass(frozen=True, slots=True)
class StalePhone:
    """A phone not seen since the time asked about."""

    mac: str
    tenant: str
    model: str
    description: str
    last_seen: int | None  # None: it never asked for anything


@dataclass(frozen=True, slots=True)
class FleetSummary:
    """Counts of the fleet, and the first few phones or records behind two of them."""

    by_model: list[tuple[str, str, int]]  # (tenant, model, phones), most phones first
    reported: list[tuple[str, str, str, int]]  # (vendor, model, firmware, phones)
    stale_total: int
    stale: list[StalePhone]  # most recently seen first, never seen ones last
    failed_total: int
    failed: list[SeenRow]  # newest first
    pending: int

    @property
    def phones(self) -> int:
        """How many phones in all."""
        return sum(count for _, _, count in self.by_model)


def _of_tenant(tenant: str | None) -> list[ColumnElement[bool]]:
    """The phones of ``tenant`` (no condition: every phone)."""
    if tenant is None:
        return []
    named = select(t.tenants.c.id).where(t.tenants.c.name == tenant).scalar_subquery()
    return [t.phones.c.tenant_id == named]


class SummaryRepository:
    """Reads the counts of :class:`FleetSummary`; writes nothing."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def fleet(
        self, *, tenant: str | None, stale_before: float, failed_since: float, first: int
    ) -> FleetSummary:
        """The summary of ``tenant``'s phones (``None``: all), with the first ``first``
        phones not seen since ``stale_before`` and failed fetches since ``failed_since``."""
        p, tn, s = t.phones, t.tenants, t.seen
        mine = _of_tenant(tenant)
        count = func.count(p.c.id)
        by_model = (
            select(tn.c.name, p.c.model, count)
            .join(tn, tn.c.id == p.c.tenant_id)
            .where(*mine)
            .group_by(tn.c.name, p.c.model)
            .order_by(count.desc(), tn.c.name, p.c.model)
        )
        latest = latest_seen()
        reported = (
            select(latest.c.vendor, latest.c.model, latest.c.firmware, count)
            .select_from(latest.join(p, p.c.mac == latest.c.mac))
            .where(*mine)
            .group_by(latest.c.vendor, latest.c.model, latest.c.firmware)
            .order_by(count.desc(), latest.c.vendor, latest.c.model, latest.c.firmware)
        )
        last = (
            select(s.c.mac, func.max(s.c.last_seen).label("last_seen"))
            .where(s.c.mac.is_not(None))
            .group_by(s.c.mac)
            .subquery("last")
        )
        stale_where = [
            *mine,
            or_(last.c.last_seen.is_(None), last.c.last_seen < stale_before),
        ]
        stale_from = p.join(tn, tn.c.id == p.c.tenant_id).outerjoin(last, last.c.mac == p.c.mac)
        stale_rows = (
            select(p.c.mac, tn.c.name, p.c.model, p.c.description, last.c.last_seen)
            .select_from(stale_from)
            .where(*stale_where)
            # Never seen last, without NULLS LAST (SQLite 3.30+): false sorts first.
            .order_by(last.c.last_seen.is_(None), last.c.last_seen.desc(), p.c.mac)
            .limit(first)
        )
        stale_count = select(func.count()).select_from(stale_from).where(*stale_where)
        failed_where: list[ColumnElement[bool]] = [
            s.c.status != "ok",
            s.c.last_seen >= failed_since,
        ]
        if tenant is not None:
            failed_where.append(s.c.mac.in_(select(p.c.mac).where(*mine)))
        failed_rows = (
            select(s)
            .where(*failed_where)
            .order_by(s.c.last_seen.desc(), s.c.id.desc())
            .limit(first)
        )
        failed_count = select(func.count()).select_from(s).where(*failed_where)
        waiting: list[ColumnElement[bool]] = [t.pending.c.rejected_at.is_(None)]
        if tenant is not None:
            waiting.append(
                t.pending.c.tenant_id
                == select(tn.c.id).where(tn.c.name == tenant).scalar_subquery()
            )
        pending = select(func.count()).select_from(t.pending).where(and_(*waiting))
        with self.engine.connect() as conn:
            return FleetSummary(
                by_model=[(r[0], r[1], int(r[2])) for r in conn.execute(by_model)],
                reported=[(r[0], r[1], r[2], int(r[3])) for r in conn.execute(reported)],
                stale_total=int(conn.execute(stale_count).scalar_one()),
                stale=[
                    StalePhone(r[0], r[1], r[2], r[3], None if r[4] is None else int(r[4]))
                    for r in conn.execute(stale_rows)
                ],
                failed_total=int(conn.execute(failed_count).scalar_one()),
                failed=[
                    SeenRow(**{k: getattr(row, k) for k in SeenRow.__slots__})
                    for row in conn.execute(failed_rows)
                ],
                pending=int(conn.execute(pending).scalar_one()),
            )

"""Bans in the database: one repository for the ``bans`` table.

Each ``serve`` node counts failures in memory (a write per failed request
would hand an attacker a database write per packet) and writes only the bans
that result. Every node reads the active bans back on its poll interval, so a
ban made on one node holds on all of them and survives a restart. On
PostgreSQL a write also sends ``NOTIFY`` on :data:`BANS_CHANNEL` in the same
transaction, so listening nodes read them back at once (docs/cluster.md).

An expired ban stays :data:`KEPT` seconds after it ended, so that every ban
made within the last hour can still be listed (the admin API's ``/bans``, the
web UI's dashboard); only :meth:`BanStore.active` bans hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, delete, func, or_, select, text
from sqlalchemy.engine import Connection, Engine

from provisioner.store import _tables as t
from provisioner.store._dialect import upsert_insert

__all__ = ["BANS_CHANNEL", "KEPT", "Ban", "BanStore"]

BANS_CHANNEL = "provisioner_bans"
KEPT = 3600.0  # seconds an expired ban is kept for the list of recent bans


def _announce(conn: Connection) -> None:
    """Tell listening nodes the bans changed (PostgreSQL; delivered at commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": BANS_CHANNEL})


@dataclass(frozen=True, slots=True)
class Ban:
    """One banned address, until a Unix time."""

    address: str
    until: float
    reason: str = ""
    created_at: float = 0.0


class BanStore:
    """Reads and writes bans; nothing else."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, bans: Sequence[Ban]) -> None:
        """Insert bans, or extend existing ones (a ban is never shortened here).

        A ban of an address whose kept ban had already ended starts anew:
        its ``created_at`` is the new one's.
        """
        if not bans:
            return
        with self.engine.begin() as conn:
            statement = upsert_insert(conn, t.bans).values(
                [
                    {
                        "address": b.address,
                        "until": b.until,
                        "reason": b.reason[:64],
                        "created_at": b.created_at,
                    }
                    for b in bans
                ]
            )
            excluded = statement.excluded
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["address"],
                    set_={
                        "until": func.max(t.bans.c.until, excluded.until)
                        if conn.dialect.name == "sqlite"
                        else func.greatest(t.bans.c.until, excluded.until),
                        "reason": excluded.reason,
                        "created_at": case(
                            (t.bans.c.until <= excluded.created_at, excluded.created_at),
                            else_=t.bans.c.created_at,
                        ),
                    },
                )
            )
            _announce(conn)

    def active(self, now: float) -> list[Ban]:
        """Bans still in force at ``now``; rows expired over :data:`KEPT` ago are deleted."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.bans).where(t.bans.c.until <= now - KEPT))
            rows = conn.execute(select(t.bans).where(t.bans.c.until > now).order_by(t.bans.c.until))
            return [Ban(r.address, r.until, r.reason, r.created_at) for r in rows]

    def recent(
        self, now: float, since: float | None, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[Ban], int]:
        """Bans in force at ``now`` or made since ``since`` (``None``: only those in
        force; an ended ban is found until :data:`KEPT` after its end), newest first:
        one page of them and how many in all."""
        wanted = t.bans.c.until > now
        if since is not None:
            wanted = or_(wanted, t.bans.c.created_at >= since)
        query = (
            select(t.bans)
            .where(wanted)
            .order_by(t.bans.c.created_at.desc(), t.bans.c.address)
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.bans).where(wanted))
            rows = [Ban(r.address, r.until, r.reason, r.created_at) for r in conn.execute(query)]
            return rows, int(total.scalar_one())

    def remove(self, address: str) -> bool:
        """Lift a ban; False when the address was not banned."""
        with self.engine.begin() as conn:
            result = conn.execute(delete(t.bans).where(t.bans.c.address == address))
            _announce(conn)
            return bool(result.rowcount)

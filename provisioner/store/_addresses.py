"""Where phones were admitted from: the ``phone_addresses`` table.

The gateway remembers, per phone, the address of its last *admitted* fetch
(the direct NOTIFY destination) and the server writes what changed in
batches. This table, not the seen records (which any request can touch, a
challenged one or one with a forged User-Agent), is what a NOTIFY falls back
on after a restart or on another node.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from provisioner.store import _tables as t
from provisioner.store._dialect import upsert_insert

__all__ = ["AddressBook", "Admitted"]


@dataclass(frozen=True, slots=True)
class Admitted:
    """A phone's last admitted fetch: from where, over what, when."""

    mac: str
    address: str
    protocol: str
    admitted_at: int


class AddressBook:
    """The ``phone_addresses`` table: where each phone was last admitted from."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, rows: Sequence[Admitted]) -> None:
        """Insert or replace the rows (the newest admission wins)."""
        if not rows:
            return
        statement = upsert_insert(self.engine, t.phone_addresses)
        excluded = statement.excluded
        with self.engine.begin() as conn:
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["mac"],
                    set_={
                        "address": excluded.address,
                        "protocol": excluded.protocol,
                        "admitted_at": excluded.admitted_at,
                    },
                    where=t.phone_addresses.c.admitted_at <= excluded.admitted_at,
                ),
                [
                    {
                        "mac": r.mac,
                        "address": r.address,
                        "protocol": r.protocol,
                        "admitted_at": r.admitted_at,
                    }
                    for r in rows
                ],
            )

    def last(self, macs: Collection[str]) -> dict[str, str]:
        """The address each of ``macs`` was last admitted from, where known."""
        query = select(t.phone_addresses.c.mac, t.phone_addresses.c.address).where(
            t.phone_addresses.c.mac.in_(list(macs))
        )
        with self.engine.connect() as conn:
            return {row.mac: row.address for row in conn.execute(query)}

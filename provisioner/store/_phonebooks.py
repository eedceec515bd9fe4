"""Tenant phonebooks: one repository for the ``phonebooks`` and ``phonebook_entries`` tables.

A phonebook is written whole (its entries replaced in one transaction) and
every write bumps its tenant's revision with the whole tenant as its reach:
which phones show a phonebook depends on the resolved ``phonebooks``
setting, which only the resolver knows, and re-rendering the tenant is
always correct (:mod:`provisioner.store._feed`). Reads for rendering go
through :func:`provisioner.store._read.read_phonebooks`, as plain
:class:`provisioner.domain.Phonebook` records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from provisioner.audit import AuditEntry
from provisioner.domain import Phonebook
from provisioner.errors import NotFoundError
from provisioner.store import _tables as t
from provisioner.store._audit import record_audit
from provisioner.store._feed import Reach
from provisioner.store._read import read_phonebooks
from provisioner.store._write import bump_revision

__all__ = ["PhonebookRepository", "PhonebookSummary"]

SETTING = "phonebooks"


@dataclass(frozen=True, slots=True)
class PhonebookSummary:
    """A phonebook's name, description and number of entries."""

    name: str
    description: str
    entries: int


def _tenant_id(conn: Connection, tenant: str) -> int:
    found = conn.execute(select(t.tenants.c.id).where(t.tenants.c.name == tenant)).scalar()
    if found is None:
        raise NotFoundError(f"no tenant {tenant!r}")
    return int(found)


class PhonebookRepository:
    """Reads and writes phonebooks; nothing else."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def summaries(self, tenant: str) -> list[PhonebookSummary]:
        """The tenant's phonebooks, by name."""
        counts = (
            select(t.phonebook_entries.c.phonebook_id, func.count().label("n"))
            .group_by(t.phonebook_entries.c.phonebook_id)
            .subquery()
        )
        with self.engine.connect() as conn:
            tenant_id = _tenant_id(conn, tenant)
            rows = conn.execute(
                select(t.phonebooks.c.name, t.phonebooks.c.description, counts.c.n)
                .outerjoin(counts, counts.c.phonebook_id == t.phonebooks.c.id)
                .where(t.phonebooks.c.tenant_id == tenant_id)
                .order_by(t.phonebooks.c.name)
            )
            return [PhonebookSummary(r.name, r.description, int(r.n or 0)) for r in rows]

    def get(self, tenant: str, name: str) -> Phonebook | None:
        """One phonebook with its entries, or ``None``."""
        with self.engine.connect() as conn:
            tenant_id = _tenant_id(conn, tenant)
            return read_phonebooks(conn, [tenant_id]).get(tenant_id, {}).get(name)

    def save(self, tenant: str, book: Phonebook, audit: Sequence[AuditEntry] = ()) -> bool:
        """Create ``book`` or replace its description and entries; True when it was new.

        One transaction: the entries, the tenant's new revision and the audit entries.
        """
        with self.engine.begin() as conn:
            tenant_id = _tenant_id(conn, tenant)
            book_id = conn.execute(
                select(t.phonebooks.c.id).where(
                    t.phonebooks.c.tenant_id == tenant_id, t.phonebooks.c.name == book.name
                )
            ).scalar()
            created = book_id is None
            if book_id is None:
                book_id = conn.execute(
                    insert(t.phonebooks)
                    .values(tenant_id=tenant_id, name=book.name, description=book.description)
                    .returning(t.phonebooks.c.id)
                ).scalar_one()
            else:
                conn.execute(
                    update(t.phonebooks)
                    .where(t.phonebooks.c.id == book_id)
                    .values(description=book.description)
                )
                conn.execute(
                    delete(t.phonebook_entries).where(t.phonebook_entries.c.phonebook_id == book_id)
                )
            if book.entries:
                conn.execute(
                    insert(t.phonebook_entries),
                    [
                        {
                            "phonebook_id": book_id,
                            "position": position,
                            "first_name": e.first_name,
                            "last_name": e.last_name,
                            "organisation": e.organisation,
                            "numbers": json.dumps([list(n) for n in e.numbers]),
                        }
                        for position, e in enumerate(book.entries, 1)
                    ],
                )
            bump_revision(conn, tenant_id, Reach(whole=True))
            record_audit(conn, audit)
            return created

    def remove(self, tenant: str, name: str, audit: Sequence[AuditEntry] = ()) -> None:
        """Delete a phonebook and its entries.

        :raises NotFoundError: when the tenant has no such phonebook.
        """
        with self.engine.begin() as conn:
            tenant_id = _tenant_id(conn, tenant)
            result = conn.execute(
                delete(t.phonebooks).where(
                    t.phonebooks.c.tenant_id == tenant_id, t.phonebooks.c.name == name
                )
            )
            if not result.rowcount:
                raise NotFoundError(f"tenant {tenant} has no phonebook {name!r}")
            bump_revision(conn, tenant_id, Reach(whole=True))
            record_audit(conn, audit)

    def references(self, tenant: str, name: str) -> list[str]:
        """The scopes whose ``phonebooks`` setting names ``name``.

        Each is ``tenant``, ``group NAME`` or ``phone MAC``.
        """
        with self.engine.connect() as conn:
            tenant_id = _tenant_id(conn, tenant)
            found: list[str] = []
            for scope, query in (
                (
                    "tenant",
                    select(
                        t.tenant_settings.c.value, t.tenant_settings.c.tenant_id.label("key")
                    ).where(
                        t.tenant_settings.c.tenant_id == tenant_id,
                        t.tenant_settings.c.name == SETTING,
                    ),
                ),
                (
                    "group",
                    select(t.group_settings.c.value, t.groups.c.name.label("key"))
                    .join(t.groups, t.groups.c.id == t.group_settings.c.group_id)
                    .where(t.groups.c.tenant_id == tenant_id, t.group_settings.c.name == SETTING),
                ),
                (
                    "phone",
                    select(t.phone_settings.c.value, t.phones.c.mac.label("key"))
                    .join(t.phones, t.phones.c.id == t.phone_settings.c.phone_id)
                    .where(t.phones.c.tenant_id == tenant_id, t.phone_settings.c.name == SETTING),
                ),
            ):
                for row in conn.execute(query):
                    if name in json.loads(row.value):
                        found.append(scope if scope == "tenant" else f"{scope} {row.key}")
            return sorted(found)

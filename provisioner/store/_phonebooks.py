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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from provisioner.audit import AuditEntry
from provisioner.domain import Phonebook
from provisioner.errors import NotFoundError, Problem
from provisioner.settings import Value
from provisioner.state import TenantState
from provisioner.store import _tables as t
from provisioner.store._audit import record_audit
from provisioner.store._feed import Reach
from provisioner.store._read import read_phonebooks
from provisioner.store._write import Changes, bump_revision

__all__ = [
    "PhonebookRepository",
    "PhonebookSummary",
    "same_phonebook",
    "stored_phonebooks",
    "sync_phonebooks",
    "tenant_id_of",
    "unknown_phonebooks",
    "unlisted_phonebooks",
]

SETTING = "phonebooks"


@dataclass(frozen=True, slots=True)
class PhonebookSummary:
    """A phonebook's name, description and number of entries."""

    name: str
    description: str
    entries: int


def tenant_id_of(conn: Connection, tenant: str) -> int:
    """The id of tenant ``tenant`` (:class:`NotFoundError` when there is none)."""
    found = conn.execute(select(t.tenants.c.id).where(t.tenants.c.name == tenant)).scalar()
    if found is None:
        raise NotFoundError(f"no tenant {tenant!r}")
    return int(found)


def _named(settings: Mapping[str, Value]) -> tuple[str, ...]:
    value = settings.get(SETTING, ())
    return tuple(n for n in value if isinstance(n, str)) if isinstance(value, tuple) else ()


def unknown_phonebooks(
    conn: Connection, before: TenantState | None, after: TenantState
) -> list[Problem]:
    """Problems for ``phonebooks`` values a single edit set that name no phonebook of the tenant.

    Only values the edit changed count, so an edit never fails for a value
    it did not touch.
    """
    scopes: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
        (
            after.where or f"tenant:{after.name}",
            _named(after.settings),
            _named(before.settings) if before else (),
        )
    ]
    for name, group in after.groups.items():
        old = before.groups.get(name) if before else None
        where = group.where or f"group:{after.name}/{name}"
        scopes.append((where, _named(group.settings), _named(old.settings) if old else ()))
    for mac, phone in after.phones.items():
        old_phone = before.phones.get(mac) if before else None
        where = phone.where or f"phone:{mac}"
        scopes.append(
            (where, _named(phone.settings), _named(old_phone.settings) if old_phone else ())
        )
    changed = [(where, new) for where, new, old in scopes if new and new != old]
    if not changed:
        return []
    known = set(
        conn.execute(
            select(t.phonebooks.c.name)
            .join(t.tenants, t.tenants.c.id == t.phonebooks.c.tenant_id)
            .where(t.tenants.c.name == after.name)
        ).scalars()
    )
    problems = []
    for where, names in changed:
        missing = [n for n in names if n not in known]
        if missing:
            problems.append(
                Problem(
                    f"{where}: {SETTING}",
                    f"tenant {after.name} has no phonebook {', '.join(missing)} "
                    "(provisioner phonebook import NAME FILE creates one)",
                )
            )
    return problems


def unlisted_phonebooks(state: TenantState) -> list[Problem]:
    """Problems for ``phonebooks`` values naming a book a fleet file does not give its tenant.

    Only for a state that gives its books (``phonebooks`` not ``None``):
    every scope is checked, since the file says what the tenant will have.
    """
    if state.phonebooks is None:
        return []
    scopes = [(state.where or f"tenant:{state.name}", state.settings)]
    scopes += [
        (g.where or f"group:{state.name}/{g.name}", g.settings) for g in state.groups.values()
    ]
    scopes += [(p.where or f"phone:{p.mac}", p.settings) for p in state.phones.values()]
    problems = []
    for where, settings in scopes:
        missing = [n for n in _named(settings) if n not in state.phonebooks]
        if missing:
            problems.append(
                Problem(
                    f"{where}: {SETTING}",
                    f"names {', '.join(missing)}, which the file's phonebooks do not give "
                    f"tenant {state.name}",
                )
            )
    return problems


def same_phonebook(a: Phonebook, b: Phonebook) -> bool:
    """Whether two phonebooks hold the same description and entries (in the same order)."""
    return a.description == b.description and a.entries == b.entries


def _save_on(conn: Connection, tenant_id: int, book: Phonebook) -> bool:
    """Create ``book`` or replace its description and entries; True when it was new."""
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
    return created


def sync_phonebooks(
    conn: Connection,
    tenant_id: int,
    stored: Mapping[str, Phonebook],
    wanted: Mapping[str, Phonebook],
    changes: Changes,
) -> None:
    """Make the tenant's ``stored`` phonebooks ``wanted`` on the caller's transaction.

    Only books that differ are written; the tenant's revision is bumped
    (whole tenant) when any was. ``changes`` counts them.
    """
    touched = Changes()
    for name in sorted(stored.keys() - wanted.keys()):
        conn.execute(
            delete(t.phonebooks).where(
                t.phonebooks.c.tenant_id == tenant_id, t.phonebooks.c.name == name
            )
        )
        touched["phonebook removed"] += 1
    for name, book in sorted(wanted.items()):
        old = stored.get(name)
        if old is not None and same_phonebook(old, book):
            continue
        _save_on(conn, tenant_id, book)
        touched["phonebook created" if old is None else "phonebook changed"] += 1
    if touched:
        bump_revision(conn, tenant_id, Reach(whole=True))
        changes.update(touched)


def stored_phonebooks(conn: Connection, tenant_id: int) -> dict[str, Phonebook]:
    """The tenant's phonebooks by name, entries in stored order."""
    return read_phonebooks(conn, [tenant_id]).get(tenant_id, {})


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
            tenant_id = tenant_id_of(conn, tenant)
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
            tenant_id = tenant_id_of(conn, tenant)
            return read_phonebooks(conn, [tenant_id]).get(tenant_id, {}).get(name)

    def books(self) -> dict[str, dict[str, Phonebook]]:
        """Every tenant's phonebooks with their entries, by tenant name and book name."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.tenants.c.id, t.tenants.c.name))
            names = {row.id: row.name for row in rows}
            return {names[i]: found for i, found in read_phonebooks(conn, None).items()}

    def save(self, tenant: str, book: Phonebook, audit: Sequence[AuditEntry] = ()) -> bool:
        """Create ``book`` or replace its description and entries; True when it was new.

        One transaction: the entries, the tenant's new revision and the audit entries.
        """
        with self.engine.begin() as conn:
            tenant_id = tenant_id_of(conn, tenant)
            created = _save_on(conn, tenant_id, book)
            bump_revision(conn, tenant_id, Reach(whole=True))
            record_audit(conn, audit)
            return created

    def remove(self, tenant: str, name: str, audit: Sequence[AuditEntry] = ()) -> None:
        """Delete a phonebook and its entries.

        :raises NotFoundError: when the tenant has no such phonebook.
        """
        with self.engine.begin() as conn:
            tenant_id = tenant_id_of(conn, tenant)
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
            tenant_id = tenant_id_of(conn, tenant)
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

"""A tenant's SIP users: one repository for the ``sip_users`` table.

In sipXcom a line refers to a *user* (its name, SIP password, first and
last name, aliases); provisioner keeps those users per tenant so that a line
can be made from the user it names (SOAP ``addLine``) and CSV imports give
back what they brought. Users are not rendered: a line holds its own copy of
the credentials, which the service layer (:mod:`provisioner.sip_users`)
writes through the edits when a user changes, so the tenant's revision and
change feed move with the lines, not here.

Writes happen on the caller's transaction (:meth:`SipUserRepository.on`,
a :class:`SipUserTable`), so a user and the lines written from it are
committed together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from provisioner.errors import NotFoundError
from provisioner.store import _tables as t
from provisioner.store._write import Changes

__all__ = ["LineRef", "SipUser", "SipUserRepository", "SipUserTable"]

_BATCH = 2000  # rows per executemany


@dataclass(frozen=True, slots=True)
class SipUser:
    """A tenant's SIP user; ``attributes`` are what provisioner keeps without modelling."""

    user_name: str
    password: str = ""
    first_name: str = ""
    last_name: str = ""
    auth_user: str = ""
    aliases: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        """First and last name, as sipXcom shows a user on its lines."""
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True, slots=True)
class LineRef:
    """A line (phone MAC and position) whose user is a given user name."""

    mac: str
    position: int


def _user(row: Any) -> SipUser:
    return SipUser(
        row.user_name,
        row.password,
        row.first_name,
        row.last_name,
        row.auth_user,
        tuple(json.loads(row.aliases)),
        dict(json.loads(row.attributes)),
    )


def _values(user: SipUser) -> dict[str, object]:
    return {
        "password": user.password,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "auth_user": user.auth_user,
        "aliases": json.dumps(list(user.aliases), ensure_ascii=False),
        # By items: a mapping other than a dict may read them all at once (sipxcom_csv).
        "attributes": json.dumps(dict(user.attributes.items()), ensure_ascii=False, sort_keys=True),
    }


_COLUMNS = (
    t.sip_users.c.user_name,
    t.sip_users.c.password,
    t.sip_users.c.first_name,
    t.sip_users.c.last_name,
    t.sip_users.c.auth_user,
    t.sip_users.c.aliases,
    t.sip_users.c.attributes,
)


class SipUserTable:
    """The ``sip_users`` table on one connection (the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def tenant_id(self, tenant: str) -> int:
        """The tenant's id; :class:`NotFoundError` when there is no such tenant."""
        found = self.conn.execute(select(t.tenants.c.id).where(t.tenants.c.name == tenant)).scalar()
        if found is None:
            raise NotFoundError(f"no tenant named {tenant!r}")
        return int(found)

    def get(self, tenant: str, user_name: str) -> SipUser | None:
        """One user of the tenant, or ``None``."""
        row = self.conn.execute(
            select(*_COLUMNS).where(
                t.sip_users.c.tenant_id == self.tenant_id(tenant),
                t.sip_users.c.user_name == user_name,
            )
        ).first()
        return None if row is None else _user(row)

    def page(self, tenant: str, *, limit: int | None = None, offset: int = 0) -> list[SipUser]:
        """The tenant's users by name (a page of them, with ``limit``)."""
        query = (
            select(*_COLUMNS)
            .where(t.sip_users.c.tenant_id == self.tenant_id(tenant))
            .order_by(t.sip_users.c.user_name)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        return [_user(row) for row in self.conn.execute(query)]

    def count(self, tenant: str) -> int:
        """How many users the tenant has."""
        return int(
            self.conn.execute(
                select(func.count(t.sip_users.c.id)).where(
                    t.sip_users.c.tenant_id == self.tenant_id(tenant)
                )
            ).scalar_one()
        )

    def all(self, tenant: str) -> dict[str, SipUser]:
        """Every user of the tenant, by name."""
        return {user.user_name: user for user in self.page(tenant)}

    def save(self, tenant: str, users: Iterable[SipUser]) -> Changes:
        """Create or replace ``users`` (by user name) in one statement per kind of change.

        Rows that would not change are not written. Returns what was written
        (``sip user created`` / ``sip user changed``).
        """
        tenant_id = self.tenant_id(tenant)
        table = t.sip_users
        names = list(_values(SipUser("")))
        # Compared as stored (the text _values wrote), not decoded again.
        stored = {
            row.user_name: (row.id, tuple(row[1:]))
            for row in self.conn.execute(
                select(table.c.id, *(table.c[n] for n in names), table.c.user_name).where(
                    table.c.tenant_id == tenant_id
                )
            )
        }
        changes = Changes()
        statement = (
            update(table)
            .where(table.c.id == bindparam("k_id"))
            .values({k: bindparam(f"v_{k}") for k in names})
        )
        inserts: list[dict[str, object]] = []
        updates: list[dict[str, object]] = []
        # Sent in batches: the parameters of 100,000 users at once would be held twice over.
        for user in users:
            values = _values(user)
            old = stored.get(user.user_name)
            if old is None:
                inserts.append({"tenant_id": tenant_id, "user_name": user.user_name, **values})
                changes["sip user created"] += 1
            elif old[1][: len(names)] != tuple(values[n] for n in names):
                updates.append({"k_id": old[0], **{f"v_{k}": v for k, v in values.items()}})
                changes["sip user changed"] += 1
            if len(inserts) >= _BATCH:
                self.conn.execute(insert(table), inserts)
                inserts = []
            if len(updates) >= _BATCH:
                self.conn.execute(statement, updates)
                updates = []
        if inserts:
            self.conn.execute(insert(table), inserts)
        if updates:
            self.conn.execute(statement, updates)
        return changes

    def delete(self, tenant: str, user_name: str) -> bool:
        """Delete one user; False when the tenant has no such user."""
        result = self.conn.execute(
            delete(t.sip_users).where(
                t.sip_users.c.tenant_id == self.tenant_id(tenant),
                t.sip_users.c.user_name == user_name,
            )
        )
        return bool(result.rowcount)

    def lines_of(
        self, tenant: str, user_names: Collection[str] | None = None
    ) -> dict[str, list[LineRef]]:
        """The tenant's lines by user name (of ``user_names`` only, if given), each list
        ordered by MAC and position."""
        query = (
            select(t.lines.c.user_name, t.phones.c.mac, t.lines.c.position)
            .join(t.phones, t.phones.c.id == t.lines.c.phone_id)
            .where(t.phones.c.tenant_id == self.tenant_id(tenant))
            .order_by(t.phones.c.mac, t.lines.c.position)
        )
        if user_names is not None:
            query = query.where(t.lines.c.user_name.in_(sorted(user_names)))
        found: dict[str, list[LineRef]] = {}
        for row in self.conn.execute(query):
            found.setdefault(row.user_name, []).append(LineRef(row.mac, row.position))
        return found


class SipUserRepository:
    """Reads a tenant's SIP users; writes go through :meth:`on` (the caller's transaction)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def on(self, conn: Connection) -> SipUserTable:
        """The table on ``conn``: reads and writes in the caller's transaction."""
        return SipUserTable(conn)

    def get(self, tenant: str, user_name: str) -> SipUser | None:
        """One user of the tenant, or ``None``."""
        with self.engine.connect() as conn:
            return SipUserTable(conn).get(tenant, user_name)

    def page(self, tenant: str, *, limit: int | None = None, offset: int = 0) -> list[SipUser]:
        """The tenant's users by name (a page of them, with ``limit``)."""
        with self.engine.connect() as conn:
            return SipUserTable(conn).page(tenant, limit=limit, offset=offset)

    def count(self, tenant: str) -> int:
        """How many users the tenant has."""
        with self.engine.connect() as conn:
            return SipUserTable(conn).count(tenant)

    def lines_of(
        self, tenant: str, user_names: Collection[str] | None = None
    ) -> dict[str, list[LineRef]]:
        """The tenant's lines by user name (see :meth:`SipUserTable.lines_of`)."""
        with self.engine.connect() as conn:
            return SipUserTable(conn).lines_of(tenant, user_names)

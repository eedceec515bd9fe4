"""Reading the store: snapshots for rendering, tenant states for writing."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, Table, and_, func, or_, select
from sqlalchemy.engine import Connection, Row

from provisioner.domain import (
    DirectoryEntry,
    Group,
    Line,
    Phone,
    Phonebook,
    PhonebookEntry,
    ScopeKind,
    Snapshot,
    StoredValue,
    Tenant,
)
from provisioner.settings import Key, Value
from provisioner.state import GroupState, LineState, Part, PhoneState, TenantState, copy_phone
from provisioner.store import _tables as t
from provisioner.store._engine import device_key
from provisioner.store._firmware import firmware_sets

__all__ = [
    "TenantIds",
    "add_phones",
    "decode_value",
    "encode_value",
    "load_heads",
    "load_phone_states",
    "load_snapshot",
    "load_tenant_part",
    "load_tenant_state",
    "locks_reach",
    "part_phone_ids",
    "phone_counts",
    "phones_of_models",
    "read_phonebooks",
    "span_end",
]

# Ids named in one statement when phones are read by id: well under what
# SQLite (32,766) and PostgreSQL (65,535) accept as bound parameters.
_CHUNK = 5000


def encode_value(value: Value) -> str:
    """Setting values are stored as JSON so their type survives."""
    return json.dumps(value, ensure_ascii=False)


def decode_value(text: str) -> Value:
    """Inverse of :func:`encode_value`."""
    value = json.loads(text)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)  # a list setting (JSON keeps no tuples)
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return tuple(Key(item) for item in value)  # a keys setting, validated when written
    if not isinstance(value, bool | int | str):
        raise ValueError(f"stored setting value has unexpected type: {text!r}")
    return value


def _settings(
    conn: Connection, table: Table, owner: str, ids: Collection[int] | Select[Any] | None
) -> dict[int, dict[str, StoredValue]]:
    owner_col = table.c[f"{owner}_id"]
    lockable = "locked" in table.c
    columns = [owner_col, table.c.name, table.c.value] + ([table.c.locked] if lockable else [])
    query = select(*columns)
    if ids is not None:
        query = query.where(owner_col.in_(ids))
    result: dict[int, dict[str, StoredValue]] = defaultdict(dict)
    for row in conn.execute(query):
        locked = bool(row[3]) if lockable else False
        result[row[0]][row[1]] = StoredValue(decode_value(row[2]), locked)
    return result


@dataclass(frozen=True, slots=True)
class _Filter:
    """Which rows a snapshot reads: ``None`` reads all, else ids or an id subquery."""

    tenants: list[int] | None = None
    groups: Select[Any] | None = None
    phones: Select[Any] | None = None
    lines: Select[Any] | None = None

    @classmethod
    def part(cls, tenant_id: int, macs: Collection[str], group_ids: Collection[int]) -> _Filter:
        """One tenant's phones named in ``macs`` or members of ``group_ids``."""
        members = select(t.group_members.c.phone_id).where(
            t.group_members.c.group_id.in_(list(group_ids))
        )
        phone_ids = select(t.phones.c.id).where(
            t.phones.c.tenant_id == tenant_id,
            or_(t.phones.c.mac.in_(list(macs)), t.phones.c.id.in_(members)),
        )
        return cls._phones_of(tenant_id, phone_ids)

    @classmethod
    def span(cls, tenant_id: int, after: str, upto: str | None) -> _Filter:
        """One tenant's phones whose MAC is after ``after``, up to ``upto`` (``None``: the rest)."""
        where = [t.phones.c.tenant_id == tenant_id, t.phones.c.mac > after]
        if upto is not None:
            where.append(t.phones.c.mac <= upto)
        return cls._phones_of(tenant_id, select(t.phones.c.id).where(*where))

    @classmethod
    def _phones_of(cls, tenant_id: int, phone_ids: Select[Any]) -> _Filter:
        """One tenant, all its groups, and the phones (with their lines) ``phone_ids`` selects."""
        return cls(
            tenants=[tenant_id],
            groups=select(t.groups.c.id).where(t.groups.c.tenant_id == tenant_id),
            phones=phone_ids,
            lines=select(t.lines.c.id).where(t.lines.c.phone_id.in_(phone_ids)),
        )

    @classmethod
    def of(
        cls, conn: Connection, macs: Collection[str] | None, tenant_ids: Collection[int] | None
    ) -> _Filter:
        phone_ids: Select[Any] | None = None
        if macs is not None:
            phone_ids = select(t.phones.c.id).where(t.phones.c.mac.in_(list(macs)))
            tenant_ids = set(
                conn.execute(
                    select(t.phones.c.tenant_id).where(t.phones.c.mac.in_(list(macs)))
                ).scalars()
            )
        elif tenant_ids is not None:
            phone_ids = select(t.phones.c.id).where(t.phones.c.tenant_id.in_(list(tenant_ids)))
        if tenant_ids is None:
            return cls()
        assert phone_ids is not None
        return cls(
            tenants=list(tenant_ids),
            groups=select(t.groups.c.id).where(t.groups.c.tenant_id.in_(list(tenant_ids))),
            phones=phone_ids,
            lines=select(t.lines.c.id).where(t.lines.c.phone_id.in_(phone_ids)),
        )


def _scoped(query: Select[Any], column: Any, ids: object) -> Select[Any]:
    return query if ids is None else query.where(column.in_(ids))


def _read_tenants(conn: Connection, snap: Snapshot, ids: list[int] | None) -> None:
    for row in conn.execute(_scoped(select(t.tenants), t.tenants.c.id, ids)):
        snap.tenants[row.id] = Tenant(
            row.id,
            row.name,
            row.sip_domain,
            row.platform,
            row.description,
            row.revision,
            row.changed_at,
        )


def _read_phones(conn: Connection, snap: Snapshot, ids: Select[Any] | None) -> None:
    members: dict[int, list[int]] = defaultdict(list)
    for row in conn.execute(_scoped(select(t.group_members), t.group_members.c.phone_id, ids)):
        members[row.phone_id].append(row.group_id)
    phone_query = _scoped(select(t.phones), t.phones.c.id, ids)
    for row in conn.execute(phone_query.order_by(t.phones.c.mac)):
        snap.phones[row.id] = Phone(
            row.id,
            row.tenant_id,
            row.mac,
            row.model,
            row.description,
            row.enabled,
            tuple(sorted(members.get(row.id, ()))),
        )


def _read_lines(conn: Connection, snap: Snapshot, ids: Select[Any] | None) -> None:
    line_query = _scoped(select(t.lines), t.lines.c.id, ids)
    for row in conn.execute(line_query.order_by(t.lines.c.phone_id, t.lines.c.position)):
        snap.lines.setdefault(row.phone_id, []).append(
            Line(
                row.id,
                row.phone_id,
                row.position,
                row.user_name,
                row.auth_user,
                row.password,
                row.display_name,
                row.label,
            )
        )


_V = TypeVar("_V")


class Deferred(Mapping[int, _V]):
    """A mapping by tenant id read from the database the first time it is asked.

    A change to a few phones renders only those, and most phones show
    neither the tenant directory nor a phonebook; reading them anyway cost
    every such change a read of every line of the tenant (1 s at 100,000
    phones). Read later, on a connection of its own, it may be newer than
    the rest of the snapshot; a later write moves the tenant's revision and
    is rendered at the next refresh, as for any snapshot read in several
    statements (docs/scaling.md).
    """

    def __init__(self, read: Callable[[], Mapping[int, _V]]) -> None:
        self._read: Callable[[], Mapping[int, _V]] | None = read
        self._items: Mapping[int, _V] = {}

    def _loaded(self) -> Mapping[int, _V]:
        if self._read is not None:
            self._items, self._read = self._read(), None
        return self._items

    def __getitem__(self, tenant_id: int) -> _V:
        return self._loaded()[tenant_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


def load_snapshot(
    conn: Connection,
    macs: Collection[str] | None = None,
    tenant_ids: Collection[int] | None = None,
    part: tuple[int, Collection[str], Collection[int]] | None = None,
    *,
    span: tuple[int, str, str | None] | None = None,
    tenant_wide: bool = True,
) -> Snapshot:
    """Read everything rendering needs, as plain data.

    With ``macs``, only those phones are read (plus their tenants and groups);
    with ``tenant_ids``, only those tenants with everything under them. The
    tenant directory always covers every line of the tenants read. Filters
    are subqueries, never long lists of ids (SQLite caps bound parameters).
    ``part`` (tenant id, MACs, group ids) reads one tenant's phones named or
    in those groups: what a change reached (:mod:`provisioner.store._feed`).
    ``span`` (tenant id, MAC after, MAC up to or ``None``) reads one tenant's
    phones in a range of MACs: a slice of a large tenant (:func:`span_end`).
    Without ``tenant_wide`` the directory and phonebooks are left empty for
    the caller to fill (:class:`Deferred`).
    """
    snap = Snapshot(device_key=device_key(conn))
    if span is not None:
        only = _Filter.span(*span)
    elif part is not None:
        only = _Filter.part(*part)
    else:
        only = _Filter.of(conn, macs, tenant_ids)
    _read_tenants(conn, snap, only.tenants)
    for row in conn.execute(_scoped(select(t.groups), t.groups.c.id, only.groups)):
        snap.groups[row.id] = Group(row.id, row.tenant_id, row.name, row.description, row.weight)
    _read_phones(conn, snap, only.phones)
    _read_lines(conn, snap, only.lines)
    for kind, table, owner, ids in (
        (ScopeKind.TENANT, t.tenant_settings, "tenant", only.tenants),
        (ScopeKind.GROUP, t.group_settings, "group", only.groups),
        (ScopeKind.PHONE, t.phone_settings, "phone", only.phones),
        (ScopeKind.LINE, t.line_settings, "line", only.lines),
    ):
        for owner_id, values in _settings(conn, table, owner, ids).items():
            snap.settings[(kind, owner_id)] = values
    if tenant_wide:
        snap.directory = read_directory(conn, only.tenants)
        snap.phonebooks = read_phonebooks(conn, only.tenants)
    snap.firmware = {(s.vendor, s.label): s for s in firmware_sets(conn, active=True)}
    return snap


def span_end(conn: Connection, tenant_id: int, after: str, size: int) -> str | None:
    """The ``size``-th MAC of the tenant's phones after ``after``; ``None`` when fewer remain.

    Keyset pagination over the MAC's unique index: a slice is a range of
    MACs, so its reads filter by two comparisons, not a list of its phones.
    """
    query = (
        select(t.phones.c.mac)
        .where(t.phones.c.tenant_id == tenant_id, t.phones.c.mac > after)
        .order_by(t.phones.c.mac)
        .offset(size - 1)
        .limit(1)
    )
    return conn.execute(query).scalar()


def phone_counts(conn: Connection) -> dict[int, int]:
    """How many phones each tenant has (tenants without phones are left out)."""
    query = select(t.phones.c.tenant_id, func.count()).group_by(t.phones.c.tenant_id)
    return {int(row[0]): int(row[1]) for row in conn.execute(query)}


def load_heads(conn: Connection, tenant_ids: Collection[int]) -> Snapshot:
    """The tenants named and their own settings, nothing under them."""
    snap = Snapshot()
    ids = list(tenant_ids)
    _read_tenants(conn, snap, ids)
    for owner_id, values in _settings(conn, t.tenant_settings, "tenant", ids).items():
        snap.settings[(ScopeKind.TENANT, owner_id)] = values
    return snap


def _entry(row: Row[Any]) -> PhonebookEntry:
    numbers = json.loads(row.numbers)
    return PhonebookEntry(
        first_name=row.first_name,
        last_name=row.last_name,
        organisation=row.organisation,
        numbers=tuple((str(kind), str(number)) for kind, number in numbers),
    )


def read_phonebooks(
    conn: Connection, tenant_ids: Collection[int] | Select[Any] | None
) -> dict[int, dict[str, Phonebook]]:
    """Every phonebook of the tenants named (all without ``tenant_ids``), by tenant and name."""
    books = select(t.phonebooks)
    if tenant_ids is not None:
        books = books.where(t.phonebooks.c.tenant_id.in_(tenant_ids))
    heads = {row.id: row for row in conn.execute(books)}
    if not heads:
        return {}
    entries: dict[int, list[PhonebookEntry]] = defaultdict(list)
    query = select(t.phonebook_entries).order_by(
        t.phonebook_entries.c.phonebook_id, t.phonebook_entries.c.position
    )
    if tenant_ids is not None:
        query = query.where(
            t.phonebook_entries.c.phonebook_id.in_(
                select(t.phonebooks.c.id).where(t.phonebooks.c.tenant_id.in_(tenant_ids))
            )
        )
    for row in conn.execute(query):
        entries[row.phonebook_id].append(_entry(row))
    result: dict[int, dict[str, Phonebook]] = defaultdict(dict)
    for book_id, head in heads.items():
        result[head.tenant_id][head.name] = Phonebook(
            head.name, head.description, tuple(entries.get(book_id, ()))
        )
    return dict(result)


def read_directory(
    conn: Connection, tenant_ids: Collection[int] | Select[Any] | None
) -> dict[int, tuple[DirectoryEntry, ...]]:
    """Every enabled line of the tenants named, by tenant, in the directory's order."""
    query = (
        select(t.phones.c.tenant_id, t.phones.c.id, t.lines.c.display_name, t.lines.c.user_name)
        .join(t.phones, t.phones.c.id == t.lines.c.phone_id)
        .where(t.phones.c.enabled.is_(True))
    )
    members = (
        select(t.group_members.c.phone_id, t.groups.c.name)
        .join(t.groups, t.groups.c.id == t.group_members.c.group_id)
        .join(t.phones, t.phones.c.id == t.group_members.c.phone_id)
        .where(t.phones.c.enabled.is_(True))
    )
    if tenant_ids is not None:
        query = query.where(t.phones.c.tenant_id.in_(tenant_ids))
        members = members.where(t.phones.c.tenant_id.in_(tenant_ids))
    groups: dict[int, set[str]] = defaultdict(set)
    for member in conn.execute(members):
        groups[member.phone_id].add(member.name)
    entries: dict[int, list[DirectoryEntry]] = defaultdict(list)
    # Lines of phones in the same groups share one set: a set per line was
    # most of a large directory (43 MB of 200,000 lines, 2 per phone).
    alike: dict[frozenset[str], frozenset[str]] = {}
    for row in conn.execute(query):
        names = frozenset(groups[row.id])
        entries[row.tenant_id].append(
            DirectoryEntry(
                row.display_name or row.user_name, row.user_name, alike.setdefault(names, names)
            )
        )
    return {
        tenant_id: tuple(sorted(items, key=lambda e: (e.name.casefold(), e.name, e.user)))
        for tenant_id, items in entries.items()
    }


@dataclass(slots=True)
class TenantIds:
    """Database ids of a loaded tenant's rows, by natural key."""

    tenant: int
    groups: dict[str, int] = field(default_factory=dict)
    phones: dict[str, int] = field(default_factory=dict)
    lines: dict[tuple[str, int], int] = field(default_factory=dict)


def _load_head(conn: Connection, name: str) -> tuple[TenantState, TenantIds] | None:
    """One tenant's own fields, settings and locks, and its groups; no phones."""
    row = conn.execute(select(t.tenants).where(t.tenants.c.name == name)).first()
    if row is None:
        return None
    ids = TenantIds(row.id)
    tenant_values = _settings(conn, t.tenant_settings, "tenant", [row.id]).get(row.id, {})
    state = TenantState(
        name=row.name,
        sip_domain=row.sip_domain,
        platform=row.platform,
        description=row.description,
        settings={n: v.value for n, v in tenant_values.items()},
        locked={n for n, v in tenant_values.items() if v.locked},
    )
    group_names: dict[int, str] = {}
    for g in conn.execute(select(t.groups).where(t.groups.c.tenant_id == row.id)):
        group_names[g.id] = g.name
        ids.groups[g.name] = g.id
        state.groups[g.name] = GroupState(g.name, g.description, g.weight)
    tenant_groups = select(t.groups.c.id).where(t.groups.c.tenant_id == row.id)
    for group_id, values in _settings(conn, t.group_settings, "group", tenant_groups).items():
        group = state.groups[group_names[group_id]]
        group.settings = {n: v.value for n, v in values.items()}
        group.locked = {n for n, v in values.items() if v.locked}
    return state, ids


def load_tenant_state(conn: Connection, name: str) -> tuple[TenantState, TenantIds] | None:
    """Read one tenant and everything under it, or ``None`` if it does not exist."""
    head = _load_head(conn, name)
    if head is None:
        return None
    state, ids = head
    group_names = {group_id: name for name, group_id in ids.groups.items()}
    phone_macs: dict[int, str] = {}
    for p in conn.execute(
        select(t.phones).where(t.phones.c.tenant_id == ids.tenant).order_by(t.phones.c.mac)
    ):
        phone_macs[p.id] = p.mac
        ids.phones[p.mac] = p.id
        state.phones[p.mac] = PhoneState(p.mac, p.model, p.description, p.enabled)
    if not phone_macs:
        return state, ids
    phone_ids = select(t.phones.c.id).where(t.phones.c.tenant_id == ids.tenant)
    for m in conn.execute(select(t.group_members).where(t.group_members.c.phone_id.in_(phone_ids))):
        state.phones[phone_macs[m.phone_id]].groups.append(group_names[m.group_id])
    for phone in state.phones.values():
        phone.groups.sort(key=lambda g: (state.groups[g].weight, g))
    for phone_id, values in _settings(conn, t.phone_settings, "phone", phone_ids).items():
        state.phones[phone_macs[phone_id]].settings = {n: v.value for n, v in values.items()}
    line_keys: dict[int, tuple[str, int]] = {}
    query = select(t.lines).where(t.lines.c.phone_id.in_(phone_ids)).order_by(t.lines.c.position)
    for ln in conn.execute(query):
        mac = phone_macs[ln.phone_id]
        line_keys[ln.id] = (mac, ln.position)
        ids.lines[(mac, ln.position)] = ln.id
        state.phones[mac].lines.append(
            LineState(
                ln.position, ln.user_name, ln.auth_user, ln.password, ln.display_name, ln.label
            )
        )
    tenant_lines = select(t.lines.c.id).where(t.lines.c.phone_id.in_(phone_ids))
    for line_id, values in _settings(conn, t.line_settings, "line", tenant_lines).items():
        mac, position = line_keys[line_id]
        line = next(x for x in state.phones[mac].lines if x.position == position)
        line.settings = {n: v.value for n, v in values.items()}
    return state, ids


def load_tenant_part(
    conn: Connection, name: str, part: Part
) -> tuple[TenantState, TenantIds] | None:
    """Read one tenant's own fields, settings and groups, and only the phones ``part`` names.

    The state is partial (:attr:`TenantState.loaded`): the phones it lacks
    are stored and left alone. ``None`` if the tenant does not exist.
    """
    head = _load_head(conn, name)
    if head is None:
        return None
    state, ids = head
    state.loaded = frozenset()
    add_phones(conn, ids, part_phone_ids(conn, ids, part), state)
    return state, ids


def part_phone_ids(conn: Connection, ids: TenantIds, part: Part) -> list[int]:
    """Ids of the tenant's stored phones ``part`` names (by MAC, or as group members)."""
    wanted: list[ColumnElement[bool]] = []
    if part.macs:
        wanted.append(t.phones.c.mac.in_(sorted(part.macs)))
    groups = [ids.groups[name] for name in part.groups if name in ids.groups]
    if groups:
        members = select(t.group_members.c.phone_id).where(t.group_members.c.group_id.in_(groups))
        wanted.append(t.phones.c.id.in_(members))
    if not wanted:
        return []
    query = select(t.phones.c.id).where(t.phones.c.tenant_id == ids.tenant, or_(*wanted))
    return list(conn.execute(query).scalars())


def locks_reach(
    conn: Connection, ids: TenantIds, tenant: set[str], groups: dict[str, set[str]]
) -> list[int]:
    """Ids of the stored phones a change of locks reaches: those that set a name whose lock
    changed (themselves or on a line), at the tenant (``tenant``) or in a group they are
    members of (``groups``: group name → names). The lock rule reaches no other phone."""

    def sets(names: set[str]) -> ColumnElement[bool]:
        by_phone = select(t.phone_settings.c.phone_id).where(
            t.phone_settings.c.name.in_(sorted(names))
        )
        by_line = (
            select(t.lines.c.phone_id)
            .join(t.line_settings, t.line_settings.c.line_id == t.lines.c.id)
            .where(t.line_settings.c.name.in_(sorted(names)))
        )
        return or_(t.phones.c.id.in_(by_phone), t.phones.c.id.in_(by_line))

    reached: list[ColumnElement[bool]] = [sets(tenant)] if tenant else []
    for name, names in groups.items():
        if names and name in ids.groups:
            members = select(t.group_members.c.phone_id).where(
                t.group_members.c.group_id == ids.groups[name]
            )
            reached.append(and_(t.phones.c.id.in_(members), sets(names)))
    if not reached:
        return []
    query = select(t.phones.c.id).where(t.phones.c.tenant_id == ids.tenant, or_(*reached))
    return list(conn.execute(query).scalars())


def phones_of_models(
    conn: Connection,
    ids: TenantIds,
    models: Collection[str] | None,
    groups: Collection[str] | None,
) -> list[int]:
    """Ids of the tenant's stored phones of ``models`` (``None``: any model): all of them,
    or (``groups``: names) the members of those groups."""
    query = select(t.phones.c.id).where(t.phones.c.tenant_id == ids.tenant)
    if models is not None:
        query = query.where(t.phones.c.model.in_(sorted(models)))
    if groups is not None:
        group_ids = sorted(ids.groups[name] for name in groups if name in ids.groups)
        if not group_ids:
            return []
        members = select(t.group_members.c.phone_id).where(
            t.group_members.c.group_id.in_(group_ids)
        )
        query = query.where(t.phones.c.id.in_(members))
    return list(conn.execute(query).scalars())


def phones_setting(conn: Connection, ids: TenantIds, name: str) -> list[int]:
    """Ids of the tenant's stored phones that set ``name`` themselves."""
    query = (
        select(t.phones.c.id)
        .join(t.phone_settings, t.phone_settings.c.phone_id == t.phones.c.id)
        .where(t.phones.c.tenant_id == ids.tenant, t.phone_settings.c.name == name)
    )
    return list(conn.execute(query).scalars())


def other_users(conn: Connection, ids: TenantIds, held: Collection[str]) -> frozenset[str]:
    """The line users of the tenant's stored phones whose MACs are not in ``held`` (those read)."""
    query = (
        select(t.lines.c.user_name)
        .join(t.phones, t.phones.c.id == t.lines.c.phone_id)
        .where(t.phones.c.tenant_id == ids.tenant)
    )
    if held:
        query = query.where(t.phones.c.mac.not_in(sorted(held)))
    return frozenset(conn.execute(query).scalars())


def add_phones(
    conn: Connection, ids: TenantIds, phone_ids: Collection[int], *states: TenantState
) -> None:
    """Read the tenant's phones ``phone_ids`` into each partial state of ``states``.

    Phones already loaded are skipped; each state gets its own copy, and
    its :attr:`~TenantState.loaded` grows by what was read. The stored
    phones stay in MAC order, ahead of phones the states hold that are not
    stored yet (new ones).
    """
    known = set(ids.phones.values())
    fresh = [i for i in phone_ids if i not in known]
    if not fresh:
        return
    read = load_phone_states(conn, fresh, ids)
    phones = sorted((phone for _, phone in read.values()), key=lambda p: p.mac)
    macs = frozenset(p.mac for p in phones)
    for index, state in enumerate(states):
        assert state.loaded is not None, "a whole state has every phone already"
        copies = phones if index == 0 else [copy_phone(p) for p in phones]
        stored = {mac: p for mac, p in state.phones.items() if mac in state.loaded}
        stored.update((p.mac, p) for p in copies if p.mac not in state.phones)
        new = {mac: p for mac, p in state.phones.items() if mac not in state.loaded}
        state.phones = {mac: stored[mac] for mac in sorted(stored)} | new
        state.loaded = state.loaded | macs


def load_phone_states(
    conn: Connection, phone_ids: Collection[int], record: TenantIds | None = None
) -> dict[int, tuple[str, PhoneState]]:
    """The phones of ``phone_ids`` with their groups, settings and lines, and their tenants' names.

    Five queries per few thousand phones, each on an index, each naming the
    ids themselves (a page of phones is a hundred at most). ``record`` gets
    the phones' and lines' row ids (a write of them needs those).
    """
    found: dict[int, tuple[str, PhoneState]] = {}
    every = list(phone_ids)
    for start in range(0, len(every), _CHUNK):
        found.update(_phone_states(conn, every[start : start + _CHUNK], record))
    return found


def _phone_states(
    conn: Connection, ids: list[int], record: TenantIds | None
) -> dict[int, tuple[str, PhoneState]]:
    found: dict[int, tuple[str, PhoneState]] = {}
    if not ids:
        return found
    p = t.phones
    query = (
        select(p.c.id, p.c.mac, p.c.model, p.c.description, p.c.enabled, t.tenants.c.name)
        .join(t.tenants, t.tenants.c.id == p.c.tenant_id)
        .where(p.c.id.in_(ids))
    )
    by_id: dict[int, PhoneState] = {}
    for row in conn.execute(query):
        by_id[row[0]] = PhoneState(row[1], row[2], row[3], row[4])
        found[row[0]] = (row[5], by_id[row[0]])
        if record is not None:
            record.phones[row[1]] = row[0]
    members = (
        select(t.group_members.c.phone_id, t.groups.c.name, t.groups.c.weight)
        .join(t.groups, t.groups.c.id == t.group_members.c.group_id)
        .where(t.group_members.c.phone_id.in_(ids))
    )
    weights: dict[tuple[int, str], int] = {}
    for m in conn.execute(members):
        by_id[m.phone_id].groups.append(m.name)
        weights[(m.phone_id, m.name)] = m.weight
    for phone_id, phone in by_id.items():
        phone.groups.sort(key=lambda g: (weights[(phone_id, g)], g))
    for phone_id, values in _settings(conn, t.phone_settings, "phone", ids).items():
        by_id[phone_id].settings = {n: v.value for n, v in values.items()}
    lines: dict[int, LineState] = {}
    line_query = select(t.lines).where(t.lines.c.phone_id.in_(ids))
    for ln in conn.execute(line_query.order_by(t.lines.c.phone_id, t.lines.c.position)):
        lines[ln.id] = LineState(
            ln.position, ln.user_name, ln.auth_user, ln.password, ln.display_name, ln.label
        )
        by_id[ln.phone_id].lines.append(lines[ln.id])
        if record is not None:
            record.lines[(by_id[ln.phone_id].mac, ln.position)] = ln.id
    if lines:
        for line_id, values in _settings(conn, t.line_settings, "line", list(lines)).items():
            lines[line_id].settings = {n: v.value for n, v in values.items()}
    return found

"""Tenants with their groups, phones, lines and settings: the one write path, and reads.

Each write is one transaction that loads the tenant's state, changes it in
memory, validates what the change touched (:func:`provisioner.check.check_change`;
``apply`` validates every tenant it is given whole, with
:func:`~provisioner.check.check_tenant`) and writes the difference. A single
edit loads only the part of the tenant it touches (:class:`~provisioner.state.Part`:
the tenant's head and groups, the phones it names), plus the phones a change
of locks reaches (:func:`widen`), so its cost does not grow with the tenant.
A write that would add a problem is refused with every new problem listed, and
nothing is stored. Problems that were already
there (say, a value made invalid by a catalog change) do not block unrelated
writes, but are reported by ``apply`` and by the write that touches them.
Single edits (add a phone, set a setting) are built on :meth:`change` by
:mod:`provisioner.edits`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, false, func, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from provisioner.audit import AuditEntry
from provisioner.catalog import Catalog
from provisioner.chars import check_text
from provisioner.check import KEY_SETTINGS, check_change, check_tenant
from provisioner.domain import ScopeKind, Snapshot
from provisioner.errors import ConflictError, NotFoundError, Problem, ValidationFailed
from provisioner.settings import Value
from provisioner.state import Part, PhoneState, TenantState, copy_tenant
from provisioner.store import _tables as t
from provisioner.store._audit import record_audit
from provisioner.store._engine import device_key
from provisioner.store._feed import Reach, announce, read_reach
from provisioner.store._phonebooks import (
    stored_phonebooks,
    sync_phonebooks,
    tenant_id_of,
    unknown_phonebooks,
    unlisted_phonebooks,
)
from provisioner.store._read import (
    Deferred,
    TenantIds,
    add_phones,
    decode_value,
    load_heads,
    load_phone_states,
    load_snapshot,
    load_tenant_part,
    load_tenant_state,
    locks_reach,
    other_users,
    phone_counts,
    phones_of_models,
    phones_setting,
    read_directory,
    read_phonebooks,
    span_end,
)
from provisioner.store._seen import latest_seen, seen_since
from provisioner.store._write import Changes, bump_revision, delete_phones, write_tenant

_M = TypeVar("_M")

__all__ = [
    "UNIQUE_PER_TENANT",
    "AuditHook",
    "Basis",
    "TenantRepository",
    "basis_of",
    "clashes",
    "load_for_change",
    "lock",
    "widen",
]

if TYPE_CHECKING:
    from provisioner.store._session import TenantSession

# What a write records (provisioner.audit): given a tenant's state before and
# after (None: absent), the audit entries, stored in the write's transaction.
AuditHook = Callable[[TenantState | None, TenantState | None], Sequence[AuditEntry]]


class _DryRun(Exception):
    """Raised inside a dry run's transaction so that it rolls back."""

    def __init__(self, changes: Changes, audit: Sequence[AuditEntry]) -> None:
        self.changes = changes
        self.audit = audit


# Tenant settings whose values identify a tenant, so two tenants may not share them.
UNIQUE_PER_TENANT = ("access.url_token", "access.ftp.user")


def clashes(conn: Connection, states: Iterable[TenantState], replaced: set[str]) -> list[Problem]:
    """Problems for identifying values that another tenant already uses.

    ``replaced`` names tenants whose stored values do not count (they are
    being rewritten by the same operation).
    """
    taken: dict[tuple[str, str], str] = {}
    rows = conn.execute(
        select(t.tenants.c.name, t.tenant_settings.c.name, t.tenant_settings.c.value)
        .join(t.tenants, t.tenants.c.id == t.tenant_settings.c.tenant_id)
        .where(t.tenant_settings.c.name.in_(UNIQUE_PER_TENANT))
    )
    for tenant, name, value in rows:
        if tenant not in replaced:
            taken[(name, str(decode_value(value)))] = tenant
    problems = []
    for state in states:
        for name in UNIQUE_PER_TENANT:
            value = state.settings.get(name)
            if not value:
                continue
            owner = taken.setdefault((name, str(value)), state.name)
            if owner != state.name:
                where = state.where or f"tenant:{state.name}"
                problems.append(Problem(where, f"{name} is already used by tenant {owner}"))
    return problems


def _names(conn: Connection) -> list[str]:
    return list(conn.execute(select(t.tenants.c.name).order_by(t.tenants.c.name)).scalars())


def _foreign_phones(conn: Connection, wanted: dict[str, TenantState], prune: bool) -> list[Problem]:
    """Phones listed under a tenant while stored under one the operation leaves alone."""
    if prune:
        return []
    owners = {
        row.mac: row.name
        for row in conn.execute(
            select(t.phones.c.mac, t.tenants.c.name).join(
                t.tenants, t.tenants.c.id == t.phones.c.tenant_id
            )
        )
    }
    problems = []
    for state in wanted.values():
        for phone in state.phones.values():
            owner = owners.get(phone.mac)
            if owner is not None and owner not in wanted:
                problems.append(
                    Problem(
                        phone.where,
                        f"phone {phone.mac} belongs to tenant {owner}, which this "
                        "file does not list (list it, or use --prune)",
                    )
                )
    return problems


def _collect(hook: AuditHook, into: list[AuditEntry]) -> AuditHook:
    """``hook``, keeping what it returns in ``into`` (written once the operation is done)."""

    def collect(before: TenantState | None, after: TenantState | None) -> Sequence[AuditEntry]:
        entries = hook(before, after)
        into.extend(entries)
        return entries

    return collect


def load_for_change(
    conn: Connection, name: str, create: TenantState | None, part: Part | None = None
) -> tuple[TenantState, TenantIds] | None:
    """Lock tenant ``name`` and load it for a write (``None``: it is to be created).

    ``part`` loads only the phones it names (a partial state); without it
    the whole tenant is loaded.

    :raises NotFoundError: when it does not exist and ``create`` is None.
    :raises ConflictError: when it exists and ``create`` is given.
    """
    # Before the name reaches the database driver, which cannot encode a surrogate.
    check_text(name, "tenant name")
    lock(conn, name)
    if part is None or create is not None:
        loaded = load_tenant_state(conn, name)
    else:
        loaded = load_tenant_part(conn, name, part)
    if loaded is None and create is None:
        raise NotFoundError(f"no tenant named {name!r}")
    if loaded is not None and create is not None:
        raise ConflictError(f"tenant {name!r} already exists")
    return loaded


# What the keys rule reads at one scope: each of KEY_SETTINGS, its value and lock.
_KeysRead = tuple[tuple[str, Value | None, bool], ...]


@dataclass(frozen=True, slots=True)
class Basis:
    """What a change is measured against for the rules that reach phones an edit did not
    touch: the tenant's and each group's locks; the tenant's platform and the values of
    the list settings some models cannot take every item of (``codecs``), at the tenant
    and at each group; what the keys rule reads there (``KEY_SETTINGS``, their locks, the
    groups' weights, for the groups that set or lock one); and the line users of the
    phones held."""

    tenant_locks: frozenset[str]
    group_locks: dict[str, frozenset[str]]
    platform: str
    tenant_lists: dict[str, Value]
    group_lists: dict[str, dict[str, Value]]
    tenant_keys: _KeysRead
    group_keys: dict[str, tuple[int, _KeysRead]]
    users: frozenset[str]


def _keys_of(
    settings: dict[str, Value], locked: set[str]
) -> tuple[tuple[str, Value | None, bool], ...]:
    return tuple((n, settings.get(n), n in locked) for n in KEY_SETTINGS)


def _sets_any(read: _KeysRead) -> bool:
    return any(value is not None or lock for _, value, lock in read)


def basis_of(state: TenantState, catalog: Catalog) -> Basis:
    """The :class:`Basis` of ``state`` as it is now."""
    names = catalog.restricted_lists
    return Basis(
        frozenset(state.locked),
        {n: frozenset(g.locked) for n, g in state.groups.items()},
        state.platform,
        {n: v for n, v in state.settings.items() if n in names},
        {g: {n: v for n, v in gs.settings.items() if n in names} for g, gs in state.groups.items()},
        _keys_of(state.settings, state.locked),
        {
            n: (g.weight, read)
            for n, g in state.groups.items()
            if _sets_any(read := _keys_of(g.settings, g.locked))
        },
        frozenset(line.user for p in state.phones.values() for line in p.lines),
    )


def widen(
    conn: Connection,
    catalog: Catalog,
    ids: TenantIds,
    before: Basis,
    after: TenantState,
    *also: TenantState,
) -> None:
    """Load into a partial ``after`` (and ``also``) the stored phones a change from
    ``before`` reaches, so that :func:`~provisioner.check.check_change` re-checks them.

    Four rules reach phones an edit did not touch (:mod:`provisioner.check`):

    - the lock rule: locking a name at the tenant reaches the phones that set
      it (or set it on a line), locking it at a group reaches the members that
      do; unlocking can only remove problems but is treated alike;
    - keys: a change of what the keys rule reads at the tenant reaches every
      phone of the tenant, at a group its members; a line user that goes
      away reaches the phones whose keys may watch it (all of them when the
      tenant has keys, a group's members when it has, and the phones with
      keys of their own);
    - a key layout policy's scope: removing a group reaches the phones whose
      ``keys.policy.scope`` may name it (all of them when the tenant or a
      group names it, else the phones that set the scope themselves);
    - restricted lists: a change of such a list (or of the platform, whose
      preset may set one) at the tenant reaches the tenant's phones, at a group
      its members — but only phones of a model that cannot take every item of
      some value of it the tenant, a group or the preset now holds (a phone of
      any other model resolves to a value it can take, whichever it is).

    Those phones are found with one query each, not by reading the tenant.
    A group created reaches no stored phone (none can name a group before it
    exists); a removed group's members are found while its rows still exist.
    """
    if after.loaded is None:
        return
    now = basis_of(after, catalog)
    tenant = set(before.tenant_locks ^ now.tenant_locks)
    groups = {
        name: set(locked ^ now.group_locks[name])
        for name, locked in before.group_locks.items()
        if name in now.group_locks
    }
    reached = locks_reach(conn, ids, tenant, groups) if tenant or any(groups.values()) else []
    reached += _lists_reach(conn, catalog, ids, before, now)
    reached += _keys_reach(conn, ids, before, now, after)
    gone = before.group_locks.keys() - now.group_locks.keys()
    if gone:
        reached += _scope_reach(conn, ids, after, gone)
    states = list({id(s): s for s in (after, *also)}.values())
    if reached:
        add_phones(conn, ids, reached, *states)
    if _has_keys(after):
        for state in states:
            state.other_users = other_users(conn, ids, state.loaded or ())


def _has_keys(state: TenantState) -> bool:
    """Whether any scope ``state`` holds sets keys (then the keys rule needs every line user)."""
    scopes = [state.settings, *(g.settings for g in state.groups.values())]
    scopes += [p.settings for p in state.phones.values()]
    return any(scope.get("keys") for scope in scopes)


def _keys_reach(
    conn: Connection, ids: TenantIds, before: Basis, now: Basis, after: TenantState
) -> list[int]:
    """Stored phones a change of what the keys rule reads, or a removed line user, reaches."""
    if before.tenant_keys != now.tenant_keys:
        return phones_of_models(conn, ids, None, None)
    groups = {
        name
        for name in before.group_keys.keys() | now.group_keys.keys()
        if before.group_keys.get(name) != now.group_keys.get(name)
    }
    if before.users - now.users:
        if after.settings.get("keys"):
            return phones_of_models(conn, ids, None, None)
        groups |= {name for name, g in after.groups.items() if g.settings.get("keys")}
        reached = phones_setting(conn, ids, "keys")
    else:
        reached = []
    if groups:
        reached += phones_of_models(conn, ids, None, groups)
    return reached


def _scope_reach(
    conn: Connection, ids: TenantIds, after: TenantState, gone: Collection[str]
) -> list[int]:
    """Stored phones whose key layout policy may name a removed group (``keys.policy.scope``)."""
    scopes = [after.settings, *(g.settings for g in after.groups.values())]
    if any(scope.get("keys.policy.scope") in gone for scope in scopes):
        return phones_of_models(conn, ids, None, None)
    return phones_setting(conn, ids, "keys.policy.scope")


def _lists_reach(
    conn: Connection, catalog: Catalog, ids: TenantIds, before: Basis, now: Basis
) -> list[int]:
    """Stored phones a change of a restricted list setting (or the platform) reaches."""
    whole = before.platform != now.platform or before.tenant_lists != now.tenant_lists
    changed = {
        name
        for name in before.group_lists.keys() | now.group_lists.keys()
        if before.group_lists.get(name) != now.group_lists.get(name)
    }
    if not whole and not changed:
        return []
    preset = catalog.presets.get(now.platform)
    values = [now.tenant_lists, *now.group_lists.values()]
    if preset is not None:
        values.append({n: v for n, v in preset.defaults.items() if n in catalog.restricted_lists})
    models = sorted(
        model.id
        for model in catalog.models.values()
        if any(
            (items := catalog.supported_items(name, model)) is not None
            and isinstance(value, tuple)
            and not set(value) <= set(items)
            for scope in values
            for name, value in scope.items()
        )
    )
    if not models:
        return []
    return phones_of_models(conn, ids, models, None if whole else changed)


def lock(conn: Connection, name: str) -> None:
    """Hold tenant ``name``'s row until the transaction ends, before reading its state.

    A no-op UPDATE: PostgreSQL locks the row, so two writers of one tenant
    take turns instead of both writing over what the other read; SQLite
    starts the write transaction here, so the read that follows is in it.
    """
    conn.execute(
        update(t.tenants).where(t.tenants.c.name == name).values(revision=t.tenants.c.revision)
    )


class TenantRepository:
    """Tenants and everything under them, in SQLite or PostgreSQL."""

    def __init__(self, engine: Engine, catalog: Catalog) -> None:
        self.engine = engine
        self.catalog = catalog

    # --- reads -----------------------------------------------------------

    def snapshot(
        self, macs: Collection[str] | None = None, tenant_ids: Collection[int] | None = None
    ) -> Snapshot:
        """Everything rendering needs (optionally for some phones or tenants only)."""
        with self.engine.connect() as conn:
            return load_snapshot(conn, macs, tenant_ids)

    def part_snapshot(
        self, tenant_id: int, macs: Collection[str], group_ids: Collection[int]
    ) -> Snapshot:
        """What rendering needs for one tenant's phones in ``macs`` or in groups ``group_ids``.

        The tenant's directory and phonebooks are read only if rendering asks
        for them (:class:`Deferred`).
        """
        with self.engine.connect() as conn:
            snap = load_snapshot(conn, part=(tenant_id, macs, group_ids), tenant_wide=False)
        snap.directory = Deferred(lambda: self._read(read_directory, tenant_id))
        snap.phonebooks = Deferred(lambda: self._read(read_phonebooks, tenant_id))
        return snap

    def slice_snapshot(self, tenant_id: int, after: str, size: int) -> tuple[Snapshot, str | None]:
        """What rendering needs for the next ``size`` phones of a tenant by MAC, after ``after``.

        Returns the snapshot and the last MAC it covers, ``None`` when it
        covers the rest of the tenant (then it may hold more than ``size``:
        phones added meanwhile). The tenant's own rows (its settings, groups)
        are read with every slice; its directory and phonebooks only if
        rendering asks for them (:class:`Deferred`), as :meth:`part_snapshot`.
        """
        with self.engine.connect() as conn:
            upto = span_end(conn, tenant_id, after, size)
            snap = load_snapshot(conn, span=(tenant_id, after, upto), tenant_wide=False)
        snap.directory = Deferred(lambda: self._read(read_directory, tenant_id))
        snap.phonebooks = Deferred(lambda: self._read(read_phonebooks, tenant_id))
        return snap, upto

    def phone_counts(self) -> dict[int, int]:
        """How many phones each tenant has, by tenant id (tenants without phones left out)."""
        with self.engine.connect() as conn:
            return phone_counts(conn)

    def _read(self, read: Callable[[Connection, list[int]], _M], tenant_id: int) -> _M:
        with self.engine.connect() as conn:
            return read(conn, [tenant_id])

    def reach(self, tenant_id: int, after: int, upto: int) -> Reach:
        """What the tenant's revisions after ``after`` up to ``upto`` changed (the change feed)."""
        with self.engine.connect() as conn:
            return read_reach(conn, tenant_id, after, upto)

    def heads(self, tenant_ids: Collection[int]) -> Snapshot:
        """Just the tenants and their own settings: what tenant-wide policy reads."""
        with self.engine.connect() as conn:
            return load_heads(conn, tenant_ids)

    def head(self, name: str) -> Snapshot:
        """One tenant and its own settings, as :meth:`heads` reads them."""
        with self.engine.connect() as conn:
            tenant_id = conn.execute(
                select(t.tenants.c.id).where(t.tenants.c.name == name)
            ).scalar()
            if tenant_id is None:
                raise NotFoundError(f"no tenant named {name!r}")
            return load_heads(conn, [tenant_id])

    def device_key(self) -> bytes:
        """The server secret created at the first migration (shared by every node)."""
        with self.engine.connect() as conn:
            return device_key(conn)

    def revisions(self) -> dict[int, int]:
        """Every tenant's id and revision: what servers poll to keep caches fresh."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.tenants.c.id, t.tenants.c.revision))
            return {row.id: row.revision for row in rows}

    def tenant_heads(self) -> list[TenantState]:
        """Every tenant's own fields, settings and locks (no groups, no phones), by name."""
        with self.engine.connect() as conn:
            snap = load_heads(conn, list(conn.execute(select(t.tenants.c.id)).scalars()))
        heads = []
        for tenant in snap.tenants.values():
            values = snap.settings.get((ScopeKind.TENANT, tenant.id), {})
            heads.append(
                TenantState(
                    tenant.name,
                    tenant.sip_domain,
                    tenant.platform,
                    tenant.description,
                    settings={n: v.value for n, v in values.items()},
                    locked={n for n, v in values.items() if v.locked},
                )
            )
        return sorted(heads, key=lambda h: h.name)

    def names(self) -> list[str]:
        """Names of all tenants, sorted."""
        with self.engine.connect() as conn:
            return _names(conn)

    def state(self, name: str, part: Part | None = None) -> TenantState:
        """One tenant with everything under it, or only the phones ``part`` names (a
        partial state: the tenant's own fields, settings and groups are all there)."""
        with self.engine.connect() as conn:
            if part is None:
                loaded = load_tenant_state(conn, name)
            else:
                loaded = load_tenant_part(conn, name, part)
        if loaded is None:
            raise NotFoundError(f"no tenant named {name!r}")
        return loaded[0]

    def all_states(self) -> list[TenantState]:
        """Every tenant's state (one connection), sorted by name."""
        with self.engine.connect() as conn:
            states = []
            for name in _names(conn):
                loaded = load_tenant_state(conn, name)
                assert loaded is not None
                states.append(loaded[0])
            return states

    def phone_page(
        self,
        *,
        tenants: Collection[str] | None = None,
        group: str | None = None,
        model: str | None = None,
        enabled: bool | None = None,
        search: str | None = None,
        firmware: str | None = None,
        seen_after: float | None = None,
        unseen_since: float | None = None,
        order: str = "mac",
        descending: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[tuple[str, PhoneState]], int]:
        """One page of phones (with their tenant's name) and how many match in all.

        ``tenants`` limits the tenants; ``group`` is a group name in them;
        ``search`` is text found (ignoring case) in the description, a
        line's user or display name, or the MAC in any spelling;
        ``firmware`` is the firmware a phone reported in its latest request,
        exactly; ``seen_after`` keeps phones that asked for anything at that
        time or later, ``unseen_since`` those that did not (never seen ones
        included); ``order`` is ``mac``, ``model``, ``tenant`` or ``description``.
        """
        p = t.phones
        where: list[ColumnElement[bool]] = []
        if search:
            where.append(_search(search, self.engine.dialect.name))
        if firmware is not None:
            latest = latest_seen()
            where.append(p.c.mac.in_(select(latest.c.mac).where(latest.c.firmware == firmware)))
        if seen_after is not None:
            where.append(p.c.mac.in_(seen_since(seen_after)))
        if unseen_since is not None:
            where.append(p.c.mac.not_in(seen_since(unseen_since)))
        if tenants is not None:
            named = select(t.tenants.c.id).where(t.tenants.c.name.in_(list(tenants)))
            where.append(p.c.tenant_id.in_(named))
        if model is not None:
            where.append(p.c.model == self.catalog.model(model).id)
        if enabled is not None:
            where.append(p.c.enabled.is_(enabled))
        if group is not None:
            members = (
                select(t.group_members.c.phone_id)
                .join(t.groups, t.groups.c.id == t.group_members.c.group_id)
                .where(t.groups.c.name == group, t.groups.c.tenant_id == p.c.tenant_id)
            )
            where.append(p.c.id.in_(members))
        # The count and the page read the phones table alone (the tenants'
        # names only to sort by them): the count is one pass over an index,
        # the page's rows are then loaded by id (load_phone_states).
        total = select(func.count(p.c.id)).where(*where)
        page = select(p.c.id).where(*where)
        column: ColumnElement[Any]
        if order == "tenant":
            page = page.join(t.tenants, t.tenants.c.id == p.c.tenant_id)
            column = t.tenants.c.name
        else:
            column = {"mac": p.c.mac, "model": p.c.model, "description": p.c.description}[order]
        keys = (column.desc(), p.c.mac.desc()) if descending else (column, p.c.mac)
        with self.engine.connect() as conn:
            if search:
                # A search scans anyway: one pass gives the count and the page.
                matched = list(conn.execute(page.order_by(*keys)).scalars())
                count, ids = len(matched), matched[offset : offset + limit]
            else:
                count = conn.execute(total).scalar_one()
                ids = list(conn.execute(page.order_by(*keys).limit(limit).offset(offset)).scalars())
            states = load_phone_states(conn, ids)
        return [states[i] for i in ids], int(count)

    def row_ids(self, name: str) -> tuple[dict[str, int], dict[str, int]]:
        """A tenant's group ids by name and phone ids by MAC.

        Row ids stay with a group or phone for its life (edits update rows in
        place), so the sipXconfig-compatible paths can offer them as the
        numeric ids sipXconfig's clients expect (docs/sipxcom-rest.md).
        """
        with self.engine.connect() as conn:
            tenant_id = conn.execute(
                select(t.tenants.c.id).where(t.tenants.c.name == name)
            ).scalar()
            if tenant_id is None:
                raise NotFoundError(f"no tenant named {name!r}")
            groups = conn.execute(
                select(t.groups.c.name, t.groups.c.id).where(t.groups.c.tenant_id == tenant_id)
            )
            phones = conn.execute(
                select(t.phones.c.mac, t.phones.c.id).where(t.phones.c.tenant_id == tenant_id)
            )
            return {r.name: r.id for r in groups}, {r.mac: r.id for r in phones}

    def tenant_of(self, mac: str) -> str:
        """The name of the tenant a phone belongs to."""
        with self.engine.connect() as conn:
            return self.tenant_on(conn, mac)

    def phones_for(
        self,
        *,
        group: tuple[str, str] | None = None,
        tenant: str | None = None,
        model: str | None = None,
        macs: Sequence[str] | None = None,
    ) -> list[tuple[str, int]]:
        """Enabled phones (MAC, tenant id) a send-profiles selector names."""
        query = select(t.phones.c.mac, t.phones.c.tenant_id).where(t.phones.c.enabled.is_(True))
        if macs is not None:
            query = query.where(t.phones.c.mac.in_(list(macs)))
        if tenant is not None:
            query = query.join(t.tenants, t.tenants.c.id == t.phones.c.tenant_id).where(
                t.tenants.c.name == tenant
            )
        if model is not None:
            query = query.where(t.phones.c.model == self.catalog.model(model).id)
        if group is not None:
            group_ids = (
                select(t.groups.c.id)
                .join(t.tenants, t.tenants.c.id == t.groups.c.tenant_id)
                .where(t.tenants.c.name == group[0], t.groups.c.name == group[1])
            )
            members = select(t.group_members.c.phone_id).where(
                t.group_members.c.group_id.in_(group_ids)
            )
            query = query.where(t.phones.c.id.in_(members))
        with self.engine.connect() as conn:
            return [
                (row.mac, row.tenant_id) for row in conn.execute(query.order_by(t.phones.c.mac))
            ]

    # --- writes ----------------------------------------------------------

    def change(
        self,
        name: str,
        mutate: Callable[[TenantState], None],
        *,
        create: TenantState | None = None,
        part: Part | None = None,
        audit: AuditHook | None = None,
        dry_run: bool = False,
    ) -> Changes:
        """Load tenant ``name`` (or start from ``create``), apply ``mutate``, validate, write.

        ``part`` names the phones ``mutate`` reads or changes: only they are
        loaded (a partial state; without it, the whole tenant).

        ``audit`` gives the entries recorded with the write (only when
        something changed). With ``dry_run`` everything happens (checks,
        writes) and is then rolled back; the audit entries are recorded on
        their own, marked as a dry run by their actor.

        :raises ValidationFailed: listing the problems the change would add.
        """
        changes: Changes = Changes()
        try:
            with self.engine.begin() as conn:
                changes, entries, _, _ = self.change_on(conn, name, mutate, create, audit, part)
                if dry_run:
                    raise _DryRun(changes, entries)
                record_audit(conn, entries)
        except _DryRun as rolled_back:
            self._record_apart(rolled_back.audit)
        return changes

    def change_on(
        self,
        conn: Connection,
        name: str,
        mutate: Callable[[TenantState], None],
        create: TenantState | None,
        audit: AuditHook | None,
        part: Part | None = None,
    ) -> tuple[Changes, list[AuditEntry], TenantState | None, TenantState]:
        """The body of :meth:`change` on the caller's transaction, audit entries not stored.

        Returns what was written, the audit entries, and the tenant's state
        before (``None``: created) and after (partial when ``part`` is given).
        """
        changes = Changes()
        loaded = load_for_change(conn, name, create, part)
        state = copy_tenant(loaded[0]) if loaded is not None else create
        assert state is not None
        mutate(state)
        if loaded is not None:
            widen(
                conn, self.catalog, loaded[1], basis_of(loaded[0], self.catalog), state, loaded[0]
            )
        new = check_change(self.catalog, loaded[0] if loaded else None, state)
        new += clashes(conn, [state], {name})
        new += unknown_phonebooks(conn, loaded[0] if loaded else None, state)
        if new:
            raise ValidationFailed(new)
        try:
            write_tenant(conn, loaded, state, changes)
        except IntegrityError as exc:
            raise ConflictError(f"the change conflicts with stored data: {exc.orig}") from None
        before = loaded[0] if loaded else None
        entries = list(audit(before, state)) if audit and changes else []
        return changes, entries, before, state

    @contextmanager
    def session(self, *, commit: bool) -> Iterator[TenantSession]:
        """One transaction for several writes (:class:`TenantSession`).

        When the block ends, the writes are committed with their audit
        entries (``commit``) or rolled back, their audit entries then
        recorded on their own (a preview: the actor marks them dry-run). An
        exception rolls everything back and records nothing.
        """
        from provisioner.store._session import TenantSession  # it builds on this module

        with self.engine.connect() as conn:
            transaction = conn.begin()
            if conn.dialect.name == "sqlite":
                # Take SQLite's write lock now: a session reads before its first write,
                # and a read transaction cannot become a write one once another
                # connection has committed (SQLITE_BUSY_SNAPSHOT).
                conn.execute(update(t.tenants).where(false()).values(revision=t.tenants.c.revision))
            session = TenantSession(self, conn)
            try:
                yield session
                session.flush()
                if commit:
                    record_audit(conn, session.audit)
                    transaction.commit()
                else:
                    transaction.rollback()
            except BaseException:
                transaction.rollback()
                raise
        if not commit:
            self._record_apart(session.audit)

    def _record_apart(self, entries: Sequence[AuditEntry]) -> None:
        """Audit entries of a dry run, in a transaction of their own."""
        if entries:
            with self.engine.begin() as conn:
                record_audit(conn, entries)

    def remove(self, name: str, *, audit: AuditHook | None = None, dry_run: bool = False) -> None:
        """Delete a tenant and everything under it (a ``dry_run`` is rolled back)."""
        try:
            with self.engine.begin() as conn:
                entries, _ = self.remove_on(conn, name, audit)
                if dry_run:
                    raise _DryRun(Changes(), entries)
                record_audit(conn, entries)
        except _DryRun as rolled_back:
            self._record_apart(rolled_back.audit)

    def remove_on(
        self, conn: Connection, name: str, audit: AuditHook | None
    ) -> tuple[list[AuditEntry], TenantState]:
        """The body of :meth:`remove` on the caller's transaction: the audit entries and
        the tenant's state before."""
        lock(conn, name)
        loaded = load_tenant_state(conn, name)
        if loaded is None:
            raise NotFoundError(f"no tenant named {name!r}")
        conn.execute(t.tenants.delete().where(t.tenants.c.name == name))
        announce(conn, loaded[1].tenant, -1)
        return (list(audit(loaded[0], None)) if audit is not None else []), loaded[0]

    def tenant_on(self, conn: Connection, mac: str) -> str:
        """:meth:`tenant_of` on the caller's transaction."""
        name = conn.execute(
            select(t.tenants.c.name)
            .join(t.phones, t.phones.c.tenant_id == t.tenants.c.id)
            .where(t.phones.c.mac == mac)
        ).scalar()
        if name is None:
            raise NotFoundError(f"no phone with MAC {mac}")
        return str(name)

    def apply(
        self,
        tenants: Iterable[TenantState],
        *,
        prune: bool = False,
        audit: AuditHook | None = None,
        dry_run: bool = False,
    ) -> Changes:
        """Make the stored tenants match ``tenants``, all or nothing.

        Tenants not listed are left alone unless ``prune``. Phones may move
        between listed tenants. Every problem is reported at once. ``audit``
        is asked about every tenant the operation changed or deleted. A
        ``dry_run`` is rolled back, as in :meth:`change`.
        """
        changes: Changes = Changes()
        entries: list[AuditEntry] = []
        try:
            with self.engine.begin() as conn:
                hook = None if audit is None else _collect(audit, entries)
                self.apply_on(conn, tenants, prune, changes, hook)
                if dry_run:
                    raise _DryRun(changes, entries)
                record_audit(conn, entries)
        except _DryRun:
            self._record_apart(entries)
        return changes

    def apply_on(
        self,
        conn: Connection,
        tenants: Iterable[TenantState],
        prune: bool,
        changes: Changes,
        audit: AuditHook | None,
    ) -> None:
        """The body of :meth:`apply` on the caller's transaction (``conn``)."""
        wanted = {state.name: state for state in tenants}
        problems: list[Problem] = []
        for state in wanted.values():
            problems.extend(check_tenant(self.catalog, state))
        problems += _foreign_phones(conn, wanted, prune)
        # Tenants this operation rewrites (or, with prune, deletes) free their values.
        replaced = set(_names(conn)) if prune else set(wanted)
        problems += clashes(conn, wanted.values(), replaced | set(wanted))
        for state in wanted.values():
            problems += unlisted_phonebooks(state)
        if problems:
            raise ValidationFailed(problems)
        if prune:
            for name in _names(conn):
                if name not in wanted:
                    gone = load_tenant_state(conn, name)
                    conn.execute(t.tenants.delete().where(t.tenants.c.name == name))
                    changes["tenant removed"] += 1
                    if audit is not None and gone is not None:
                        audit(gone[0], None)
        loaded: dict[str, tuple[TenantState, TenantIds] | None] = {
            name: load_tenant_state(conn, name) for name in wanted
        }
        earlier = {name: copy_tenant(e[0]) for name, e in loaded.items() if e} if audit else {}
        # Remove phones leaving a tenant first, so one may reappear in another.
        for name, entry in loaded.items():
            if entry is None:
                continue
            before, ids = entry
            leaving = [mac for mac in before.phones if mac not in wanted[name].phones]
            delete_phones(conn, [ids.phones[mac] for mac in leaving], changes)
            for mac in leaving:
                del before.phones[mac]
            if leaving:
                bump_revision(conn, ids.tenant)
        for name, state in wanted.items():
            touched = Changes()
            write_tenant(conn, loaded[name], state, touched)
            old = earlier.get(name)
            if state.phonebooks is not None:
                # In the same transaction, after the tenant exists (docs/phonebooks.md).
                entry = loaded[name]
                tenant_id = entry[1].tenant if entry is not None else tenant_id_of(conn, name)
                stored = stored_phonebooks(conn, tenant_id)
                if old is not None:
                    old.phonebooks = stored  # what the audit entry compares against
                sync_phonebooks(conn, tenant_id, stored, state.phonebooks, touched)
            changes.update(touched)
            if audit is not None and (touched or (old and old.phones.keys() - state.phones)):
                audit(old, state)


# What a MAC typed with separators (00-04-f2-…, 0004.f2…, 00:04:…) is stripped of.
_MAC_SEPARATORS = re.compile(r"[\s:.\-]")
_HEX = re.compile(r"[0-9a-f]+")


def _search(text: str, dialect: str) -> ColumnElement[bool]:
    """Phones whose description, a line's user or display name holds ``text`` (any case),
    or whose MAC holds it once separators are taken out.

    SQLite's LIKE ignores the case of ASCII letters already (its documentation,
    "The LIKE, GLOB, REGEXP, MATCH, and extract operators"), and is several
    times faster than ``lower(x) LIKE`` over 10,000 phones; PostgreSQL has ILIKE.
    """
    needle = text.strip().lower()
    p, ln = t.phones, t.lines

    def holds(column: ColumnElement[str]) -> ColumnElement[bool]:
        if dialect == "sqlite":
            return column.contains(needle, autoescape=True)
        return column.icontains(needle, autoescape=True)

    in_lines = select(ln.c.phone_id).where(or_(holds(ln.c.user_name), holds(ln.c.display_name)))
    found = [holds(p.c.description), p.c.id.in_(in_lines)]
    bare = _MAC_SEPARATORS.sub("", needle)
    if bare and _HEX.fullmatch(bare):
        found.append(p.c.mac.contains(bare, autoescape=True))
    return or_(*found)

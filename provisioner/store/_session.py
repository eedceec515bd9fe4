"""Several writes in one transaction: what ``POST /changes`` and every preview run on.

A :class:`TenantSession` offers the same write methods as
:class:`~provisioner.store.TenantRepository` (so :mod:`provisioner.edits`
work over it unchanged), but every write joins one open transaction and
nothing is committed here: :meth:`TenantRepository.session` commits it
with every audit entry, or rolls it back (a preview) and records the audit
entries on their own. The session remembers each tenant's state before its
first write and after its last, which is what a preview renders.

Each tenant is loaded and locked once, changed in memory by every write,
then validated once and written once (:meth:`TenantSession.flush`), so a
change set of many edits of one large tenant costs about what one edit
does. As with a single write, only the part of a tenant the edits touch is
loaded (:class:`~provisioner.state.Part`); a later edit of the same tenant
adds the phones it names to what is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from provisioner.audit import AuditEntry
from provisioner.catalog import Catalog
from provisioner.check import check_change
from provisioner.domain import Snapshot
from provisioner.errors import ConflictError, NotFoundError, ValidationFailed
from provisioner.state import Part, TenantState, copy_tenant
from provisioner.store import _tables as t
from provisioner.store._engine import device_key
from provisioner.store._feed import Reach
from provisioner.store._read import (
    TenantIds,
    add_phones,
    load_heads,
    load_snapshot,
    load_tenant_part,
    load_tenant_state,
    part_phone_ids,
)
from provisioner.store._tenants import (
    AuditHook,
    TenantRepository,
    basis_of,
    clashes,
    load_for_change,
    widen,
)
from provisioner.store._write import Changes, write_tenant

__all__ = ["TenantSession"]


@dataclass(slots=True)
class _Work:
    """A tenant the session changes: as stored (with row ids), as changed so far."""

    stored: tuple[TenantState, TenantIds] | None
    current: TenantState
    # As it was before the session: the problems it had then do not block a write.
    base: TenantState | None = None
    flushed: bool = True
    stale: bool = False  # flushed since ``stored`` was read: read it again before a write


class TenantSession:
    """The tenant writes of one transaction (the ``TenantWriter`` protocol of the edits).

    A tenant is loaded (and its row locked) once, at its first write; each
    write then changes that state in memory, and :meth:`flush` validates
    each changed tenant once (refusing only problems it did not have before)
    and writes the difference. Reads through the session see the changes.
    So a change set of a thousand edits of one tenant costs one load, one
    validation and one write, not a thousand.
    """

    def __init__(self, repository: TenantRepository, conn: Connection) -> None:
        self.repository = repository
        self.conn = conn
        self.audit: list[AuditEntry] = []
        self.changes = Changes()
        # Tenant name → (state before the session's first write of it, state after its last);
        # partial states when the edits loaded part of the tenant.
        self.touched: dict[str, tuple[TenantState | None, TenantState | None]] = {}
        # Tenant name → (its id, what the session's writes of it reached).
        self.reached: dict[str, tuple[int, Reach]] = {}
        self._work: dict[str, _Work] = {}

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
        """:meth:`TenantRepository.change` inside the session, written at :meth:`flush`.

        ``dry_run`` is the session's; what was written is counted in
        :attr:`changes` when flushed (the answer here is empty).
        """
        work = self._work.get(name)
        if work is None:
            stored = load_for_change(self.conn, name, create, part)
            if stored is None:
                assert create is not None
                work = _Work(None, create)
            else:
                work = _Work(stored, copy_tenant(stored[0]), stored[0])
            self._work[name] = work
        elif create is not None:
            raise ConflictError(f"tenant {name!r} already exists")
        else:
            self._load_more(name, work, part)
        basis = basis_of(work.current, self.repository.catalog)
        mutate(work.current)
        if work.stored is not None:
            # The phones this edit's change of locks or lists reaches (the session's net
            # change, which check_change widens by, is made of the edits' changes).
            widen(
                self.conn,
                self.repository.catalog,
                work.stored[1],
                basis,
                work.current,
                *self._states(work),
            )
        work.flushed = False
        if audit is not None:
            self.audit.extend(audit(work.current, work.current))
        return Changes()

    def _load_more(self, name: str, work: _Work, part: Part | None) -> None:
        """Bring ``work`` up to date for a further edit that reads ``part``."""
        current = work.current
        if work.stale:
            # What is stored now: what the session wrote, with the phones it loaded.
            loaded = current.loaded
            if loaded is None:
                work.stored = load_tenant_state(self.conn, name)
            else:
                work.stored = load_tenant_part(self.conn, name, Part(frozenset(current.phones)))
                assert work.stored is not None
                current.loaded = work.stored[0].loaded
            work.stale = False
        if current.loaded is None or work.stored is None or part is None:
            if part is None and current.loaded is not None:
                self._load_whole(name, work)
            return
        ids = work.stored[1]
        add_phones(self.conn, ids, part_phone_ids(self.conn, ids, part), *self._states(work))

    def _load_whole(self, name: str, work: _Work) -> None:
        """Load the rest of a partially loaded tenant (an edit that reads all of it)."""
        assert work.stored is not None
        ids = work.stored[1]
        every = self.conn.execute(
            select(t.phones.c.id).where(t.phones.c.tenant_id == ids.tenant)
        ).scalars()
        add_phones(self.conn, ids, list(every), *self._states(work))

    def _states(self, work: _Work) -> list[TenantState]:
        """The partial states of ``work`` to load phones into (each once)."""
        assert work.stored is not None
        candidates = (work.stored[0], work.base, work.current)
        unique = {id(s): s for s in candidates if s is not None and s.loaded is not None}
        return list(unique.values())

    def flush(self) -> None:
        """Validate and write every tenant changed since the last flush.

        :raises ValidationFailed: listing the problems the changes would add.
        """
        catalog = self.repository.catalog
        for name, work in self._work.items():
            if work.flushed:
                continue
            state = work.current
            new = check_change(catalog, work.base, state)
            new += clashes(self.conn, [state], {name})
            if new:
                raise ValidationFailed(new)
            changes = Changes()
            try:
                reach = write_tenant(self.conn, work.stored, state, changes)
            except IntegrityError as exc:
                raise ConflictError(f"the change conflicts with stored data: {exc.orig}") from None
            self.changes.update(changes)
            if changes and work.stored is not None:
                tenant_id = work.stored[1].tenant
                self.reached.setdefault(name, (tenant_id, Reach()))[1].merge(reach)
            if changes:
                before = None if work.stored is None else work.stored[0]
                self.touched[name] = (self.touched.get(name, (before, None))[0], state)
            # What is stored now is read again only if the session writes the tenant again.
            work.stale = True
            work.flushed = True

    def _forget(self) -> None:
        """Flush, then drop the loaded states (a write is about to bypass them)."""
        self.flush()
        self._work.clear()

    def remove(self, name: str, *, audit: AuditHook | None = None, dry_run: bool = False) -> None:
        """:meth:`TenantRepository.remove` inside the session."""
        self._forget()
        entries, before = self.repository.remove_on(self.conn, name, audit)
        self.audit.extend(entries)
        self.changes["tenant removed"] += 1
        self.touched[name] = (self.touched.get(name, (before, None))[0], None)

    def apply(
        self,
        tenants: Iterable[TenantState],
        *,
        prune: bool = False,
        audit: AuditHook | None = None,
        dry_run: bool = False,
    ) -> Changes:
        """:meth:`TenantRepository.apply` inside the session."""
        self._forget()

        def hook(before: TenantState | None, after: TenantState | None) -> Sequence[AuditEntry]:
            state = after or before
            assert state is not None
            self.touched[state.name] = (self.touched.get(state.name, (before, None))[0], after)
            entries = list(audit(before, after)) if audit is not None else []
            self.audit.extend(entries)
            return entries

        changes = Changes()
        self.repository.apply_on(self.conn, list(tenants), prune, changes, hook)
        self.changes.update(changes)
        return changes

    def tenant_of(self, mac: str) -> str:
        """The tenant of a phone, as this transaction sees it."""
        for name, work in self._work.items():
            if mac in work.current.phones:
                return name
        owner = self.repository.tenant_on(self.conn, mac)
        held = self._work.get(owner)
        if held is not None and (held.current.loaded is None or mac in held.current.loaded):
            raise NotFoundError(f"no phone with MAC {mac}")  # stored there, removed in this session
        return owner

    def reached_macs(self, name: str) -> set[str]:
        """MACs of the phones the session's writes of tenant ``name`` reached, as the change
        feed records it: every phone of the tenant (as this transaction sees it) when the
        tenant's head or directory moved, else the phones named and the changed groups'
        members. Phones removed are named too."""
        if name not in self.reached:
            return set()
        tenant_id, reach = self.reached[name]
        macs = set(reach.macs)
        if reach.whole or reach.directory:
            return macs | set(self.phone_macs(name))
        phones = select(t.phones.c.mac).where(t.phones.c.tenant_id == tenant_id)
        if reach.groups:
            members = select(t.group_members.c.phone_id).where(
                t.group_members.c.group_id.in_(sorted(reach.groups))
            )
            macs.update(self.conn.execute(phones.where(t.phones.c.id.in_(members))).scalars())
        return macs

    def phone_macs(self, name: str) -> list[str]:
        """MACs of every phone of tenant ``name``, as this transaction sees them."""
        self.flush()
        query = (
            select(t.phones.c.mac)
            .join(t.tenants, t.tenants.c.id == t.phones.c.tenant_id)
            .where(t.tenants.c.name == name)
        )
        return list(self.conn.execute(query).scalars())

    def device_key(self) -> bytes:
        """The server secret (the versions' key)."""
        return device_key(self.conn)

    @property
    def catalog(self) -> Catalog:
        """The catalog writes are validated with."""
        return self.repository.catalog

    def snapshot(self, macs: Iterable[str]) -> Snapshot:
        """What rendering needs of some phones, as this transaction sees them."""
        self.flush()
        return load_snapshot(self.conn, list(macs))

    def state(self, name: str, part: Part | None = None) -> TenantState:
        """One tenant with everything under it (or the phones ``part`` names, at least),
        as this transaction sees it."""
        work = self._work.get(name)
        if work is not None and work.current.loaded is None:
            return work.current
        if work is not None and part is not None:
            self._load_more(name, work, part)
            return work.current
        self.flush()  # a partial state is written, then the tenant read
        if part is None:
            loaded = load_tenant_state(self.conn, name)
        else:
            loaded = load_tenant_part(self.conn, name, part)
        if loaded is None:
            raise NotFoundError(f"no tenant named {name!r}")
        return loaded[0]

    def head(self, name: str) -> Snapshot:
        """One tenant and its own settings, as this transaction sees them."""
        self.flush()
        tenant_id = self.conn.execute(
            select(t.tenants.c.id).where(t.tenants.c.name == name)
        ).scalar()
        if tenant_id is None:
            raise NotFoundError(f"no tenant named {name!r}")
        return load_heads(self.conn, [tenant_id])

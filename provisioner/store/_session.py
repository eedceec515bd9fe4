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
does.
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
from provisioner.state import TenantState, copy_tenant
from provisioner.store import _tables as t
from provisioner.store._engine import device_key
from provisioner.store._read import TenantIds, load_heads, load_snapshot, load_tenant_state
from provisioner.store._tenants import AuditHook, TenantRepository, clashes, load_for_change
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
        # Tenant name → (state before the session's first write of it, state after its last).
        self.touched: dict[str, tuple[TenantState | None, TenantState | None]] = {}
        self._work: dict[str, _Work] = {}

    def change(
        self,
        name: str,
        mutate: Callable[[TenantState], None],
        *,
        create: TenantState | None = None,
        audit: AuditHook | None = None,
        dry_run: bool = False,
    ) -> Changes:
        """:meth:`TenantRepository.change` inside the session, written at :meth:`flush`.

        ``dry_run`` is the session's; what was written is counted in
        :attr:`changes` when flushed (the answer here is empty).
        """
        work = self._work.get(name)
        if work is None:
            stored = load_for_change(self.conn, name, create)
            if stored is None:
                assert create is not None
                work = _Work(None, create)
            else:
                work = _Work(stored, copy_tenant(stored[0]), stored[0])
            self._work[name] = work
        elif create is not None:
            raise ConflictError(f"tenant {name!r} already exists")
        elif work.stale:
            work.stored = load_tenant_state(self.conn, name)
            work.stale = False
        mutate(work.current)
        work.flushed = False
        if audit is not None:
            self.audit.extend(audit(work.current, work.current))
        return Changes()

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
                write_tenant(self.conn, work.stored, state, changes)
            except IntegrityError as exc:
                raise ConflictError(f"the change conflicts with stored data: {exc.orig}") from None
            self.changes.update(changes)
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
        if owner in self._work:  # stored there, but removed in this session
            raise NotFoundError(f"no phone with MAC {mac}")
        return owner

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

    def state(self, name: str) -> TenantState:
        """One tenant with everything under it, as this transaction sees it."""
        if name in self._work:
            return self._work[name].current
        loaded = load_tenant_state(self.conn, name)
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

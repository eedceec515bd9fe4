"""Several writes in one transaction: what ``POST /changes`` and every preview run on.

A :class:`TenantSession` offers the same write methods as
:class:`~provisioner.store.TenantRepository` (so :mod:`provisioner.edits`
work over it unchanged), but every write joins one open transaction and
nothing is committed here: :meth:`TenantRepository.session` commits it
with every audit entry, or rolls it back (a preview) and records the audit
entries on their own. The session remembers each tenant's state before its
first write and after its last, which is what a preview renders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import Connection

from provisioner.audit import AuditEntry
from provisioner.catalog import Catalog
from provisioner.domain import Snapshot
from provisioner.errors import NotFoundError
from provisioner.state import TenantState
from provisioner.store import _tables as t
from provisioner.store._engine import device_key
from provisioner.store._read import load_heads, load_snapshot, load_tenant_state
from provisioner.store._write import Changes

if TYPE_CHECKING:
    from provisioner.store._tenants import AuditHook, TenantRepository

__all__ = ["TenantSession"]


class TenantSession:
    """The tenant writes of one transaction (the ``TenantWriter`` protocol of the edits)."""

    def __init__(self, repository: TenantRepository, conn: Connection) -> None:
        self.repository = repository
        self.conn = conn
        self.audit: list[AuditEntry] = []
        self.changes = Changes()
        # Tenant name → (state before the session's first write of it, state after its last).
        self.touched: dict[str, tuple[TenantState | None, TenantState | None]] = {}

    def _touch(self, name: str, before: TenantState | None, after: TenantState | None) -> None:
        first = self.touched[name][0] if name in self.touched else before
        self.touched[name] = (first, after)

    def change(
        self,
        name: str,
        mutate: Callable[[TenantState], None],
        *,
        create: TenantState | None = None,
        audit: AuditHook | None = None,
        dry_run: bool = False,
    ) -> Changes:
        """:meth:`TenantRepository.change` inside the session (``dry_run`` is the session's)."""
        changes, entries, before, after = self.repository.change_on(
            self.conn, name, mutate, create, audit
        )
        self.changes.update(changes)
        self.audit.extend(entries)
        if changes:
            self._touch(name, before, after)
        return changes

    def remove(self, name: str, *, audit: AuditHook | None = None, dry_run: bool = False) -> None:
        """:meth:`TenantRepository.remove` inside the session."""
        entries, before = self.repository.remove_on(self.conn, name, audit)
        self.audit.extend(entries)
        self.changes["tenant removed"] += 1
        self._touch(name, before, None)

    def apply(
        self,
        tenants: Iterable[TenantState],
        *,
        prune: bool = False,
        audit: AuditHook | None = None,
        dry_run: bool = False,
    ) -> Changes:
        """:meth:`TenantRepository.apply` inside the session."""

        def hook(before: TenantState | None, after: TenantState | None) -> Sequence[AuditEntry]:
            state = after or before
            assert state is not None
            self._touch(state.name, before, after)
            entries = list(audit(before, after)) if audit is not None else []
            self.audit.extend(entries)
            return entries

        changes = Changes()
        self.repository.apply_on(self.conn, list(tenants), prune, changes, hook)
        self.changes.update(changes)
        return changes

    def tenant_of(self, mac: str) -> str:
        """The tenant of a phone, as this transaction sees it."""
        return self.repository.tenant_on(self.conn, mac)

    def device_key(self) -> bytes:
        """The server secret (the versions' key)."""
        return device_key(self.conn)

    @property
    def catalog(self) -> Catalog:
        """The catalog writes are validated with."""
        return self.repository.catalog

    def snapshot(self, macs: Iterable[str]) -> Snapshot:
        """What rendering needs of some phones, as this transaction sees them."""
        return load_snapshot(self.conn, list(macs))

    def state(self, name: str) -> TenantState:
        """One tenant with everything under it, as this transaction sees it."""
        loaded = load_tenant_state(self.conn, name)
        if loaded is None:
            raise NotFoundError(f"no tenant named {name!r}")
        return loaded[0]

    def head(self, name: str) -> Snapshot:
        """One tenant and its own settings, as this transaction sees them."""
        tenant_id = self.conn.execute(
            select(t.tenants.c.id).where(t.tenants.c.name == name)
        ).scalar()
        if tenant_id is None:
            raise NotFoundError(f"no tenant named {name!r}")
        return load_heads(self.conn, [tenant_id])

"""Tenants: create, change, replace and delete a tenant."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from provisioner.audit import AuditEntry, entry_for
from provisioner.domain import ScopeKind
from provisioner.edits._writer import EditWriter
from provisioner.entities import entity_view
from provisioner.errors import PreconditionFailed
from provisioner.scope import ScopeRef
from provisioner.state import TenantState
from provisioner.store import Changes

__all__ = ["TenantEdits"]


class TenantEdits:
    """Tenants: create, change, replace and delete a tenant."""

    def __init__(self, writer: EditWriter) -> None:
        self.writer = writer

    def apply(self, states: Iterable[TenantState], *, prune: bool = False) -> Changes:
        """Make the stored tenants match a parsed fleet file, all or nothing (``apply``).

        Each tenant changed (or, with ``prune``, deleted) gets one audit
        entry with every changed path of the tenant, its groups and phones.
        """
        return self.writer.apply(states, prune=prune)

    def add(
        self, name: str, sip_domain: str, platform: str = "generic", description: str = ""
    ) -> None:
        """Create a tenant."""
        self.create(TenantState(name, sip_domain, platform, description))

    def create(self, state: TenantState) -> Changes:
        """Create a tenant from a whole state (its fields, settings, locks; groups, phones)."""
        ref = ScopeRef(ScopeKind.TENANT, tenant=state.name)
        return self.writer.write(
            state.name, lambda s: None, action="tenant.create", ref=ref, create=state
        )

    def update(
        self,
        name: str,
        *,
        sip_domain: str | None = None,
        platform: str | None = None,
        description: str | None = None,
        expect: str | None = None,
    ) -> Changes:
        """Change a tenant's own fields; ``None`` leaves a field as it is."""

        def mutate(state: TenantState) -> None:
            if sip_domain is not None:
                state.sip_domain = sip_domain
            if platform is not None:
                state.platform = platform
            if description is not None:
                state.description = description

        ref = ScopeRef(ScopeKind.TENANT, tenant=name)
        return self.writer.write(name, mutate, action="tenant.update", ref=ref, expect=expect)

    def replace(self, head: TenantState, *, expect: str | None = None) -> Changes:
        """Replace a tenant's own fields, settings and locks (its groups and phones stay)."""

        def mutate(state: TenantState) -> None:
            state.sip_domain, state.platform = head.sip_domain, head.platform
            state.description = head.description
            state.settings, state.locked = dict(head.settings), set(head.locked)

        ref = ScopeRef(ScopeKind.TENANT, tenant=head.name)
        return self.writer.write(head.name, mutate, action="tenant.replace", ref=ref, expect=expect)

    def remove(self, name: str, *, expect: str | None = None) -> None:
        """Delete a tenant and everything under it."""
        ref = ScopeRef(ScopeKind.TENANT, tenant=name)

        def audit(before: TenantState | None, after: TenantState | None) -> Sequence[AuditEntry]:
            assert before is not None
            if expect is not None and self.writer.versions.of(entity_view(before, ref)) != expect:
                raise PreconditionFailed(f"tenant {name} changed since it was read")
            summary = {
                "name": name,
                "groups": len(before.groups),
                "phones": len(before.phones),
            }
            entry = entry_for(self.writer.actor, "tenant.remove", str(ref), f"tenant {name}")
            return [replace(entry, tenant=name, before=summary)]

        # The precondition is checked by the audit hook, which runs in the delete's
        # transaction: raising there rolls the delete back.
        self.writer.tenants.remove(name, audit=audit, dry_run=self.writer.actor.dry_run)

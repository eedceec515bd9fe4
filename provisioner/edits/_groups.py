"""Phone groups: create, change, reorder and delete a group."""

from __future__ import annotations

from provisioner.domain import ScopeKind
from provisioner.edits._writer import EditWriter
from provisioner.entities import find_group
from provisioner.errors import ConflictError
from provisioner.scope import ScopeRef
from provisioner.state import GroupState, TenantState
from provisioner.store import Changes

__all__ = ["GroupEdits"]


class GroupEdits:
    """Phone groups: create, change, reorder and delete a group."""

    def __init__(self, writer: EditWriter) -> None:
        self.writer = writer

    def add(self, tenant: str, name: str, description: str = "", weight: int = 0) -> None:
        """Create a phone group."""
        self.create(tenant, GroupState(name, description, weight))

    def create(self, tenant: str, group: GroupState) -> Changes:
        """Create a group from a whole state (with settings and locks)."""

        def mutate(state: TenantState) -> None:
            if group.name in state.groups:
                raise ConflictError(f"group {tenant}/{group.name} already exists")
            state.groups[group.name] = group

        ref = ScopeRef(ScopeKind.GROUP, tenant=tenant, group=group.name)
        return self.writer.write(tenant, mutate, action="group.create", ref=ref)

    def update(
        self,
        tenant: str,
        name: str,
        *,
        description: str | None = None,
        weight: int | None = None,
        expect: str | None = None,
    ) -> Changes:
        """Change a group's description or weight."""

        def mutate(state: TenantState) -> None:
            group = find_group(state, name)
            if description is not None:
                group.description = description
            if weight is not None:
                group.weight = weight

        ref = ScopeRef(ScopeKind.GROUP, tenant=tenant, group=name)
        return self.writer.write(tenant, mutate, action="group.update", ref=ref, expect=expect)

    def replace(self, tenant: str, group: GroupState, *, expect: str | None = None) -> Changes:
        """Replace a group's fields, settings and locks (its members stay)."""

        def mutate(state: TenantState) -> None:
            find_group(state, group.name)
            state.groups[group.name] = group

        ref = ScopeRef(ScopeKind.GROUP, tenant=tenant, group=group.name)
        return self.writer.write(tenant, mutate, action="group.replace", ref=ref, expect=expect)

    def move(self, tenant: str, name: str, up: bool) -> Changes:
        """Move a group one place up (towards winning) or down in its tenant's ordering.

        Groups are ordered by weight, highest first (ties by name); moving
        past a neighbour swaps the two weights, or, when they are equal,
        takes one more (up) or one less (down) than the neighbour's.
        """

        def mutate(state: TenantState) -> None:
            order = sorted(state.groups.values(), key=lambda g: (-g.weight, g.name))
            index = order.index(find_group(state, name))
            other = index - 1 if up else index + 1
            if not 0 <= other < len(order):
                return  # already first (or last): nothing to do, as sipXconfig
            group, neighbour = order[index], order[other]
            if group.weight != neighbour.weight:
                group.weight, neighbour.weight = neighbour.weight, group.weight
            else:
                group.weight = neighbour.weight + (1 if up else -1)

        ref = ScopeRef(ScopeKind.GROUP, tenant=tenant, group=name)
        return self.writer.write(tenant, mutate, action="group.up" if up else "group.down", ref=ref)

    def remove(self, tenant: str, name: str, *, expect: str | None = None) -> None:
        """Delete a group; its phones simply leave it."""

        def mutate(state: TenantState) -> None:
            find_group(state, name)
            del state.groups[name]
            for phone in state.phones.values():
                if name in phone.groups:
                    phone.groups.remove(name)

        ref = ScopeRef(ScopeKind.GROUP, tenant=tenant, group=name)
        self.writer.write(tenant, mutate, action="group.remove", ref=ref, expect=expect)

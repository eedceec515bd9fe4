"""Single edits of the fleet: add a phone, rename a group, set a setting, and the rest.

Each edit is a small change to a tenant's state handed to the store's one
write path (:meth:`provisioner.store.TenantRepository.change`), which
validates the whole result and writes the difference in one transaction.
The command line calls these, and so will the admin API: the rules of an
edit (a phone's MAC is unique, only tenants and groups lock, a new line
takes the first free position) live here once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from provisioner.catalog import Catalog
from provisioner.domain import ScopeKind
from provisioner.errors import ConflictError, InputError, NotFoundError
from provisioner.scope import ScopeRef
from provisioner.settings import Value
from provisioner.state import GroupState, LineState, PhoneState, TenantState
from provisioner.store import Changes, Store

__all__ = ["Edits", "TenantWriter"]

# Line fields an edit may change (the position is the line's key).
LINE_FIELDS = frozenset({"user", "auth_user", "password", "display_name", "label"})


class TenantWriter(Protocol):
    """What edits need of the store: the one write path and two lookups."""

    def change(
        self,
        name: str,
        mutate: Callable[[TenantState], None],
        *,
        create: TenantState | None = None,
    ) -> Changes: ...

    def remove(self, name: str) -> None: ...

    def tenant_of(self, mac: str) -> str: ...


@dataclass(frozen=True, slots=True)
class _Target:
    """The settings (and lock set, for tenants and groups) a scope reference names."""

    settings: dict[str, Value]
    locked: set[str] | None


class Edits:
    """Single edits of tenants, groups, phones, lines and settings."""

    def __init__(self, tenants: TenantWriter, catalog: Catalog) -> None:
        self.tenants = tenants
        self.catalog = catalog

    @classmethod
    def of(cls, store: Store) -> Edits:
        """Edits through ``store``'s tenants (with the catalog it validates against)."""
        return cls(store.tenants, store.tenants.catalog)

    # --- tenants -----------------------------------------------------------

    def add_tenant(
        self, name: str, sip_domain: str, platform: str = "generic", description: str = ""
    ) -> None:
        """Create a tenant."""
        state = TenantState(name, sip_domain, platform, description)
        self.tenants.change(name, lambda s: None, create=state)

    def update_tenant(
        self,
        name: str,
        *,
        sip_domain: str | None = None,
        platform: str | None = None,
        description: str | None = None,
    ) -> Changes:
        """Change a tenant's own fields; ``None`` leaves a field as it is."""

        def mutate(state: TenantState) -> None:
            if sip_domain is not None:
                state.sip_domain = sip_domain
            if platform is not None:
                state.platform = platform
            if description is not None:
                state.description = description

        return self.tenants.change(name, mutate)

    def remove_tenant(self, name: str) -> None:
        """Delete a tenant and everything under it."""
        self.tenants.remove(name)

    # --- groups ------------------------------------------------------------

    def add_group(self, tenant: str, name: str, description: str = "", weight: int = 0) -> None:
        """Create a phone group."""

        def mutate(state: TenantState) -> None:
            if name in state.groups:
                raise ConflictError(f"group {tenant}/{name} already exists")
            state.groups[name] = GroupState(name, description, weight)

        self.tenants.change(tenant, mutate)

    def update_group(
        self, tenant: str, name: str, *, description: str | None = None, weight: int | None = None
    ) -> Changes:
        """Change a group's description or weight."""

        def mutate(state: TenantState) -> None:
            group = _group(state, name)
            if description is not None:
                group.description = description
            if weight is not None:
                group.weight = weight

        return self.tenants.change(tenant, mutate)

    def remove_group(self, tenant: str, name: str) -> None:
        """Delete a group; its phones simply leave it."""

        def mutate(state: TenantState) -> None:
            _group(state, name)
            del state.groups[name]
            for phone in state.phones.values():
                if name in phone.groups:
                    phone.groups.remove(name)

        self.tenants.change(tenant, mutate)

    # --- phones ------------------------------------------------------------

    def add_phone(
        self,
        tenant: str,
        mac: str,
        model: str,
        *,
        description: str = "",
        groups: Iterable[str] = (),
        enabled: bool = True,
    ) -> None:
        """Create a phone (``mac`` canonical, ``model`` an id or alias)."""
        try:
            owner = self.tenants.tenant_of(mac)
        except NotFoundError:
            owner = None
        if owner is not None:
            raise ConflictError(f"phone {mac} already exists in tenant {owner}")
        model_id = self.catalog.model(model).id

        def mutate(state: TenantState) -> None:
            state.phones[mac] = PhoneState(mac, model_id, description, enabled, list(groups))

        self.tenants.change(tenant, mutate)

    def update_phone(
        self,
        mac: str,
        *,
        model: str | None = None,
        description: str | None = None,
        groups: Iterable[str] | None = None,
        enabled: bool | None = None,
    ) -> Changes:
        """Change a phone's fields; ``None`` leaves a field as it is."""
        model_id = self.catalog.model(model).id if model is not None else None

        def mutate(state: TenantState) -> None:
            phone = state.phones[mac]
            if model_id is not None:
                phone.model = model_id
            if description is not None:
                phone.description = description
            if groups is not None:
                phone.groups = list(groups)
            if enabled is not None:
                phone.enabled = enabled

        return self.tenants.change(self.tenants.tenant_of(mac), mutate)

    def remove_phone(self, mac: str) -> None:
        """Delete a phone with its lines and settings."""

        def mutate(state: TenantState) -> None:
            del state.phones[mac]

        self.tenants.change(self.tenants.tenant_of(mac), mutate)

    # --- lines -------------------------------------------------------------

    def add_line(self, mac: str, line: LineState) -> int:
        """Add a line; position 0 means the first free position. Returns the position."""
        chosen: list[int] = []

        def mutate(state: TenantState) -> None:
            phone = state.phones[mac]
            used = {x.position for x in phone.lines}
            if line.position == 0:
                line.position = next(p for p in range(1, len(used) + 2) if p not in used)
            elif line.position in used:
                raise ConflictError(f"line {line.position} of phone {mac} already exists")
            phone.lines.append(line)
            phone.lines.sort(key=lambda x: x.position)
            chosen.append(line.position)

        self.tenants.change(self.tenants.tenant_of(mac), mutate)
        return chosen[0]

    def update_line(self, mac: str, position: int, **fields: str) -> Changes:
        """Change line fields (user, auth_user, password, display_name, label)."""
        unknown = set(fields) - LINE_FIELDS
        if unknown:
            raise InputError(f"unknown line field(s): {', '.join(sorted(unknown))}")

        def mutate(state: TenantState) -> None:
            line = _line(state.phones[mac], position)
            for key, value in fields.items():
                setattr(line, key, value)

        return self.tenants.change(self.tenants.tenant_of(mac), mutate)

    def remove_line(self, mac: str, position: int) -> None:
        """Delete a line."""

        def mutate(state: TenantState) -> None:
            phone = state.phones[mac]
            phone.lines.remove(_line(phone, position))

        self.tenants.change(self.tenants.tenant_of(mac), mutate)

    # --- settings ----------------------------------------------------------

    def set_setting(
        self,
        scope: ScopeRef,
        name: str,
        value: object,
        *,
        lock: bool = False,
        from_text: bool = False,
    ) -> None:
        """Set (and optionally lock) a setting at a scope.

        :raises InputError: unknown setting or bad value (naming setting, scope, allowed values).
        :raises ValidationFailed: the value is locked above, or locking it would
            shadow values below (each listed).
        """
        spec = self.catalog.spec(name)
        typed = spec.coerce(value, scope=str(scope), from_text=from_text)
        if lock and scope.kind not in (ScopeKind.TENANT, ScopeKind.GROUP):
            raise InputError(f"only tenants and groups can lock a setting, not {scope}")

        def mutate(state: TenantState) -> None:
            target = _target(state, scope)
            target.settings[name] = typed
            if target.locked is not None:
                if lock:
                    target.locked.add(name)
                else:
                    target.locked.discard(name)

        self.tenants.change(self._tenant_name(scope), mutate)

    def unset_setting(self, scope: ScopeRef, name: str) -> None:
        """Remove a setting (and its lock) from a scope."""

        def mutate(state: TenantState) -> None:
            target = _target(state, scope)
            if name not in target.settings:
                raise NotFoundError(f"setting {name} is not set at {scope}")
            del target.settings[name]
            if target.locked is not None:
                target.locked.discard(name)

        self.tenants.change(self._tenant_name(scope), mutate)

    def _tenant_name(self, scope: ScopeRef) -> str:
        if scope.kind in (ScopeKind.TENANT, ScopeKind.GROUP):
            return scope.tenant
        return self.tenants.tenant_of(scope.mac)


def _target(state: TenantState, scope: ScopeRef) -> _Target:
    if scope.kind is ScopeKind.TENANT:
        return _Target(state.settings, state.locked)
    if scope.kind is ScopeKind.GROUP:
        group = _group(state, scope.group)
        return _Target(group.settings, group.locked)
    phone = state.phones[scope.mac]
    if scope.kind is ScopeKind.PHONE:
        return _Target(phone.settings, None)
    return _Target(_line(phone, scope.position).settings, None)


def _group(state: TenantState, name: str) -> GroupState:
    group = state.groups.get(name)
    if group is None:
        raise NotFoundError(f"no group {state.name}/{name}")
    return group


def _line(phone: PhoneState, position: int) -> LineState:
    for line in phone.lines:
        if line.position == position:
            return line
    raise NotFoundError(f"phone {phone.mac} has no line {position}")

"""Single edits of the fleet: add a phone, rename a group, set a setting, and the rest.

Each edit is a small change to a tenant's state handed to the store's one
write path (:meth:`provisioner.store.TenantRepository.change`), which
validates the whole result and writes the difference in one transaction.
The command line and the admin API call these: the rules of an edit (a
phone's MAC is unique, only tenants and groups lock, a new line takes the
first free position) live here once.

Every edit is made by an :class:`~provisioner.actor.Actor` and recorded in
the audit log in the same transaction (the entity before and after, secrets
redacted). ``expect`` (the API's ``If-Match``) is the version of the entity
the caller last read (:class:`provisioner.entities.Versions`): when the
stored one differs, nothing is written and :class:`PreconditionFailed` is
raised. An actor's ``dry_run`` runs the edit and rolls it back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Protocol

from provisioner.actor import Actor
from provisioner.audit import AuditEntry, changed, entry_for
from provisioner.catalog import Catalog
from provisioner.domain import ScopeKind
from provisioner.entities import (
    Versions,
    entity_view,
    find_group,
    find_line,
    find_phone,
    scope_settings,
    secret_paths,
    setting_view,
)
from provisioner.errors import ConflictError, InputError, NotFoundError, PreconditionFailed
from provisioner.fleet import group_entry, phone_entry, tenant_entry
from provisioner.scope import ScopeRef
from provisioner.settings import Value
from provisioner.state import GroupState, LineState, PhoneState, TenantState
from provisioner.store import AuditHook, Changes, Store

__all__ = ["Edits", "TenantWriter"]

# Line fields an edit may change (the position is the line's key).
LINE_FIELDS = frozenset({"user", "auth_user", "password", "display_name", "label"})

Mutate = Callable[[TenantState], None]


class TenantWriter(Protocol):
    """What edits need of the store: the one write path, removal and lookups."""

    def change(
        self,
        name: str,
        mutate: Mutate,
        *,
        create: TenantState | None = None,
        audit: AuditHook | None = None,
        dry_run: bool = False,
    ) -> Changes: ...

    def remove(self, name: str, *, audit: AuditHook | None = None) -> None: ...

    def apply(
        self,
        tenants: Iterable[TenantState],
        *,
        prune: bool = False,
        audit: AuditHook | None = None,
        dry_run: bool = False,
    ) -> Changes: ...

    def tenant_of(self, mac: str) -> str: ...

    def device_key(self) -> bytes: ...


class Edits:
    """Single edits of tenants, groups, phones, lines and settings, by one actor."""

    def __init__(self, tenants: TenantWriter, catalog: Catalog, actor: Actor | None = None) -> None:
        """Edits by ``actor`` (default: the command line, as the OS user)."""
        self.tenants = tenants
        self.catalog = catalog
        self.actor = actor if actor is not None else Actor.cli()
        self._versions: Versions | None = None

    @classmethod
    def of(cls, store: Store, actor: Actor | None = None) -> Edits:
        """Edits by ``actor`` through ``store``'s tenants (and the catalog they validate with)."""
        return cls(store.tenants, store.tenants.catalog, actor)

    def by(self, actor: Actor) -> Edits:
        """The same edits made by another actor (one per API request)."""
        edits = Edits(self.tenants, self.catalog, actor)
        edits._versions = self._versions
        return edits

    @property
    def versions(self) -> Versions:
        """Versions of entities (the API's ETags)."""
        if self._versions is None:
            self._versions = Versions(self.tenants.device_key())
        return self._versions

    # --- the one way an edit is written --------------------------------------

    def _write(
        self,
        tenant: str,
        mutate: Mutate,
        *,
        action: str,
        ref: ScopeRef | Callable[[], ScopeRef],
        setting: str | None = None,
        expect: str | None = None,
        create: TenantState | None = None,
    ) -> Changes:
        """Run ``mutate`` on ``tenant`` after the ``expect`` check; audit the entity ``ref``.

        ``ref`` may be a function when ``mutate`` decides it (a line's free position).
        """

        def target() -> ScopeRef:
            return ref if isinstance(ref, ScopeRef) else ref()

        def view(state: TenantState | None) -> object:
            if setting is None:
                return entity_view(state, target())
            return setting_view(state, target(), setting)

        def guarded(state: TenantState) -> None:
            if expect is not None and self.versions.of(view(state)) != expect:
                raise PreconditionFailed(
                    f"{_describe(target(), setting)} changed since it was read "
                    "(If-Match does not match its current ETag); read it again"
                )
            mutate(state)

        def audit(before: TenantState | None, after: TenantState | None) -> Sequence[AuditEntry]:
            old, new = changed(
                view(before),  # type: ignore[arg-type]
                view(after),  # type: ignore[arg-type]
                secret_paths(self.catalog, setting),
            )
            return [
                entry_for(
                    self.actor,
                    action,
                    str(target()),
                    _describe(target(), setting),
                    tenant=tenant,
                    mac=target().mac or None,
                    before=old,
                    after=new,
                )
            ]

        return self.tenants.change(
            tenant, guarded, create=create, audit=audit, dry_run=self.actor.dry_run
        )

    # --- fleet files -------------------------------------------------------

    def apply_fleet(self, states: Iterable[TenantState], *, prune: bool = False) -> Changes:
        """Make the stored tenants match a parsed fleet file, all or nothing (``apply``).

        Each tenant changed (or, with ``prune``, deleted) gets one audit
        entry with every changed path of the tenant, its groups and phones.
        """

        def audit(before: TenantState | None, after: TenantState | None) -> Sequence[AuditEntry]:
            state = after or before
            assert state is not None
            old, new = changed(_whole(before), _whole(after), secret_paths(self.catalog))
            ref = ScopeRef(ScopeKind.TENANT, tenant=state.name)
            return [
                entry_for(
                    self.actor,
                    "fleet.apply",
                    str(ref),
                    f"tenant {state.name} with its groups and phones",
                    tenant=state.name,
                    before=old,
                    after=new,
                )
            ]

        return self.tenants.apply(states, prune=prune, audit=audit, dry_run=self.actor.dry_run)

    # --- tenants -----------------------------------------------------------

    def add_tenant(
        self, name: str, sip_domain: str, platform: str = "generic", description: str = ""
    ) -> None:
        """Create a tenant."""
        self.create_tenant(TenantState(name, sip_domain, platform, description))

    def create_tenant(self, state: TenantState) -> Changes:
        """Create a tenant from a whole state (its fields, settings, locks; groups, phones)."""
        ref = ScopeRef(ScopeKind.TENANT, tenant=state.name)
        return self._write(
            state.name, lambda s: None, action="tenant.create", ref=ref, create=state
        )

    def update_tenant(
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
        return self._write(name, mutate, action="tenant.update", ref=ref, expect=expect)

    def replace_tenant(self, head: TenantState, *, expect: str | None = None) -> Changes:
        """Replace a tenant's own fields, settings and locks (its groups and phones stay)."""

        def mutate(state: TenantState) -> None:
            state.sip_domain, state.platform = head.sip_domain, head.platform
            state.description = head.description
            state.settings, state.locked = dict(head.settings), set(head.locked)

        ref = ScopeRef(ScopeKind.TENANT, tenant=head.name)
        return self._write(head.name, mutate, action="tenant.replace", ref=ref, expect=expect)

    def remove_tenant(self, name: str, *, expect: str | None = None) -> None:
        """Delete a tenant and everything under it."""
        ref = ScopeRef(ScopeKind.TENANT, tenant=name)

        def audit(before: TenantState | None, after: TenantState | None) -> Sequence[AuditEntry]:
            assert before is not None
            if expect is not None and self.versions.of(entity_view(before, ref)) != expect:
                raise PreconditionFailed(f"tenant {name} changed since it was read")
            summary = {
                "name": name,
                "groups": len(before.groups),
                "phones": len(before.phones),
            }
            entry = entry_for(self.actor, "tenant.remove", str(ref), f"tenant {name}")
            return [replace(entry, tenant=name, before=summary)]

        # The precondition is checked by the audit hook, which runs in the delete's
        # transaction: raising there rolls the delete back.
        if self.actor.dry_run:
            # The whole-tenant delete has no rollback path of its own: check and report only.
            self.tenants.change(name, lambda s: None, dry_run=True)
            return
        self.tenants.remove(name, audit=audit)

    # --- groups ------------------------------------------------------------

    def add_group(self, tenant: str, name: str, description: str = "", weight: int = 0) -> None:
        """Create a phone group."""
        self.create_group(tenant, GroupState(name, description, weight))

    def create_group(self, tenant: str, group: GroupState) -> Changes:
        """Create a group from a whole state (with settings and locks)."""

        def mutate(state: TenantState) -> None:
            if group.name in state.groups:
                raise ConflictError(f"group {tenant}/{group.name} already exists")
            state.groups[group.name] = group

        ref = ScopeRef(ScopeKind.GROUP, tenant=tenant, group=group.name)
        return self._write(tenant, mutate, action="group.create", ref=ref)

    def update_group(
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
        return self._write(tenant, mutate, action="group.update", ref=ref, expect=expect)

    def replace_group(
        self, tenant: str, group: GroupState, *, expect: str | None = None
    ) -> Changes:
        """Replace a group's fields, settings and locks (its members stay)."""

        def mutate(state: TenantState) -> None:
            find_group(state, group.name)
            state.groups[group.name] = group

        ref = ScopeRef(ScopeKind.GROUP, tenant=tenant, group=group.name)
        return self._write(tenant, mutate, action="group.replace", ref=ref, expect=expect)

    def move_group(self, tenant: str, name: str, up: bool) -> Changes:
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
        return self._write(tenant, mutate, action="group.up" if up else "group.down", ref=ref)

    def remove_group(self, tenant: str, name: str, *, expect: str | None = None) -> None:
        """Delete a group; its phones simply leave it."""

        def mutate(state: TenantState) -> None:
            find_group(state, name)
            del state.groups[name]
            for phone in state.phones.values():
                if name in phone.groups:
                    phone.groups.remove(name)

        ref = ScopeRef(ScopeKind.GROUP, tenant=tenant, group=name)
        self._write(tenant, mutate, action="group.remove", ref=ref, expect=expect)

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
        self.create_phone(tenant, PhoneState(mac, model, description, enabled, list(groups)))

    def create_phone(self, tenant: str, phone: PhoneState) -> Changes:
        """Create a phone from a whole state (with settings and lines)."""
        try:
            owner = self.tenants.tenant_of(phone.mac)
        except NotFoundError:
            owner = None
        if owner is not None:
            raise ConflictError(f"phone {phone.mac} already exists in tenant {owner}")
        phone.model = self.catalog.model(phone.model).id

        def mutate(state: TenantState) -> None:
            state.phones[phone.mac] = phone

        ref = ScopeRef(ScopeKind.PHONE, mac=phone.mac)
        return self._write(tenant, mutate, action="phone.create", ref=ref)

    def update_phone(
        self,
        mac: str,
        *,
        model: str | None = None,
        description: str | None = None,
        groups: Iterable[str] | None = None,
        enabled: bool | None = None,
        expect: str | None = None,
    ) -> Changes:
        """Change a phone's fields; ``None`` leaves a field as it is."""
        model_id = self.catalog.model(model).id if model is not None else None

        def mutate(state: TenantState) -> None:
            phone = find_phone(state, mac)
            if model_id is not None:
                phone.model = model_id
            if description is not None:
                phone.description = description
            if groups is not None:
                phone.groups = list(groups)
            if enabled is not None:
                phone.enabled = enabled

        ref = ScopeRef(ScopeKind.PHONE, mac=mac)
        return self._write(
            self.tenants.tenant_of(mac), mutate, action="phone.update", ref=ref, expect=expect
        )

    def replace_phone(
        self, tenant: str, phone: PhoneState, *, expect: str | None = None
    ) -> Changes:
        """Replace a phone with its settings and lines; it stays in its tenant.

        :raises ConflictError: ``tenant`` is not the phone's tenant.
        """
        owner = self.tenants.tenant_of(phone.mac)
        if owner != tenant:
            raise ConflictError(
                f"phone {phone.mac} belongs to tenant {owner}; a phone does not move between "
                "tenants (delete it and create it in the other tenant)"
            )
        phone.model = self.catalog.model(phone.model).id

        def mutate(state: TenantState) -> None:
            find_phone(state, phone.mac)
            state.phones[phone.mac] = phone

        ref = ScopeRef(ScopeKind.PHONE, mac=phone.mac)
        return self._write(tenant, mutate, action="phone.replace", ref=ref, expect=expect)

    def remove_phone(self, mac: str, *, expect: str | None = None) -> None:
        """Delete a phone with its lines and settings."""

        def mutate(state: TenantState) -> None:
            del state.phones[mac]

        ref = ScopeRef(ScopeKind.PHONE, mac=mac)
        self._write(
            self.tenants.tenant_of(mac), mutate, action="phone.remove", ref=ref, expect=expect
        )

    # --- lines -------------------------------------------------------------

    def add_line(self, mac: str, line: LineState) -> int:
        """Add a line; position 0 means the first free position. Returns the position."""
        tenant = self.tenants.tenant_of(mac)

        def mutate(state: TenantState) -> None:
            phone = find_phone(state, mac)
            used = {x.position for x in phone.lines}
            if line.position == 0:
                line.position = next(p for p in range(1, len(used) + 2) if p not in used)
            elif line.position in used:
                raise ConflictError(f"line {line.position} of phone {mac} already exists")
            phone.lines.append(line)
            phone.lines.sort(key=lambda x: x.position)

        def ref() -> ScopeRef:  # the position is chosen once the state is loaded
            return ScopeRef(ScopeKind.LINE, mac=mac, position=line.position)

        self._write(tenant, mutate, action="line.create", ref=ref)
        return line.position

    def update_line(
        self, mac: str, position: int, *, expect: str | None = None, **fields: str
    ) -> Changes:
        """Change line fields (user, auth_user, password, display_name, label)."""
        unknown = set(fields) - LINE_FIELDS
        if unknown:
            raise InputError(f"unknown line field(s): {', '.join(sorted(unknown))}")

        def mutate(state: TenantState) -> None:
            line = find_line(find_phone(state, mac), position)
            for key, value in fields.items():
                setattr(line, key, value)

        ref = ScopeRef(ScopeKind.LINE, mac=mac, position=position)
        return self._write(
            self.tenants.tenant_of(mac), mutate, action="line.update", ref=ref, expect=expect
        )

    def replace_line(self, mac: str, line: LineState, *, expect: str | None = None) -> Changes:
        """Replace a line (fields and settings) at its position."""

        def mutate(state: TenantState) -> None:
            phone = find_phone(state, mac)
            phone.lines.remove(find_line(phone, line.position))
            phone.lines.append(line)
            phone.lines.sort(key=lambda x: x.position)

        ref = ScopeRef(ScopeKind.LINE, mac=mac, position=line.position)
        return self._write(
            self.tenants.tenant_of(mac), mutate, action="line.replace", ref=ref, expect=expect
        )

    def remove_line(self, mac: str, position: int, *, expect: str | None = None) -> None:
        """Delete a line."""

        def mutate(state: TenantState) -> None:
            phone = find_phone(state, mac)
            phone.lines.remove(find_line(phone, position))

        ref = ScopeRef(ScopeKind.LINE, mac=mac, position=position)
        self._write(
            self.tenants.tenant_of(mac), mutate, action="line.remove", ref=ref, expect=expect
        )

    # --- settings ----------------------------------------------------------

    def set_setting(
        self,
        scope: ScopeRef,
        name: str,
        value: object,
        *,
        lock: bool = False,
        from_text: bool = False,
        expect: str | None = None,
    ) -> None:
        """Set (and optionally lock) a setting at a scope.

        :raises InputError: unknown setting or bad value (naming setting, scope, allowed values).
        :raises ValidationFailed: the value is locked above, or locking it would
            shadow values below (each listed).
        """
        spec = self.catalog.spec(name)
        typed: Value = spec.coerce(value, scope=str(scope), from_text=from_text)
        if lock and scope.kind not in (ScopeKind.TENANT, ScopeKind.GROUP):
            raise InputError(f"only tenants and groups can lock a setting, not {scope}")

        def mutate(state: TenantState) -> None:
            settings, locked = scope_settings(state, scope)
            settings[name] = typed
            if locked is not None:
                if lock:
                    locked.add(name)
                else:
                    locked.discard(name)

        self._write(
            self._tenant_name(scope),
            mutate,
            action="setting.set",
            ref=scope,
            setting=name,
            expect=expect,
        )

    def unset_setting(self, scope: ScopeRef, name: str, *, expect: str | None = None) -> None:
        """Remove a setting (and its lock) from a scope."""

        def mutate(state: TenantState) -> None:
            settings, locked = scope_settings(state, scope)
            if name not in settings:
                raise NotFoundError(f"setting {name} is not set at {scope}")
            del settings[name]
            if locked is not None:
                locked.discard(name)

        self._write(
            self._tenant_name(scope),
            mutate,
            action="setting.unset",
            ref=scope,
            setting=name,
            expect=expect,
        )

    def _tenant_name(self, scope: ScopeRef) -> str:
        if scope.kind in (ScopeKind.TENANT, ScopeKind.GROUP):
            return scope.tenant
        return self.tenants.tenant_of(scope.mac)


def _whole(state: TenantState | None) -> dict[str, object] | None:
    """A tenant with its groups and phones, as fleet entries keyed by name and MAC."""
    if state is None:
        return None
    return {
        "tenant": tenant_entry(state),
        "groups": {name: group_entry(state.name, g) for name, g in state.groups.items()},
        "phones": {mac: phone_entry(state.name, p) for mac, p in state.phones.items()},
    }


def _describe(ref: ScopeRef, setting: str | None) -> str:
    """What an edit touched, in words: ``phone 0004f2…``, ``setting time.zone at group:a/b``."""
    if setting is not None:
        return f"setting {setting} at {ref}"
    return str(ref).replace(":", " ", 1)

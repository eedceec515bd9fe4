"""The one way an edit is written: the ``If-Match`` check, the change, its audit entry.

Every edit class (:mod:`provisioner.edits`) hands its change of a tenant's
state to :meth:`EditWriter.write`, which runs it through the store's one
write path (:meth:`provisioner.store.TenantRepository.change`) with the
actor's audit entry in the same transaction. An actor's ``dry_run`` runs the
edit and rolls it back.

An edit names the part of its tenant it reads (:class:`~provisioner.state.Part`):
by default the phone its scope names (a phone or a line), else no phone
(the tenant's own fields and its groups are always there). The store loads
that much, not the whole tenant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from provisioner.actor import Actor
from provisioner.audit import AuditEntry, changed, entry_for
from provisioner.catalog import Catalog
from provisioner.domain import ScopeKind
from provisioner.entities import Versions, entity_view, secret_paths, setting_view
from provisioner.errors import PreconditionFailed
from provisioner.fleet import group_entry, phone_entry, tenant_entry
from provisioner.phonebook_files import write_csv
from provisioner.scope import ScopeRef
from provisioner.state import Part, TenantState
from provisioner.store import AuditHook, Changes

__all__ = ["LINE_FIELDS", "EditWriter", "Mutate", "TenantWriter"]

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
        part: Part | None = None,
        audit: AuditHook | None = None,
        dry_run: bool = False,
    ) -> Changes: ...

    def remove(
        self, name: str, *, audit: AuditHook | None = None, dry_run: bool = False
    ) -> None: ...

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


class EditWriter:
    """Writes edits of one actor through the store, audited, with ``If-Match`` checks."""

    def __init__(self, tenants: TenantWriter, catalog: Catalog, actor: Actor) -> None:
        self.tenants = tenants
        self.catalog = catalog
        self.actor = actor
        self._versions: Versions | None = None

    def by(self, actor: Actor) -> EditWriter:
        """The same writer for another actor (sharing the versions' key)."""
        writer = EditWriter(self.tenants, self.catalog, actor)
        writer._versions = self._versions
        return writer

    @property
    def versions(self) -> Versions:
        """Versions of entities (the API's ETags)."""
        if self._versions is None:
            self._versions = Versions(self.tenants.device_key())
        return self._versions

    def tenant_of(self, mac: str) -> str:
        """The name of the tenant a phone belongs to."""
        return self.tenants.tenant_of(mac)

    def tenant_of_scope(self, scope: ScopeRef) -> str:
        """The name of the tenant a scope is in."""
        if scope.kind in (ScopeKind.TENANT, ScopeKind.GROUP):
            return scope.tenant
        return self.tenants.tenant_of(scope.mac)

    def write(
        self,
        tenant: str,
        mutate: Mutate,
        *,
        action: str,
        ref: ScopeRef | Callable[[], ScopeRef],
        setting: str | None = None,
        expect: str | None = None,
        create: TenantState | None = None,
        part: Part | None = None,
    ) -> Changes:
        """Run ``mutate`` on ``tenant`` after the ``expect`` check; audit the entity ``ref``.

        ``ref`` may be a function when ``mutate`` decides it (a line's free
        position); ``part`` is then required. ``part`` defaults to the phone
        ``ref`` names (a phone or a line scope), else to no phone.
        """
        if part is None:
            assert isinstance(ref, ScopeRef), "an edit whose mutate picks its entity names its part"
            part = _part_of(ref)

        def target() -> ScopeRef:
            return ref if isinstance(ref, ScopeRef) else ref()

        def view(state: TenantState | None) -> object:
            if setting is None:
                return entity_view(state, target())
            return setting_view(state, target(), setting)

        # The entity as it was, taken before the change: a change set's session
        # changes one state in place, so ``before`` may already be changed.
        was: list[object] = []

        def guarded(state: TenantState) -> None:
            if expect is not None and self.versions.of(view(state)) != expect:
                raise PreconditionFailed(
                    f"{_describe(target(), setting)} changed since it was read "
                    "(If-Match does not match its current ETag); read it again"
                )
            # A reference mutate decides is a new entity (a line at a free position).
            was.append(view(state) if isinstance(ref, ScopeRef) else None)
            mutate(state)

        def audit(before: TenantState | None, after: TenantState | None) -> Sequence[AuditEntry]:
            old, new = changed(
                was[0] if was else view(before),  # type: ignore[arg-type]
                view(after),  # type: ignore[arg-type]
                secret_paths(self.catalog, setting),
            )
            if not old and not new:
                return []
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
            tenant, guarded, create=create, part=part, audit=audit, dry_run=self.actor.dry_run
        )

    def apply(self, states: Iterable[TenantState], *, prune: bool = False) -> Changes:
        """Make the stored tenants match a parsed fleet file, all or nothing (``apply``).

        Each tenant changed (or, with ``prune``, deleted) gets one audit
        entry with every changed path of the tenant, its groups and phones
        (and its phonebooks, when the file gives them).
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


def _part_of(ref: ScopeRef) -> Part:
    """What an edit of the entity ``ref`` reads: its phone, if it is a phone or a line."""
    if ref.kind in (ScopeKind.PHONE, ScopeKind.LINE):
        return Part(frozenset({ref.mac}))
    return Part()


def _whole(state: TenantState | None) -> dict[str, object] | None:
    """A tenant with its groups and phones, as fleet entries keyed by name and MAC."""
    if state is None:
        return None
    whole: dict[str, object] = {
        "tenant": tenant_entry(state),
        "groups": {name: group_entry(state.name, g) for name, g in state.groups.items()},
        "phones": {mac: phone_entry(state.name, p) for mac, p in state.phones.items()},
    }
    if state.phonebooks is not None:
        # A book by its size and a digest of its entries, not thousands of contacts.
        whole["phonebooks"] = {
            name: {
                "description": book.description,
                "entries": len(book.entries),
                "sha256": hashlib.sha256(write_csv(book.entries).encode()).hexdigest(),
            }
            for name, book in state.phonebooks.items()
        }
    return whole


def _describe(ref: ScopeRef, setting: str | None) -> str:
    """What an edit touched, in words: ``phone 0004f2…``, ``setting time.zone at group:a/b``."""
    if setting is not None:
        return f"setting {setting} at {ref}"
    return str(ref).replace(":", " ", 1)

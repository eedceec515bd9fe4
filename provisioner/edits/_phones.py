"""Phones: create, change, replace and delete a phone (its MAC is unique across tenants)."""

from __future__ import annotations

from collections.abc import Iterable

from provisioner.domain import ScopeKind
from provisioner.edits._writer import EditWriter
from provisioner.entities import find_phone
from provisioner.errors import ConflictError, NotFoundError
from provisioner.scope import ScopeRef
from provisioner.state import PhoneState, TenantState
from provisioner.store import Changes

__all__ = ["PhoneEdits"]


class PhoneEdits:
    """Phones: create, change, replace and delete a phone (its MAC is unique across tenants)."""

    def __init__(self, writer: EditWriter) -> None:
        self.writer = writer

    def add(
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
        self.create(tenant, PhoneState(mac, model, description, enabled, list(groups)))

    def create(self, tenant: str, phone: PhoneState) -> Changes:
        """Create a phone from a whole state (with settings and lines)."""
        try:
            owner = self.writer.tenant_of(phone.mac)
        except NotFoundError:
            owner = None
        if owner is not None:
            raise ConflictError(f"phone {phone.mac} already exists in tenant {owner}")
        phone.model = self.writer.catalog.model(phone.model).id

        def mutate(state: TenantState) -> None:
            state.phones[phone.mac] = phone

        ref = ScopeRef(ScopeKind.PHONE, mac=phone.mac)
        return self.writer.write(tenant, mutate, action="phone.create", ref=ref)

    def update(
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
        model_id = self.writer.catalog.model(model).id if model is not None else None

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
        return self.writer.write(
            self.writer.tenant_of(mac), mutate, action="phone.update", ref=ref, expect=expect
        )

    def replace(self, tenant: str, phone: PhoneState, *, expect: str | None = None) -> Changes:
        """Replace a phone with its settings and lines; it stays in its tenant.

        :raises ConflictError: ``tenant`` is not the phone's tenant.
        """
        owner = self.writer.tenant_of(phone.mac)
        if owner != tenant:
            raise ConflictError(
                f"phone {phone.mac} belongs to tenant {owner}; a phone does not move between "
                "tenants (delete it and create it in the other tenant)"
            )
        phone.model = self.writer.catalog.model(phone.model).id

        def mutate(state: TenantState) -> None:
            find_phone(state, phone.mac)
            state.phones[phone.mac] = phone

        ref = ScopeRef(ScopeKind.PHONE, mac=phone.mac)
        return self.writer.write(tenant, mutate, action="phone.replace", ref=ref, expect=expect)

    def remove(self, mac: str, *, expect: str | None = None) -> None:
        """Delete a phone with its lines and settings."""

        def mutate(state: TenantState) -> None:
            del state.phones[mac]

        ref = ScopeRef(ScopeKind.PHONE, mac=mac)
        self.writer.write(
            self.writer.tenant_of(mac), mutate, action="phone.remove", ref=ref, expect=expect
        )

"""Settings at any scope: set (and lock, at tenants and groups) and unset."""

from __future__ import annotations

from provisioner.domain import ScopeKind
from provisioner.edits._writer import EditWriter
from provisioner.entities import scope_settings
from provisioner.errors import InputError, NotFoundError
from provisioner.scope import ScopeRef
from provisioner.settings import Value
from provisioner.state import TenantState

__all__ = ["SettingEdits"]


class SettingEdits:
    """Settings at any scope: set (and lock, at tenants and groups) and unset."""

    def __init__(self, writer: EditWriter) -> None:
        self.writer = writer

    def set(
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
        spec = self.writer.catalog.spec(name)
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

        self.writer.write(
            self.writer.tenant_of_scope(scope),
            mutate,
            action="setting.set",
            ref=scope,
            setting=name,
            expect=expect,
        )

    def unset(self, scope: ScopeRef, name: str, *, expect: str | None = None) -> None:
        """Remove a setting (and its lock) from a scope."""

        def mutate(state: TenantState) -> None:
            settings, locked = scope_settings(state, scope)
            if name not in settings:
                raise NotFoundError(f"setting {name} is not set at {scope}")
            del settings[name]
            if locked is not None:
                locked.discard(name)

        self.writer.write(
            self.writer.tenant_of_scope(scope),
            mutate,
            action="setting.unset",
            ref=scope,
            setting=name,
            expect=expect,
        )

"""Whole-tenant validation against the catalog.

One function decides whether a tenant's state may be stored, whatever
produced it (fleet file or single command). It reports every problem, each
with a location, rather than stopping at the first.

Every text value passes the character rule of :mod:`provisioner.chars` here:
entity fields through :mod:`provisioner.validate`, setting values through
:meth:`SettingSpec.coerce` (tests/test_chars.py walks every field).

Lock rule (docs/settings.md): a value locked at the tenant may not be set by
any group, phone or line of the tenant; a value locked at a group may not be
set by any phone that is a member, or its lines. Groups do not constrain
each other: among a phone's groups the highest-weight lock wins at
resolution time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from provisioner.catalog import Catalog, Family
from provisioner.errors import InputError, Problem
from provisioner.settings import Value
from provisioner.state import LineState, PhoneState, TenantState
from provisioner.validate import (
    check_canonical_mac,
    check_credential,
    check_free_text,
    check_name,
    check_sip_domain,
    check_sip_user,
    check_weight,
)

__all__ = ["check_tenant"]


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def run(self, where: str, check: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Call ``check(*args, **kwargs)``; record an :class:`InputError` as a problem."""
        try:
            check(*args, **kwargs)
        except InputError as exc:
            self.add(where, str(exc))


def _check_values(
    out: _Collector,
    catalog: Catalog,
    where: str,
    settings: dict[str, Value],
    *,
    family: Family | None = None,
    line: bool = False,
    tenant: bool = False,
    locks: Iterable[tuple[set[str], str]] = (),
) -> None:
    locks = list(locks)
    for name, value in sorted(settings.items()):
        try:
            spec = catalog.spec(name)
            spec.coerce(value, scope=where)
        except InputError as exc:
            out.add(where, str(exc))
            continue
        if line and not spec.line:
            out.add(where, f"setting {name} cannot be set per line (set it on the phone)")
        if spec.tenant_only and not tenant:
            out.add(where, f"setting {name} can be set on the tenant only")
        if family is not None and not catalog.applies_to(name, family):
            out.add(where, f"setting {name} does not apply to {family.key} phones")
        for locked, holder in locks:
            if name in locked:
                out.add(
                    where,
                    f"setting {name} is locked at {holder}; unlock it there or remove this value",
                )


def _check_locked(
    out: _Collector, where: str, locked: set[str], settings: dict[str, Value]
) -> None:
    for name in sorted(locked - settings.keys()):
        out.add(where, f"setting {name} is locked but has no value at this scope")


def check_tenant(catalog: Catalog, tenant: TenantState) -> list[Problem]:
    """Validate ``tenant`` and everything under it; an empty list means valid."""
    out = _Collector()
    where = tenant.where or f"tenant:{tenant.name}"
    out.run(where, check_name, tenant.name, "tenant name")
    out.run(where, check_sip_domain, tenant.sip_domain)
    out.run(where, check_free_text, tenant.description, "description")
    preset = catalog.presets.get(tenant.platform)
    if preset is None:
        out.add(where, f"unknown platform {tenant.platform!r}; known: {', '.join(catalog.presets)}")
    else:
        for name in preset.required:
            value = tenant.settings.get(name, preset.defaults.get(name, ""))
            if value in ("", None):
                out.add(where, f"platform {preset.name} requires setting {name}")
    _check_values(out, catalog, where, tenant.settings, tenant=True)
    _check_locked(out, where, tenant.locked, tenant.settings)
    tenant_lock = (tenant.locked, f"tenant:{tenant.name}")

    for group in tenant.groups.values():
        gwhere = group.where or f"group:{tenant.name}/{group.name}"
        out.run(gwhere, check_name, group.name, "group name")
        out.run(gwhere, check_free_text, group.description, "description")
        out.run(gwhere, check_weight, group.weight)
        _check_values(out, catalog, gwhere, group.settings, locks=[tenant_lock])
        _check_locked(out, gwhere, group.locked, group.settings)

    for phone in tenant.phones.values():
        _check_phone(out, catalog, tenant, phone, tenant_lock)
    return out.problems


def _check_phone(
    out: _Collector,
    catalog: Catalog,
    tenant: TenantState,
    phone: PhoneState,
    tenant_lock: tuple[set[str], str],
) -> None:
    where = phone.where or f"phone:{phone.mac}"
    out.run(where, check_canonical_mac, phone.mac)
    out.run(where, check_free_text, phone.description, "description")
    try:
        model = catalog.model(phone.model)
    except InputError as exc:
        out.add(where, str(exc))
        return
    family = catalog.family_of(model)
    locks = [tenant_lock]
    for name in phone.groups:
        group = tenant.groups.get(name)
        if group is None:
            out.add(where, f"unknown group {name!r} in tenant {tenant.name}")
        else:
            locks.append((group.locked, f"group:{tenant.name}/{name}"))
    if len(set(phone.groups)) != len(phone.groups):
        out.add(where, "a group is listed twice")
    _check_values(out, catalog, where, phone.settings, family=family, locks=locks)

    if len(phone.lines) > model.max_lines:
        out.add(
            where, f"{len(phone.lines)} lines, but a {model.label} has at most {model.max_lines}"
        )
    seen: set[int] = set()
    for line in phone.lines:
        _check_line(out, catalog, line, phone, family, model.max_lines, locks, seen)


def _check_line(
    out: _Collector,
    catalog: Catalog,
    line: LineState,
    phone: PhoneState,
    family: Family,
    max_lines: int,
    locks: list[tuple[set[str], str]],
    seen: set[int],
) -> None:
    where = line.where or f"line:{phone.mac}/{line.position}"
    if not 1 <= line.position <= max_lines:
        out.add(where, f"line position {line.position} is outside 1..{max_lines}")
    if line.position in seen:
        out.add(where, f"line position {line.position} is used twice")
    seen.add(line.position)
    out.run(where, check_sip_user, line.user, "user")
    if line.auth_user:
        out.run(where, check_sip_user, line.auth_user, "auth user")
    out.run(where, check_credential, line.password, "password")
    out.run(where, check_free_text, line.display_name, "display name", allow_control=True)
    out.run(where, check_free_text, line.label, "label", allow_control=True)
    _check_values(out, catalog, where, line.settings, family=family, line=True, locks=locks)

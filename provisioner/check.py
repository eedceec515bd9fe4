"""Validation of a tenant's state against the catalog: whole, or what a change touched.

One set of rules decides whether a tenant's state may be stored, whatever
produced it (fleet file or single command). It reports every problem, each
with a location, rather than stopping at the first. :func:`check_tenant`
checks everything (``apply``, a new tenant); :func:`check_change` checks
only the entities a single edit touched, which gives the same new problems
because every rule reads only an entity, its tenant's head and the groups
it names:

- the tenant's own fields, settings and locks are always checked (cheap);
- a changed group is checked; a changed or new phone is checked with its lines;
- rules that reach across entities widen the check: a change of the
  tenant's locks re-checks every group and phone (the lock rule is
  tenant-wide), and a group created, removed or whose locks changed
  re-checks the phones that name it (unknown group, the group's locks);
- a list setting some models cannot take every item of (``codecs``,
  ``[supports]`` in a family.toml) is checked on each phone as the phone
  resolves it, so a change of it at the tenant (or of the tenant's
  platform) re-checks every phone, and at a group the group's phones;
- a change of the tenant's or a group's keys settings re-checks every
  phone, and a line user that disappears re-checks the phones whose keys
  watch it (keys rule below).

Keys rule (docs/settings.md "Keys"): the keys and modules in effect for a
phone (resolved as :mod:`provisioner.resolve` does, locks included) must fit
its model and modules and name lines it has and targets of its tenant
(:func:`provisioner.keylayout.place_keys`): the line users of the phones it
holds, and, for a partial state, :attr:`TenantState.other_users`.

Given partial states (a single edit's, :attr:`TenantState.loaded`), it
checks the phones they hold: the store has loaded into them the phones a
change of locks, of a restricted list or of keys reaches
(:func:`provisioner.store._tenants.widen`), and no other rule reaches a
phone the edit did not touch.

Values unique across tenants (``access.url_token``, ``access.ftp.user``)
are checked against the database by the store, for every write.

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

import functools
from collections.abc import Callable, Collection, Iterable
from typing import Any

from provisioner.catalog import Catalog, Family, ModelDef
from provisioner.errors import InputError, Problem
from provisioner.keylayout import attached_modules, place_keys
from provisioner.settings import WATCHED_TYPES, Key, Value, as_int
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

__all__ = ["check_change", "check_tenant"]


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
    return _check(catalog, tenant, tenant.groups, tenant.phones)


def check_change(catalog: Catalog, before: TenantState | None, after: TenantState) -> list[Problem]:
    """The problems ``after`` has that ``before`` did not, checking only what changed.

    The same list as the problems of :func:`check_tenant` on ``after`` that
    it does not report on ``before`` (the module's docstring says why);
    problems that were already there do not block the change.
    """
    restricted = catalog.restricted_lists
    if (
        before is None
        or before.locked != after.locked
        or before.platform != after.platform
        or _differ(before.settings, after.settings, restricted)
        or _keys_inputs(before) != _keys_inputs(after)
    ):
        groups: Collection[str] = after.groups
        phones: Collection[str] = after.phones
    else:
        groups = {
            name
            for name in after.groups.keys() | before.groups.keys()
            if before.groups.get(name) != after.groups.get(name)
        }
        widening = {
            name
            for name in groups
            if name not in before.groups
            or name not in after.groups
            or before.groups[name].locked != after.groups[name].locked
            or _differ(before.groups[name].settings, after.groups[name].settings, restricted)
        }
        phones = {mac for mac, phone in after.phones.items() if before.phones.get(mac) != phone}
        removed = _users(before) - _users(after)
        if removed:
            phones |= set(_watching(catalog, after, removed))
        if widening:
            phones |= {
                mac
                for mac, phone in after.phones.items()
                if widening.intersection(phone.groups)
                or (mac in before.phones and widening.intersection(before.phones[mac].groups))
            }
    if before is None:
        return _check(catalog, after, groups, phones)
    known = set(_check(catalog, before, groups, phones))
    return [p for p in _check(catalog, after, groups, phones) if p not in known]


def _differ(before: dict[str, Value], after: dict[str, Value], names: Collection[str]) -> bool:
    """True when any of ``names`` has a different value (or presence) in the two scopes."""
    return any(before.get(name) != after.get(name) for name in names)


def _check(
    catalog: Catalog, tenant: TenantState, groups: Collection[str], phones: Collection[str]
) -> list[Problem]:
    """The tenant's own problems, and those of its ``groups`` and ``phones`` (names, MACs).

    Groups and phones are checked in the tenant's order whatever the order
    of ``groups`` and ``phones``; names the tenant does not have are skipped.
    """
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

    selected = (tenant.groups[name] for name in tenant.groups if name in groups)
    for group in selected:
        gwhere = group.where or f"group:{tenant.name}/{group.name}"
        out.run(gwhere, check_name, group.name, "group name")
        out.run(gwhere, check_free_text, group.description, "description")
        out.run(gwhere, check_weight, group.weight)
        _check_values(out, catalog, gwhere, group.settings, locks=[tenant_lock])
        _check_locked(out, gwhere, group.locked, group.settings)

    if phones is tenant.phones:
        chosen: Iterable[PhoneState] = tenant.phones.values()
    else:
        chosen = [tenant.phones[mac] for mac in tenant.phones if mac in phones]
    # The tenant's line users, computed once and only if some phone has keys.
    users = functools.cache(lambda: _users(tenant))
    for phone in chosen:
        _check_phone(out, catalog, tenant, phone, tenant_lock, users)
    return out.problems


# keys.policy and its scope: the group a policy names must exist (the policy's
# other settings never make a phone invalid; docs/settings.md).
KEY_SETTINGS = ("keys", "modules.count", "modules.kind", "keys.policy", "keys.policy.scope")


def _keys_inputs(tenant: TenantState) -> object:
    """What the keys rule reads from the tenant and its groups (see the module docstring)."""
    return (
        [(n, tenant.settings.get(n), n in tenant.locked) for n in KEY_SETTINGS],
        {
            (g.name, n): (g.weight, g.settings.get(n), n in g.locked)
            for g in tenant.groups.values()
            for n in KEY_SETTINGS
        },
    )


def _watching(catalog: Catalog, tenant: TenantState, removed: frozenset[str]) -> Iterable[str]:
    """Phones whose keys watch one of the ``removed`` line users (a BLF or park target)."""
    for mac, phone in tenant.phones.items():
        keys = _effective(catalog, tenant, phone, "keys")
        if isinstance(keys, tuple) and any(
            isinstance(k, Key) and k.type in WATCHED_TYPES and k.value in removed for k in keys
        ):
            yield mac


def _users(tenant: TenantState) -> frozenset[str]:
    """The tenant's line users: its phones', and those of the phones a partial state lacks."""
    held = frozenset(line.user for p in tenant.phones.values() for line in p.lines)
    return held | tenant.other_users


def _effective(catalog: Catalog, tenant: TenantState, phone: PhoneState, name: str) -> Value:
    """The value of ``name`` in effect for ``phone`` (the resolver's layering and locks)."""
    spec = catalog.spec(name)
    found = _resolve_state(catalog, tenant, phone, name)
    if found is None:
        return spec.default
    try:
        return spec.coerce(found[0], scope="")
    except InputError:
        return spec.default  # reported where it was set


def _check_keys(
    out: _Collector,
    catalog: Catalog,
    tenant: TenantState,
    phone: PhoneState,
    where: str,
    users: Callable[[], frozenset[str]],
) -> None:
    model = catalog.model(phone.model)
    family = catalog.family_of(model)
    keys = _effective(catalog, tenant, phone, "keys")
    scope = str(_effective(catalog, tenant, phone, "keys.policy.scope"))
    if (
        scope
        and scope not in tenant.groups
        and _effective(catalog, tenant, phone, "keys.policy") != "none"
    ):
        out.add(where, f"keys.policy.scope: tenant {tenant.name} has no group {scope!r}")
    count = as_int(_effective(catalog, tenant, phone, "modules.count"))
    module, problems = attached_modules(
        model, family, count, str(_effective(catalog, tenant, phone, "modules.kind"))
    )
    if not problems and isinstance(keys, tuple) and keys:
        _, problems = place_keys(
            [k for k in keys if isinstance(k, dict)],
            model=model,
            family=family,
            lines=[line.position for line in phone.lines],
            module=module,
            module_count=count if module else 0,
            users=users(),
        )
    for problem in problems:
        out.add(where, problem)


def _check_phone(
    out: _Collector,
    catalog: Catalog,
    tenant: TenantState,
    phone: PhoneState,
    tenant_lock: tuple[set[str], str],
    users: Callable[[], frozenset[str]],
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
    _check_supported(out, catalog, tenant, phone, model, where)

    _check_keys(out, catalog, tenant, phone, where, users)
    if len(phone.lines) > model.max_lines:
        out.add(
            where, f"{len(phone.lines)} lines, but a {model.label} has at most {model.max_lines}"
        )
    seen: set[int] = set()
    for line in phone.lines:
        _check_line(out, catalog, line, phone, family, model.max_lines, locks, seen)


def _check_supported(
    out: _Collector,
    catalog: Catalog,
    tenant: TenantState,
    phone: PhoneState,
    model: ModelDef,
    where: str,
) -> None:
    """Refuse list items (codecs) the phone's model cannot take, wherever they were set.

    The value is the one the phone resolves to, so a tenant or group value
    is checked against every phone it reaches, and a phone that sets its own
    value is checked against that instead.
    """
    for name in sorted(catalog.restricted_lists):
        allowed = catalog.supported_items(name, model)
        if allowed is None:
            continue
        found = _resolve_state(catalog, tenant, phone, name)
        if found is None:
            continue
        value, source = found
        # A value of the wrong type is reported where it is set (_check_values).
        items = value if isinstance(value, tuple) else ()
        lacking = [item for item in items if isinstance(item, str) and item not in allowed]
        if not lacking:
            continue
        family = catalog.family_of(model)
        reason = family.unsupported.get(name)
        takes = f"; it takes {', '.join(allowed)}" if allowed else f" ({reason})" if reason else ""
        out.add(
            where,
            f"setting {name} from {source}: {', '.join(lacking)} "
            f"{'is' if len(lacking) == 1 else 'are'} not available on a {model.label}{takes}",
        )


def _resolve_state(
    catalog: Catalog, tenant: TenantState, phone: PhoneState, name: str
) -> tuple[Value, str] | None:
    """The value ``phone`` gets for a phone-scope setting, and the scope it comes from.

    Follows docs/settings.md (a lock wins, then phone, groups by weight,
    tenant, preset); ``None`` when nothing sets it (the schema default).
    """
    tenant_ref = f"tenant:{tenant.name}"
    if name in tenant.locked and name in tenant.settings:
        return tenant.settings[name], tenant_ref
    groups = sorted(
        (tenant.groups[g] for g in phone.groups if g in tenant.groups),
        key=lambda g: (g.weight, g.name),
        reverse=True,
    )
    for group in groups:
        if name in group.locked and name in group.settings:
            return group.settings[name], f"group:{tenant.name}/{group.name}"
    if name in phone.settings:
        return phone.settings[name], f"phone:{phone.mac}"
    for group in groups:
        if name in group.settings:
            return group.settings[name], f"group:{tenant.name}/{group.name}"
    if name in tenant.settings:
        return tenant.settings[name], tenant_ref
    preset = catalog.presets.get(tenant.platform)
    if preset is not None and name in preset.defaults:
        return preset.defaults[name], f"platform preset {preset.name}"
    return None


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

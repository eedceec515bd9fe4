"""Entities as admins see them: fleet-file entries, their versions, what is secret.

A tenant, group, phone or line is shown (command line, API) and written in
the shape of its fleet-file entry (:mod:`provisioner.fleet`). This module
picks one entity out of a tenant's state by its scope reference, gives its
version (the API's ETag) and tells which of its fields are secret:

- **versions** are an HMAC of the full entry, secrets included (so changing
  only a password changes the version) under a key derived from the server's
  device key (so a version reveals nothing about the secret);
- **secret fields** (line passwords, settings the catalog marks secret) are
  write-only: :func:`redact` drops them from what is shown, listing which are
  set, and :func:`keep_write_only` carries their stored values into a
  replacement that does not give them.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from provisioner.catalog import Catalog
from provisioner.domain import ScopeKind
from provisioner.errors import InputError, NotFoundError
from provisioner.fleet import group_entry, line_entry, phone_entry, tenant_entry
from provisioner.scope import ScopeRef
from provisioner.settings import Value
from provisioner.state import GroupState, LineState, PhoneState, TenantState

__all__ = [
    "Versions",
    "entity_view",
    "keep_write_only",
    "redact",
    "scope_settings",
    "secret_paths",
    "setting_view",
]

Entry = dict[str, Any]


class Versions:
    """Versions of entries (ETags): a keyed hash of their canonical JSON."""

    def __init__(self, device_key: bytes) -> None:
        self._key = hmac.new(device_key, b"provisioner entity version", hashlib.sha256).digest()

    def of(self, view: object) -> str:
        """The version of ``view`` (32 hex digits)."""
        text = json.dumps(view, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def find_group(state: TenantState, name: str) -> GroupState:
    """A group of the tenant, or :class:`NotFoundError`."""
    group = state.groups.get(name)
    if group is None:
        raise NotFoundError(f"no group {state.name}/{name}")
    return group


def find_phone(state: TenantState, mac: str) -> PhoneState:
    """A phone of the tenant, or :class:`NotFoundError`."""
    phone = state.phones.get(mac)
    if phone is None:
        raise NotFoundError(f"no phone with MAC {mac}")
    return phone


def find_line(phone: PhoneState, position: int) -> LineState:
    """A line of the phone, or :class:`NotFoundError`."""
    for line in phone.lines:
        if line.position == position:
            return line
    raise NotFoundError(f"phone {phone.mac} has no line {position}")


def entity_view(state: TenantState | None, ref: ScopeRef) -> Entry | None:
    """The entry of the entity ``ref`` names (a tenant: its own fields only), or ``None``."""
    if state is None:
        return None
    try:
        if ref.kind is ScopeKind.TENANT:
            return tenant_entry(state)
        if ref.kind is ScopeKind.GROUP:
            return group_entry(state.name, find_group(state, ref.group))
        phone = find_phone(state, ref.mac)
        if ref.kind is ScopeKind.PHONE:
            return phone_entry(state.name, phone)
        return line_entry(find_line(phone, ref.position))
    except NotFoundError:
        return None


def scope_settings(state: TenantState, ref: ScopeRef) -> tuple[dict[str, Value], set[str] | None]:
    """The settings stored at the scope ``ref`` names, and its lock set (tenants and groups).

    :raises NotFoundError: the group, phone or line does not exist.
    """
    if ref.kind is ScopeKind.TENANT:
        return state.settings, state.locked
    if ref.kind is ScopeKind.GROUP:
        group = find_group(state, ref.group)
        return group.settings, group.locked
    phone = find_phone(state, ref.mac)
    if ref.kind is ScopeKind.PHONE:
        return phone.settings, None
    return find_line(phone, ref.position).settings, None


def setting_view(state: TenantState | None, ref: ScopeRef, name: str) -> Entry | None:
    """``{"value", "locked"}`` of setting ``name`` stored at ``ref``, or ``None`` when unset."""
    if state is None:
        return None
    try:
        settings, locked = scope_settings(state, ref)
    except NotFoundError:
        return None
    if name not in settings:
        return None
    return {"value": settings[name], "locked": name in (locked or set())}


def secret_paths(catalog: Catalog, setting: str | None = None) -> Callable[[str], bool]:
    """Whether a path of a flattened entry holds a secret (``setting``: a setting view's)."""

    def secret(path: str) -> bool:
        if setting is not None:
            return path == "value" and _is_secret(catalog, setting)
        last = path.rsplit(".", 1)[-1]
        if last == "password" and "settings." not in path:
            return True
        _, found, name = path.partition("settings.")
        return bool(found) and _is_secret(catalog, name)

    return secret


def _is_secret(catalog: Catalog, name: str) -> bool:
    try:
        return catalog.spec(name).secret
    except InputError:  # an unknown name: nothing the catalog protects, but do not show it
        return True


def redact(catalog: Catalog, entry: Entry) -> Entry:
    """``entry`` without its secrets: ``secret_settings`` lists the secret settings set,
    each line says ``password_set``."""
    shown: Entry = _copied(entry)
    _redact_settings(catalog, shown)
    for line in shown.get("lines", []):
        line["password_set"] = bool(line.pop("password", ""))
        _redact_settings(catalog, line)
    return shown


def _copied(value: Any) -> Any:
    """A copy of a JSON-like tree (dicts, lists, scalars).

    What ``copy.deepcopy`` gives for an entry, at a fraction of its cost (no
    memo: an entry shares no parts); a page of 100 phones is redacted in
    about a millisecond instead of five.
    """
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


def _redact_settings(catalog: Catalog, entry: Entry) -> None:
    settings = entry.get("settings")
    if not settings:
        return
    hidden = sorted(name for name in settings if _is_secret(catalog, name))
    for name in hidden:
        del settings[name]
    if not settings:
        del entry["settings"]
    if hidden:
        entry["secret_settings"] = hidden


def keep_write_only(catalog: Catalog, stored: Entry | None, given: Entry) -> Entry:
    """``given`` with the stored secrets it does not mention (a replacement keeps them)."""
    if stored is None:
        return given
    result = copy.deepcopy(given)
    _keep_settings(catalog, stored, result)
    old_lines = {line.get("position"): line for line in stored.get("lines", [])}
    for index, line in enumerate(result.get("lines", [])):
        old = old_lines.get(line.get("position", index + 1))
        if old is None:
            continue
        if "password" not in line and old.get("password"):
            line["password"] = old["password"]
        _keep_settings(catalog, old, line)
    return result


def _keep_settings(catalog: Catalog, stored: Entry, result: Entry) -> None:
    kept = {
        name: value
        for name, value in stored.get("settings", {}).items()
        if _is_secret(catalog, name) and name not in result.get("settings", {})
    }
    if kept:
        result["settings"] = {**result.get("settings", {}), **kept}

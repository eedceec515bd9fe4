"""Tenants, groups, phones and lines: bodies in the fleet file's shape, through :class:`Edits`."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from provisioner.api._call import Call, Reply, etag
from provisioner.api._models import (
    Group,
    GroupIn,
    Line,
    LineIn,
    ListQuery,
    Phone,
    PhoneIn,
    Tenant,
    TenantIn,
    page_of,
    partial,
)
from provisioner.api._routing import PREFIX, Route
from provisioner.apikeys import Role
from provisioner.entities import find_group, find_line, find_phone, keep_write_only, redact
from provisioner.errors import ConflictError, InputError, NotFoundError
from provisioner.fleet import (
    group_entry,
    line_entry,
    parse_group_entry,
    parse_line_entry,
    parse_phone_entry,
    parse_tenant_entry,
    phone_entry,
    tenant_entry,
)
from provisioner.mac import parse_mac
from provisioner.state import TenantState

__all__ = ["ROUTES", "page", "sort_key"]

TenantPatch = partial(TenantIn, "TenantPatch")
GroupPatch = partial(GroupIn, "GroupPatch")
PhonePatch = partial(PhoneIn, "PhonePatch")
LinePatch = partial(LineIn, "LinePatch")
_READ_ONLY = ("secret_settings", "password_set")


def body_entry(call: Call) -> dict[str, Any]:
    """The body as a fleet entry: unset, null and read-only fields left out."""
    cleaned: dict[str, Any] = _clean(call.sent)
    return cleaned


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None and k not in _READ_ONLY}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396: objects merge, null removes, anything else replaces."""
    result = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_patch(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def sort_key(query: ListQuery, allowed: tuple[str, ...]) -> tuple[str, bool]:
    """The field and direction ``sort`` names, among ``allowed`` (the first is the default)."""
    text = query.sort or allowed[0]
    field = text.removeprefix("-")
    if field not in allowed:
        raise InputError(f"sort: cannot sort by {field!r}; use one of {', '.join(allowed)}")
    return field, text.startswith("-")


def page(items: Sequence[BaseModel], total: int, query: ListQuery, model: type[BaseModel]) -> Reply:
    """A list answer."""
    return Reply(model(items=items, total=total, limit=query.limit, offset=query.offset))


def _sorted(
    rows: list[dict[str, Any]], query: ListQuery, allowed: tuple[str, ...]
) -> list[dict[str, Any]]:
    field, descending = sort_key(query, allowed)
    ordered = sorted(rows, key=lambda r: (str(r.get(field, "")), str(r.get(allowed[0], ""))))
    if descending:
        ordered.reverse()
    return ordered[query.offset : query.offset + query.limit]


# --- tenants ---------------------------------------------------------------

TenantPage = page_of(Tenant, "TenantPage")


async def _state(call: Call, tenant: str) -> TenantState:
    call.own(tenant, f"no tenant named {tenant!r}")
    return await call.run(lambda: call.services.store.tenants.state(tenant))


def _tenant_reply(call: Call, state: TenantState, status: int = 200) -> Reply:
    entry = tenant_entry(state)
    reply = Reply(
        Tenant.model_validate(redact(call.services.catalog, entry)),
        status,
        etag(call.edits.versions.of(entry)),
    )
    if status == 201:
        reply.location = f"{PREFIX}/tenants/{quote(state.name, safe='')}"
    return reply


async def list_tenants(call: Call) -> Reply:
    """Tenants the key may see."""
    heads = await call.run(call.services.store.tenants.tenant_heads)
    rows = [tenant_entry(h) for h in heads if call.sees(h.name)]
    chosen = _sorted(rows, call.query, ("name", "sip_domain", "platform"))
    items = [Tenant.model_validate(redact(call.services.catalog, r)) for r in chosen]
    return page(items, len(rows), call.query, TenantPage)


async def create_tenant(call: Call) -> Reply:
    """Create a tenant."""
    state = parse_tenant_entry(body_entry(call))
    await call.run(lambda: call.edits.create_tenant(state))
    return _tenant_reply(call, await _state(call, state.name), 201)


async def get_tenant(call: Call) -> Reply:
    """One tenant."""
    return _tenant_reply(call, await _state(call, call.params["tenant"]))


async def _write_tenant(call: Call, entry: dict[str, Any]) -> Reply:
    name = call.params["tenant"]
    if entry.get("name", name) != name:
        raise ConflictError(f"the body names tenant {entry.get('name')!r}, the path {name!r}")
    head = parse_tenant_entry({**entry, "name": name})
    await call.run(lambda: call.edits.replace_tenant(head, expect=call.expect()))
    return _tenant_reply(call, await _state(call, name))


async def replace_tenant(call: Call) -> Reply:
    """Replace a tenant's own fields and settings (secrets not given are kept)."""
    stored = tenant_entry(await _state(call, call.params["tenant"]))
    return await _write_tenant(
        call, keep_write_only(call.services.catalog, stored, body_entry(call))
    )


async def patch_tenant(call: Call) -> Reply:
    """Change some of a tenant's fields (JSON merge patch)."""
    stored = tenant_entry(await _state(call, call.params["tenant"]))
    return await _write_tenant(call, merge_patch(stored, call.sent))


async def delete_tenant(call: Call) -> Reply:
    """Delete a tenant with everything under it."""
    name = call.params["tenant"]
    call.own(name, f"no tenant named {name!r}")
    await call.run(lambda: call.edits.remove_tenant(name, expect=call.expect()))
    return Reply()


# --- groups ----------------------------------------------------------------

GroupPage = page_of(Group, "GroupPage")


def _group_reply(call: Call, state: TenantState, name: str, status: int = 200) -> Reply:
    entry = group_entry(state.name, find_group(state, name))
    reply = Reply(
        Group.model_validate(redact(call.services.catalog, entry)),
        status,
        etag(call.edits.versions.of(entry)),
    )
    if status == 201:
        reply.location = (
            f"{PREFIX}/tenants/{quote(state.name, safe='')}/groups/{quote(name, safe='')}"
        )
    return reply


async def list_groups(call: Call) -> Reply:
    """A tenant's groups (sort by -weight for the order phones see them in)."""
    state = await _state(call, call.params["tenant"])
    rows = [group_entry(state.name, g) for g in state.groups.values()]
    field, descending = sort_key(call.query, ("name", "weight"))
    if field == "weight":  # as phones see them: highest first, ties by name either way
        rows.sort(key=lambda r: (-r["weight"] if descending else r["weight"], r["name"]))
    else:
        rows.sort(key=lambda r: str(r["name"]), reverse=descending)
    chosen = rows[call.query.offset : call.query.offset + call.query.limit]
    items = [Group.model_validate(redact(call.services.catalog, r)) for r in chosen]
    return page(items, len(rows), call.query, GroupPage)


def _group_body(call: Call, entry: dict[str, Any]) -> Any:
    tenant = call.params["tenant"]
    if entry.get("tenant", tenant) != tenant:
        raise ConflictError(f"the body names tenant {entry.get('tenant')!r}, the path {tenant!r}")
    return parse_group_entry({**entry, "tenant": tenant})[1]


async def create_group(call: Call) -> Reply:
    """Create a group in a tenant."""
    tenant = call.params["tenant"]
    await _state(call, tenant)
    group = _group_body(call, body_entry(call))
    await call.run(lambda: call.edits.create_group(tenant, group))
    return _group_reply(call, await _state(call, tenant), group.name, 201)


async def get_group(call: Call) -> Reply:
    """One group."""
    state = await _state(call, call.params["tenant"])
    return _group_reply(call, state, call.params["group"])


async def _write_group(call: Call, entry: dict[str, Any]) -> Reply:
    tenant, name = call.params["tenant"], call.params["group"]
    if entry.get("name", name) != name:
        raise ConflictError(f"the body names group {entry.get('name')!r}, the path {name!r}")
    group = _group_body(call, {**entry, "name": name})
    await call.run(lambda: call.edits.replace_group(tenant, group, expect=call.expect()))
    return _group_reply(call, await _state(call, tenant), name)


async def _stored_group(call: Call) -> dict[str, Any]:
    state = await _state(call, call.params["tenant"])
    return group_entry(state.name, find_group(state, call.params["group"]))


async def replace_group(call: Call) -> Reply:
    """Replace a group's fields and settings; its members stay."""
    stored = await _stored_group(call)
    return await _write_group(
        call, keep_write_only(call.services.catalog, stored, body_entry(call))
    )


async def patch_group(call: Call) -> Reply:
    """Change some of a group's fields (JSON merge patch)."""
    return await _write_group(call, merge_patch(await _stored_group(call), call.sent))


async def delete_group(call: Call) -> Reply:
    """Delete a group; its phones leave it."""
    tenant, name = call.params["tenant"], call.params["group"]
    await _state(call, tenant)
    await call.run(lambda: call.edits.remove_group(tenant, name, expect=call.expect()))
    return Reply()


def _mover(up: bool) -> Callable[[Call], Any]:
    async def move(call: Call) -> Reply:
        tenant, name = call.params["tenant"], call.params["group"]
        await _state(call, tenant)
        await call.run(lambda: call.edits.move_group(tenant, name, up))
        return _group_reply(call, await _state(call, tenant), name)

    move.__name__ = "move_group_up" if up else "move_group_down"
    move.__doc__ = f"Move a group one place {'up' if up else 'down'} in its tenant's order."
    return move


# --- phones ----------------------------------------------------------------

PhonePage = page_of(Phone, "PhonePage")


async def _phone_tenant(call: Call) -> tuple[str, str]:
    mac = parse_mac(call.params["mac"])
    tenant = await call.run(lambda: call.services.store.tenants.tenant_of(mac))
    call.own(tenant, f"no phone with MAC {mac}")
    return mac, tenant


async def _phone_reply(call: Call, mac: str, status: int = 200) -> Reply:
    mac, tenant = mac, await call.run(lambda: call.services.store.tenants.tenant_of(mac))
    state = await _state(call, tenant)
    entry = phone_entry(tenant, find_phone(state, mac))
    reply = Reply(
        Phone.model_validate(redact(call.services.catalog, entry)),
        status,
        etag(call.edits.versions.of(entry)),
    )
    if status == 201:
        reply.location = f"{PREFIX}/phones/{mac}"
    return reply


async def list_phones(call: Call) -> Reply:
    """Phones, filtered by tenant, group, model, enabled."""
    q = call.query
    order, descending = sort_key(q, ("mac", "model", "tenant", "description"))
    tenants = None
    if call.key.tenant is not None:
        tenants = [call.key.tenant] if q.tenant in (None, call.key.tenant) else []
    elif q.tenant is not None:
        tenants = [q.tenant]
    rows, total = await call.run(
        lambda: call.services.store.tenants.phone_page(
            tenants=tenants,
            group=q.group,
            model=q.model,
            enabled=q.enabled,
            order=order,
            descending=descending,
            limit=q.limit,
            offset=q.offset,
        )
    )
    catalog = call.services.catalog
    items = [Phone.model_validate(redact(catalog, phone_entry(t, p))) for t, p in rows]
    return page(items, total, q, PhonePage)


async def create_phone(call: Call) -> Reply:
    """Create a phone with its lines."""
    entry = body_entry(call)
    if call.key.tenant is not None:
        entry.setdefault("tenant", call.key.tenant)
    tenant, phone = parse_phone_entry(entry, call.services.catalog)
    call.own(tenant, f"no tenant named {tenant!r}")
    await call.run(lambda: call.edits.create_phone(tenant, phone))
    return await _phone_reply(call, phone.mac, 201)


async def get_phone(call: Call) -> Reply:
    """One phone with its lines."""
    mac, _ = await _phone_tenant(call)
    return await _phone_reply(call, mac)


async def _write_phone(call: Call, mac: str, tenant: str, entry: dict[str, Any]) -> Reply:
    if "mac" in entry and parse_mac(str(entry["mac"])) != mac:
        raise ConflictError(f"the body names phone {entry['mac']}, the path {mac}")
    entry = {**entry, "mac": mac, "tenant": entry.get("tenant", tenant)}
    owner, phone = parse_phone_entry(entry, call.services.catalog)
    call.own(owner, f"no tenant named {owner!r}")
    await call.run(lambda: call.edits.replace_phone(owner, phone, expect=call.expect()))
    return await _phone_reply(call, mac)


async def _stored_phone(call: Call) -> tuple[str, str, dict[str, Any]]:
    mac, tenant = await _phone_tenant(call)
    state = await _state(call, tenant)
    return mac, tenant, phone_entry(tenant, find_phone(state, mac))


async def replace_phone(call: Call) -> Reply:
    """Replace a phone with its lines (line passwords and secrets not given are kept)."""
    mac, tenant, stored = await _stored_phone(call)
    entry = keep_write_only(call.services.catalog, stored, body_entry(call))
    return await _write_phone(call, mac, tenant, entry)


async def patch_phone(call: Call) -> Reply:
    """Change some of a phone's fields (JSON merge patch; ``lines`` replaces the list)."""
    mac, tenant, stored = await _stored_phone(call)
    entry = keep_write_only(call.services.catalog, stored, merge_patch(stored, _clean_patch(call)))
    return await _write_phone(call, mac, tenant, entry)


def _clean_patch(call: Call) -> dict[str, Any]:
    return {k: v for k, v in call.sent.items() if k not in _READ_ONLY}


async def delete_phone(call: Call) -> Reply:
    """Delete a phone with its lines."""
    mac, _ = await _phone_tenant(call)
    await call.run(lambda: call.edits.remove_phone(mac, expect=call.expect()))
    return Reply()


def _toggle(enabled: bool) -> Callable[[Call], Any]:
    async def toggle(call: Call) -> Reply:
        mac, _ = await _phone_tenant(call)
        await call.run(lambda: call.edits.update_phone(mac, enabled=enabled, expect=call.expect()))
        return await _phone_reply(call, mac)

    toggle.__name__ = "enable_phone" if enabled else "disable_phone"
    toggle.__doc__ = f"{'Enable' if enabled else 'Disable'} a phone (a disabled one gets no files)."
    return toggle


def _membership(join: bool) -> Callable[[Call], Any]:
    async def member(call: Call) -> Reply:
        mac, tenant = await _phone_tenant(call)
        group = call.params["group"]
        state = await _state(call, tenant)
        groups = list(find_phone(state, mac).groups)
        if join and group not in groups:
            groups.append(group)
        elif not join:
            if group not in groups:
                raise NotFoundError(f"phone {mac} is not in group {tenant}/{group}")
            groups.remove(group)
        await call.run(lambda: call.edits.update_phone(mac, groups=groups))
        return await _phone_reply(call, mac)

    member.__name__ = "add_phone_to_group" if join else "remove_phone_from_group"
    member.__doc__ = "Put a phone in a group." if join else "Take a phone out of a group."
    return member


# --- lines -----------------------------------------------------------------

LinePage = page_of(Line, "LinePage")


def _position(call: Call) -> int:
    text = call.params["position"]
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise NotFoundError(f"no line {text!r}: positions are 1, 2, …")
    return int(text)


async def _line_reply(call: Call, mac: str, position: int, status: int = 200) -> Reply:
    mac, tenant = mac, await call.run(lambda: call.services.store.tenants.tenant_of(mac))
    state = await _state(call, tenant)
    entry = line_entry(find_line(find_phone(state, mac), position))
    redacted = redact(call.services.catalog, {"lines": [entry]})["lines"][0]
    reply = Reply(Line.model_validate(redacted), status, etag(call.edits.versions.of(entry)))
    if status == 201:
        reply.location = f"{PREFIX}/phones/{mac}/lines/{position}"
    return reply


async def list_lines(call: Call) -> Reply:
    """A phone's lines."""
    _, _, stored = await _stored_phone(call)
    lines = stored.get("lines", [])
    redacted = redact(call.services.catalog, {"lines": lines})["lines"] if lines else []
    window = redacted[call.query.offset : call.query.offset + call.query.limit]
    return page([Line.model_validate(x) for x in window], len(lines), call.query, LinePage)


async def create_line(call: Call) -> Reply:
    """Add a line (at the first free position unless ``position`` is given)."""
    mac, _ = await _phone_tenant(call)
    line = parse_line_entry(body_entry(call))
    position = await call.run(lambda: call.edits.add_line(mac, line))
    return await _line_reply(call, mac, position, 201)


async def get_line(call: Call) -> Reply:
    """One line."""
    mac, _ = await _phone_tenant(call)
    return await _line_reply(call, mac, _position(call))


async def _stored_line(call: Call) -> tuple[str, int, dict[str, Any]]:
    mac, tenant = await _phone_tenant(call)
    position = _position(call)
    state = await _state(call, tenant)
    return mac, position, line_entry(find_line(find_phone(state, mac), position))


async def _write_line(call: Call, mac: str, position: int, entry: dict[str, Any]) -> Reply:
    if entry.get("position", position) != position:
        raise ConflictError(f"the body names line {entry['position']}, the path {position}")
    line = parse_line_entry({**entry, "position": position})
    await call.run(lambda: call.edits.replace_line(mac, line, expect=call.expect()))
    return await _line_reply(call, mac, position)


async def replace_line(call: Call) -> Reply:
    """Replace a line (a password left out keeps the stored one)."""
    mac, position, stored = await _stored_line(call)
    given = {**body_entry(call), "position": position}
    merged = keep_write_only(call.services.catalog, {"lines": [stored]}, {"lines": [given]})
    return await _write_line(call, mac, position, merged["lines"][0])


async def patch_line(call: Call) -> Reply:
    """Change some of a line's fields (JSON merge patch)."""
    mac, position, stored = await _stored_line(call)
    return await _write_line(call, mac, position, merge_patch(stored, _clean_patch(call)))


async def delete_line(call: Call) -> Reply:
    """Delete a line."""
    mac, position, _ = await _stored_line(call)
    await call.run(lambda: call.edits.remove_line(mac, position, expect=call.expect()))
    return Reply()


class PhoneQuery(ListQuery):
    """Paging, order and filters of the phone list."""

    tenant: str | None = None
    group: str | None = None
    model: str | None = None
    enabled: bool | None = None


_T = {"tenant": "tenant name"}
_G = {"tenant": "tenant name", "group": "group name"}
_M = {"mac": "MAC in any spelling"}
_L = {"mac": "MAC in any spelling", "position": "line position, from 1"}
VIEWER, OPERATOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ADMIN
ROUTES = [
    Route(
        "GET",
        "/tenants",
        list_tenants,
        "List tenants",
        "tenants",
        VIEWER,
        query=ListQuery,
        answer=TenantPage,
    ),
    Route(
        "POST",
        "/tenants",
        create_tenant,
        "Create a tenant",
        "tenants",
        ADMIN,
        body=TenantIn,
        answer=Tenant,
        status=201,
        etag=True,
    ),
    Route(
        "GET",
        "/tenants/{tenant}",
        get_tenant,
        "Read a tenant",
        "tenants",
        VIEWER,
        answer=Tenant,
        etag=True,
        params=_T,
    ),
    Route(
        "PUT",
        "/tenants/{tenant}",
        replace_tenant,
        "Replace a tenant",
        "tenants",
        ADMIN,
        body=TenantIn,
        answer=Tenant,
        etag=True,
        params=_T,
    ),
    Route(
        "PATCH",
        "/tenants/{tenant}",
        patch_tenant,
        "Change a tenant",
        "tenants",
        ADMIN,
        body=TenantPatch,
        answer=Tenant,
        etag=True,
        params=_T,
    ),
    Route(
        "DELETE",
        "/tenants/{tenant}",
        delete_tenant,
        "Delete a tenant",
        "tenants",
        ADMIN,
        etag=True,
        params=_T,
    ),
    Route(
        "GET",
        "/tenants/{tenant}/groups",
        list_groups,
        "List a tenant's groups",
        "groups",
        VIEWER,
        query=ListQuery,
        answer=GroupPage,
        params=_T,
    ),
    Route(
        "POST",
        "/tenants/{tenant}/groups",
        create_group,
        "Create a group",
        "groups",
        OPERATOR,
        body=GroupIn,
        answer=Group,
        status=201,
        etag=True,
        params=_T,
    ),
    Route(
        "GET",
        "/tenants/{tenant}/groups/{group}",
        get_group,
        "Read a group",
        "groups",
        VIEWER,
        answer=Group,
        etag=True,
        params=_G,
    ),
    Route(
        "PUT",
        "/tenants/{tenant}/groups/{group}",
        replace_group,
        "Replace a group",
        "groups",
        OPERATOR,
        body=GroupIn,
        answer=Group,
        etag=True,
        params=_G,
    ),
    Route(
        "PATCH",
        "/tenants/{tenant}/groups/{group}",
        patch_group,
        "Change a group",
        "groups",
        OPERATOR,
        body=GroupPatch,
        answer=Group,
        etag=True,
        params=_G,
    ),
    Route(
        "DELETE",
        "/tenants/{tenant}/groups/{group}",
        delete_group,
        "Delete a group",
        "groups",
        OPERATOR,
        etag=True,
        params=_G,
    ),
    Route(
        "POST",
        "/tenants/{tenant}/groups/{group}/up",
        _mover(True),
        "Move a group up",
        "groups",
        OPERATOR,
        answer=Group,
        etag=True,
        params=_G,
    ),
    Route(
        "POST",
        "/tenants/{tenant}/groups/{group}/down",
        _mover(False),
        "Move a group down",
        "groups",
        OPERATOR,
        answer=Group,
        etag=True,
        params=_G,
    ),
    Route(
        "GET",
        "/phones",
        list_phones,
        "List phones",
        "phones",
        VIEWER,
        query=PhoneQuery,
        answer=PhonePage,
    ),
    Route(
        "POST",
        "/phones",
        create_phone,
        "Create a phone",
        "phones",
        OPERATOR,
        body=PhoneIn,
        answer=Phone,
        status=201,
        etag=True,
    ),
    Route(
        "GET",
        "/phones/{mac}",
        get_phone,
        "Read a phone",
        "phones",
        VIEWER,
        answer=Phone,
        etag=True,
        params=_M,
    ),
    Route(
        "PUT",
        "/phones/{mac}",
        replace_phone,
        "Replace a phone",
        "phones",
        OPERATOR,
        body=PhoneIn,
        answer=Phone,
        etag=True,
        params=_M,
    ),
    Route(
        "PATCH",
        "/phones/{mac}",
        patch_phone,
        "Change a phone",
        "phones",
        OPERATOR,
        body=PhonePatch,
        answer=Phone,
        etag=True,
        params=_M,
    ),
    Route(
        "DELETE",
        "/phones/{mac}",
        delete_phone,
        "Delete a phone",
        "phones",
        OPERATOR,
        etag=True,
        params=_M,
    ),
    Route(
        "POST",
        "/phones/{mac}/enable",
        _toggle(True),
        "Enable a phone",
        "phones",
        OPERATOR,
        answer=Phone,
        etag=True,
        params=_M,
    ),
    Route(
        "POST",
        "/phones/{mac}/disable",
        _toggle(False),
        "Disable a phone",
        "phones",
        OPERATOR,
        answer=Phone,
        etag=True,
        params=_M,
    ),
    Route(
        "PUT",
        "/phones/{mac}/groups/{group}",
        _membership(True),
        "Put a phone in a group",
        "phones",
        OPERATOR,
        answer=Phone,
        params={**_M, "group": "group name in the phone's tenant"},
    ),
    Route(
        "DELETE",
        "/phones/{mac}/groups/{group}",
        _membership(False),
        "Take a phone out of a group",
        "phones",
        OPERATOR,
        answer=Phone,
        params={**_M, "group": "group name"},
    ),
    Route(
        "GET",
        "/phones/{mac}/lines",
        list_lines,
        "List a phone's lines",
        "lines",
        VIEWER,
        query=ListQuery,
        answer=LinePage,
        params=_M,
    ),
    Route(
        "POST",
        "/phones/{mac}/lines",
        create_line,
        "Add a line",
        "lines",
        OPERATOR,
        body=LineIn,
        answer=Line,
        status=201,
        etag=True,
        params=_M,
    ),
    Route(
        "GET",
        "/phones/{mac}/lines/{position}",
        get_line,
        "Read a line",
        "lines",
        VIEWER,
        answer=Line,
        etag=True,
        params=_L,
    ),
    Route(
        "PUT",
        "/phones/{mac}/lines/{position}",
        replace_line,
        "Replace a line",
        "lines",
        OPERATOR,
        body=LineIn,
        answer=Line,
        etag=True,
        params=_L,
    ),
    Route(
        "PATCH",
        "/phones/{mac}/lines/{position}",
        patch_line,
        "Change a line",
        "lines",
        OPERATOR,
        body=LinePatch,
        answer=Line,
        etag=True,
        params=_L,
    ),
    Route(
        "DELETE",
        "/phones/{mac}/lines/{position}",
        delete_line,
        "Delete a line",
        "lines",
        OPERATOR,
        etag=True,
        params=_L,
    ),
]

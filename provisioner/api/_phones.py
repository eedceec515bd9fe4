"""Phones (create, replace, patch, enable, join and leave groups), through :class:`Edits`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import Field

from provisioner.api._call import Call, Reply, etag
from provisioner.api._fleet import (
    MAC_PARAMS,
    OPERATOR,
    READ_ONLY,
    VIEWER,
    PhonePatch,
    body_entry,
    merge_patch,
    page,
    sort_key,
)
from provisioner.api._models import (
    ListQuery,
    Phone,
    PhoneIn,
    page_of,
)
from provisioner.api._routing import PREFIX, Route
from provisioner.api._tenants import tenant_state_of
from provisioner.audit import parse_since
from provisioner.entities import find_phone, keep_write_only, redact
from provisioner.errors import ConflictError, NotFoundError
from provisioner.fleet import (
    parse_phone_entry,
    phone_entry,
)
from provisioner.mac import parse_mac

__all__ = ["ROUTES", "clean_patch", "phone_reply", "phone_tenant", "stored_phone"]

PhonePage = page_of(Phone, "PhonePage")


async def phone_tenant(call: Call) -> tuple[str, str]:
    mac = parse_mac(call.params["mac"])
    tenant = await call.run(lambda: call.services.store.tenants.tenant_of(mac))
    call.own(tenant, f"no phone with MAC {mac}")
    return mac, tenant


async def phone_reply(call: Call, mac: str, status: int = 200) -> Reply:
    """The phone's answer (secrets redacted) with its ETag (and Location when created)."""
    mac, tenant = mac, await call.run(lambda: call.services.store.tenants.tenant_of(mac))
    state = await tenant_state_of(call, tenant, mac)
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
    """Phones, filtered by tenant, group, model, enabled, reported firmware, last seen,
    and searched."""
    q = call.query
    order, descending = sort_key(q, ("mac", "model", "tenant", "description"))
    tenants = None
    if call.key.tenant is not None:
        tenants = [call.key.tenant] if q.tenant in (None, call.key.tenant) else []
    elif q.tenant is not None:
        tenants = [q.tenant]
    now = time.time()
    seen_after = parse_since(q.seen_since, now) if q.seen_since else None
    unseen_since = parse_since(q.not_seen_since, now) if q.not_seen_since else None
    rows, total = await call.run(
        lambda: call.services.store.tenants.phone_page(
            tenants=tenants,
            group=q.group,
            model=q.model,
            enabled=q.enabled,
            search=q.q,
            firmware=q.firmware,
            seen_after=seen_after,
            unseen_since=unseen_since,
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
    await call.run(lambda: call.edits.phones.create(tenant, phone))
    return await phone_reply(call, phone.mac, 201)


async def get_phone(call: Call) -> Reply:
    """One phone with its lines."""
    mac, _ = await phone_tenant(call)
    return await phone_reply(call, mac)


async def _write_phone(call: Call, mac: str, tenant: str, entry: dict[str, Any]) -> Reply:
    if "mac" in entry and parse_mac(str(entry["mac"])) != mac:
        raise ConflictError(f"the body names phone {entry['mac']}, the path {mac}")
    entry = {**entry, "mac": mac, "tenant": entry.get("tenant", tenant)}
    owner, phone = parse_phone_entry(entry, call.services.catalog)
    call.own(owner, f"no tenant named {owner!r}")
    await call.run(lambda: call.edits.phones.replace(owner, phone, expect=call.expect()))
    return await phone_reply(call, mac)


async def stored_phone(call: Call) -> tuple[str, str, dict[str, Any]]:
    mac, tenant = await phone_tenant(call)
    state = await tenant_state_of(call, tenant, mac)
    return mac, tenant, phone_entry(tenant, find_phone(state, mac))


async def replace_phone(call: Call) -> Reply:
    """Replace a phone with its lines (line passwords and secrets not given are kept)."""
    mac, tenant, stored = await stored_phone(call)
    entry = keep_write_only(call.services.catalog, stored, body_entry(call))
    return await _write_phone(call, mac, tenant, entry)


async def patch_phone(call: Call) -> Reply:
    """Change some of a phone's fields (JSON merge patch; ``lines`` replaces the list)."""
    mac, tenant, stored = await stored_phone(call)
    entry = keep_write_only(call.services.catalog, stored, merge_patch(stored, clean_patch(call)))
    return await _write_phone(call, mac, tenant, entry)


def clean_patch(call: Call) -> dict[str, Any]:
    return {k: v for k, v in call.sent.items() if k not in READ_ONLY}


async def delete_phone(call: Call) -> Reply:
    """Delete a phone with its lines."""
    mac, _ = await phone_tenant(call)
    await call.run(lambda: call.edits.phones.remove(mac, expect=call.expect()))
    return Reply()


def _toggle(enabled: bool) -> Callable[[Call], Any]:
    async def toggle(call: Call) -> Reply:
        mac, _ = await phone_tenant(call)
        await call.run(lambda: call.edits.phones.update(mac, enabled=enabled, expect=call.expect()))
        return await phone_reply(call, mac)

    toggle.__name__ = "enable_phone" if enabled else "disable_phone"
    toggle.__doc__ = f"{'Enable' if enabled else 'Disable'} a phone (a disabled one gets no files)."
    return toggle


def _membership(join: bool) -> Callable[[Call], Any]:
    async def member(call: Call) -> Reply:
        mac, tenant = await phone_tenant(call)
        group = call.params["group"]
        state = await tenant_state_of(call, tenant, mac)
        groups = list(find_phone(state, mac).groups)
        if join and group not in groups:
            groups.append(group)
        elif not join:
            if group not in groups:
                raise NotFoundError(f"phone {mac} is not in group {tenant}/{group}")
            groups.remove(group)
        await call.run(lambda: call.edits.phones.update(mac, groups=groups))
        return await phone_reply(call, mac)

    member.__name__ = "add_phone_to_group" if join else "remove_phone_from_group"
    member.__doc__ = "Put a phone in a group." if join else "Take a phone out of a group."
    return member


class PhoneQuery(ListQuery):
    """Paging, order and filters of the phone list."""

    tenant: str | None = None
    group: str | None = None
    model: str | None = None
    enabled: bool | None = None
    q: str | None = Field(
        None,
        max_length=100,
        description="text in the description, a line's user or display name, "
        "or part of the MAC in any spelling",
    )
    firmware: str | None = Field(
        None, max_length=64, description="the firmware the phone last reported, exactly"
    )
    seen_since: str | None = Field(
        None,
        max_length=32,
        description="phones that asked for anything since: 30m, 12h, 7d or a UTC date/time",
    )
    not_seen_since: str | None = Field(
        None,
        max_length=32,
        description="phones that asked for nothing since (never seen ones included), as seen_since",
    )


_L = {"mac": "MAC in any spelling", "position": "line position, from 1"}


ROUTES = [
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
        params=MAC_PARAMS,
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
        params=MAC_PARAMS,
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
        params=MAC_PARAMS,
    ),
    Route(
        "DELETE",
        "/phones/{mac}",
        delete_phone,
        "Delete a phone",
        "phones",
        OPERATOR,
        etag=True,
        params=MAC_PARAMS,
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
        params=MAC_PARAMS,
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
        params=MAC_PARAMS,
    ),
    Route(
        "PUT",
        "/phones/{mac}/groups/{group}",
        _membership(True),
        "Put a phone in a group",
        "phones",
        OPERATOR,
        answer=Phone,
        params={**MAC_PARAMS, "group": "group name in the phone's tenant"},
    ),
    Route(
        "DELETE",
        "/phones/{mac}/groups/{group}",
        _membership(False),
        "Take a phone out of a group",
        "phones",
        OPERATOR,
        answer=Phone,
        params={**MAC_PARAMS, "group": "group name"},
    ),
]

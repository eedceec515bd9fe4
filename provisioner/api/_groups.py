"""Groups of a tenant (weight ordering, up and down), through :class:`Edits`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from provisioner.api._call import Call, Reply, etag
from provisioner.api._fleet import (
    GROUP_PARAMS,
    OPERATOR,
    TENANT_PARAMS,
    VIEWER,
    GroupPatch,
    body_entry,
    merge_patch,
    page,
    sort_key,
)
from provisioner.api._models import (
    Group,
    GroupIn,
    ListQuery,
    page_of,
)
from provisioner.api._routing import PREFIX, Route
from provisioner.api._tenants import tenant_state_of
from provisioner.entities import find_group, keep_write_only, redact
from provisioner.errors import ConflictError
from provisioner.fleet import (
    group_entry,
    parse_group_entry,
)
from provisioner.state import TenantState

__all__ = ["ROUTES"]

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
    state = await tenant_state_of(call, call.params["tenant"])
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
    await tenant_state_of(call, tenant)
    group = _group_body(call, body_entry(call))
    await call.run(lambda: call.edits.groups.create(tenant, group))
    return _group_reply(call, await tenant_state_of(call, tenant), group.name, 201)


async def get_group(call: Call) -> Reply:
    """One group."""
    state = await tenant_state_of(call, call.params["tenant"])
    return _group_reply(call, state, call.params["group"])


async def _write_group(call: Call, entry: dict[str, Any]) -> Reply:
    tenant, name = call.params["tenant"], call.params["group"]
    if entry.get("name", name) != name:
        raise ConflictError(f"the body names group {entry.get('name')!r}, the path {name!r}")
    group = _group_body(call, {**entry, "name": name})
    await call.run(lambda: call.edits.groups.replace(tenant, group, expect=call.expect()))
    return _group_reply(call, await tenant_state_of(call, tenant), name)


async def _stored_group(call: Call) -> dict[str, Any]:
    state = await tenant_state_of(call, call.params["tenant"])
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
    await tenant_state_of(call, tenant)
    await call.run(lambda: call.edits.groups.remove(tenant, name, expect=call.expect()))
    return Reply()


def _mover(up: bool) -> Callable[[Call], Any]:
    async def move(call: Call) -> Reply:
        tenant, name = call.params["tenant"], call.params["group"]
        await tenant_state_of(call, tenant)
        await call.run(lambda: call.edits.groups.move(tenant, name, up))
        return _group_reply(call, await tenant_state_of(call, tenant), name)

    move.__name__ = "move_group_up" if up else "move_group_down"
    move.__doc__ = f"Move a group one place {'up' if up else 'down'} in its tenant's order."
    return move


ROUTES = [
    Route(
        "GET",
        "/tenants/{tenant}/groups",
        list_groups,
        "List a tenant's groups",
        "groups",
        VIEWER,
        query=ListQuery,
        answer=GroupPage,
        params=TENANT_PARAMS,
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
        params=TENANT_PARAMS,
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
        params=GROUP_PARAMS,
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
        params=GROUP_PARAMS,
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
        params=GROUP_PARAMS,
    ),
    Route(
        "DELETE",
        "/tenants/{tenant}/groups/{group}",
        delete_group,
        "Delete a group",
        "groups",
        OPERATOR,
        etag=True,
        params=GROUP_PARAMS,
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
        params=GROUP_PARAMS,
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
        params=GROUP_PARAMS,
    ),
]

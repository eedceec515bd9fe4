"""Tenants as the fleet file spells them, through :class:`Edits`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from provisioner.api._call import Call, Reply, etag
from provisioner.api._fleet import (
    ADMIN,
    TENANT_PARAMS,
    VIEWER,
    TenantPatch,
    body_entry,
    merge_patch,
    page,
    sorted_rows,
)
from provisioner.api._models import (
    ListQuery,
    Tenant,
    TenantIn,
    page_of,
)
from provisioner.api._routing import PREFIX, Route
from provisioner.entities import keep_write_only, redact
from provisioner.errors import ConflictError
from provisioner.fleet import (
    parse_tenant_entry,
    tenant_entry,
)
from provisioner.state import Part, TenantState

__all__ = ["ROUTES", "tenant_state_of"]

TenantPage = page_of(Tenant, "TenantPage")


async def tenant_state_of(call: Call, tenant: str, *macs: str) -> TenantState:
    """The tenant's own fields, settings and groups, and of its phones only ``macs``
    (a partial state: a request about one entity does not read the whole tenant)."""
    call.own(tenant, f"no tenant named {tenant!r}")
    part = Part(frozenset(macs))
    return await call.run(lambda: call.services.store.tenants.state(tenant, part))


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
    chosen = sorted_rows(rows, call.query, ("name", "sip_domain", "platform"))
    items = [Tenant.model_validate(redact(call.services.catalog, r)) for r in chosen]
    return page(items, len(rows), call.query, TenantPage)


async def create_tenant(call: Call) -> Reply:
    """Create a tenant."""
    state = parse_tenant_entry(body_entry(call))
    await call.run(lambda: call.edits.tenants.create(state))
    return _tenant_reply(call, await tenant_state_of(call, state.name), 201)


async def get_tenant(call: Call) -> Reply:
    """One tenant."""
    return _tenant_reply(call, await tenant_state_of(call, call.params["tenant"]))


async def _write_tenant(call: Call, entry: dict[str, Any]) -> Reply:
    name = call.params["tenant"]
    if entry.get("name", name) != name:
        raise ConflictError(f"the body names tenant {entry.get('name')!r}, the path {name!r}")
    head = parse_tenant_entry({**entry, "name": name})
    await call.run(lambda: call.edits.tenants.replace(head, expect=call.expect()))
    return _tenant_reply(call, await tenant_state_of(call, name))


async def replace_tenant(call: Call) -> Reply:
    """Replace a tenant's own fields and settings (secrets not given are kept)."""
    stored = tenant_entry(await tenant_state_of(call, call.params["tenant"]))
    return await _write_tenant(
        call, keep_write_only(call.services.catalog, stored, body_entry(call))
    )


async def patch_tenant(call: Call) -> Reply:
    """Change some of a tenant's fields (JSON merge patch)."""
    stored = tenant_entry(await tenant_state_of(call, call.params["tenant"]))
    return await _write_tenant(call, merge_patch(stored, call.sent))


async def delete_tenant(call: Call) -> Reply:
    """Delete a tenant with everything under it."""
    name = call.params["tenant"]
    call.own(name, f"no tenant named {name!r}")
    await call.run(lambda: call.edits.tenants.remove(name, expect=call.expect()))
    return Reply()


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
        params=TENANT_PARAMS,
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
        params=TENANT_PARAMS,
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
        params=TENANT_PARAMS,
    ),
    Route(
        "DELETE",
        "/tenants/{tenant}",
        delete_tenant,
        "Delete a tenant",
        "tenants",
        ADMIN,
        etag=True,
        params=TENANT_PARAMS,
    ),
]

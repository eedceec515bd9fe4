"""What the resources beside the fleet share: a tenant key's tenant id, selectors, visibility.

Jobs and rollouts span tenants. A key limited to a tenant selects only its
tenant's phones, and sees a job or rollout only when every phone in it is
its tenant's: anything else is answered as if it did not exist (404).
"""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

from provisioner.api._call import Call
from provisioner.errors import NotFoundError
from provisioner.mac import parse_mac
from provisioner.scope import split_group
from provisioner.selection import select_phones

__all__ = ["key_tenant_id", "scoped_selection", "visible"]


async def key_tenant_id(call: Call) -> int | None:
    """The id of the key's tenant (``None``: the key is not limited to one)."""
    name = call.key.tenant
    if name is None:
        return None
    heads = await call.run(lambda: call.services.store.tenants.head(name))
    return next(iter(heads.tenants.values())).id


async def visible(call: Call, tenant_ids: Collection[int], missing: str) -> None:
    """Refuse (as not found) a job or rollout with phones outside the key's tenant."""
    own = await key_tenant_id(call)
    if own is not None and (not tenant_ids or set(tenant_ids) != {own}):
        raise NotFoundError(missing)


async def scoped_selection(
    call: Call,
    *,
    phones: list[str] | None,
    group: str | None,
    tenant: str | None,
    model: str | None,
) -> tuple[list[tuple[str, int]], str]:
    """The enabled phones a selector names (:func:`select_phones`), within the key's tenant."""
    store, catalog = call.services.store, call.services.catalog
    if phones:
        for text in phones:
            mac = parse_mac(text)
            owner = await call.run(partial(store.tenants.tenant_of, mac))
            call.own(owner, f"no phone with MAC {mac}")
    if group:
        pair = split_group(group)
        if pair is not None:
            call.own(pair[0], f"no tenant named {pair[0]!r}")
    if tenant:
        call.own(tenant, f"no tenant named {tenant!r}")
    found, selector = await call.run(
        lambda: select_phones(
            store, catalog, phones=phones, group=group, tenant=tenant, model=model
        )
    )
    own = await key_tenant_id(call)
    if own is not None:
        found = [p for p in found if p[1] == own]
    return found, selector

"""Choosing phones by list, group, tenant or model: send-profiles, rollouts, the API's jobs."""

from __future__ import annotations

from collections.abc import Sequence

from provisioner.catalog import Catalog
from provisioner.chars import check_text
from provisioner.errors import InputError, NotFoundError
from provisioner.mac import parse_mac
from provisioner.scope import split_group
from provisioner.state import Part
from provisioner.store import Store

__all__ = ["select_phones"]


def select_phones(
    store: Store,
    catalog: Catalog,
    *,
    phones: Sequence[str] | None = None,
    group: str | None = None,
    tenant: str | None = None,
    model: str | None = None,
) -> tuple[list[tuple[str, int]], str]:
    """Enabled phones (MAC, tenant id) one selector names, and how to describe them.

    Exactly one of ``phones`` (MACs in any spelling), ``group``
    (``TENANT/NAME``), ``tenant`` or ``model`` (id or alias). A group or
    tenant that does not exist is an error of its own, not an empty selection.
    """
    given = [n for n, v in (("phones", phones), ("group", group), ("tenant", tenant)) if v]
    if model:
        given.append("model")
    if len(given) != 1:
        raise InputError("name exactly one of phones, group, tenant or model")
    for text, what in ((group, "group"), (tenant, "tenant")):
        if text:
            check_text(text, what)
    if phones:
        macs = [parse_mac(m) for m in phones]
        return store.tenants.phones_for(macs=macs), f"phone {','.join(macs)}"
    if group:
        pair = split_group(group)
        if pair is None:
            raise InputError(f"invalid group {group!r}: expected TENANT/NAME")
        found = store.tenants.phones_for(group=pair)
        if not found and pair[1] not in store.tenants.state(pair[0], Part()).groups:
            raise NotFoundError(f"no group {group} (see `provisioner group list`)")
        return found, f"group {group}"
    if tenant:
        found = store.tenants.phones_for(tenant=tenant)
        if not found:
            store.tenants.state(tenant, Part())  # says so if there is no such tenant
        return found, f"tenant {tenant}"
    model_id = catalog.model(str(model)).id
    return store.tenants.phones_for(model=model_id), f"model {model_id}"

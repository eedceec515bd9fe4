"""Unknown devices held in quarantine: claiming one as a managed phone, or rejecting it.

``provisioner claim`` and the admin API call these. A claim creates the
phone through :class:`provisioner.edits.Edits` (audited as ``phone.create``)
and then drops the pending record (audited as ``device.claim``); a reject
only drops the record (``device.reject``): if the device asks again, its
tenant's unknown-device policy holds it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from provisioner.actor import Actor
from provisioner.audit import entry_for
from provisioner.catalog import Catalog
from provisioner.chars import check_text
from provisioner.edits import Edits
from provisioner.errors import InputError, NotFoundError
from provisioner.store import PendingDevice, Store

__all__ = ["Claimed", "claim_device", "pending_device", "reject_device"]


@dataclass(frozen=True, slots=True)
class Claimed:
    """The phone a claim created."""

    mac: str
    tenant: str
    model: str  # the catalog's id


def pending_device(store: Store, mac: str) -> PendingDevice | None:
    """The pending record of ``mac`` (a parsed MAC), if it is held."""
    return {p.mac: p for p in store.seen.pending()}.get(mac)


def claim_device(
    store: Store,
    catalog: Catalog,
    edits: Edits,
    mac: str,
    *,
    tenant: str | None = None,
    model: str | None = None,
    groups: Sequence[str] = (),
    description: str = "",
) -> Claimed:
    """Turn a pending device into a managed phone (or add one by hand with tenant and model).

    The tenant and model default to those it was quarantined in and detected as.
    """
    pending = pending_device(store, mac)
    tenant = check_text(tenant, "tenant") if tenant else (pending.tenant if pending else None)
    model = model or (pending.model if pending else None)
    if tenant is None:
        raise NotFoundError(f"{mac} is not pending; give a tenant and a model to add it")
    if not model:
        raise InputError(f"the model of {mac} was not detected; give a model")
    edits.phones.add(tenant, mac, model, description=description, groups=list(groups))
    model_id = catalog.model(model).id
    if pending is not None:
        entry = entry_for(
            edits.actor,
            "device.claim",
            f"phone:{mac}",
            f"pending device {mac}",
            tenant=tenant,
            mac=mac,
            before={"pending": pending.tenant},
            after={"tenant": tenant, "model": model_id},
        )
        store.seen.forget_pending(mac, [entry])
    return Claimed(mac, tenant, model_id)


def reject_device(store: Store, mac: str, actor: Actor) -> PendingDevice:
    """Drop a pending device's record; what it was."""
    pending = pending_device(store, mac)
    if pending is None:
        raise NotFoundError(f"no pending device {mac}")
    entry = entry_for(
        actor,
        "device.reject",
        f"phone:{mac}",
        f"pending device {mac}",
        tenant=pending.tenant,
        mac=mac,
        before={"pending": pending.tenant, "model": pending.model},
    )
    if not store.seen.forget_pending(mac, [entry]):
        raise NotFoundError(f"no pending device {mac}")
    return pending

"""Unknown devices held in quarantine: claiming one as a managed phone, rejecting or forgetting it.

``provisioner claim``, ``reject`` and ``forget`` and the admin API call these.
A claim creates the phone through :class:`provisioner.edits.Edits` (audited
as ``phone.create``) and then drops the device's record (audited as
``device.claim``). A reject keeps the record, marked with who rejected it and
when (``device.reject``): the device is then neither held again nor
auto-registered when it asks again. A reject is undone by claiming the
device, or by forgetting it (``device.forget``): the record is dropped and the
tenant's unknown-device policy applies anew on its next request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from provisioner.actor import Actor
from provisioner.audit import entry_for
from provisioner.catalog import Catalog
from provisioner.chars import check_text
from provisioner.edits import Edits
from provisioner.errors import ConflictError, InputError, NotFoundError
from provisioner.state import LineState, PhoneState
from provisioner.store import PendingDevice, Store

__all__ = ["Claimed", "claim_device", "forget_device", "pending_device", "reject_device"]


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
    lines: Sequence[LineState] = (),
) -> Claimed:
    """Turn a pending (or rejected) device into a managed phone, or add one by hand.

    The tenant and model default to those it was quarantined in and detected as.
    ``lines`` are created with the phone, in the same write (all or nothing).
    """
    pending = pending_device(store, mac)
    tenant = check_text(tenant, "tenant") if tenant else (pending.tenant if pending else None)
    model = model or (pending.model if pending else None)
    if tenant is None:
        raise NotFoundError(f"{mac} is not pending; give a tenant and a model to add it")
    if not model:
        raise InputError(f"the model of {mac} was not detected; give a model")
    phone = PhoneState(mac, model, description, True, list(groups), {}, list(lines))
    edits.phones.create(tenant, phone)
    model_id = catalog.model(model).id
    if pending is not None:
        entry = entry_for(
            edits.actor,
            "device.claim",
            f"phone:{mac}",
            f"{pending.state} device {mac}",
            tenant=tenant,
            mac=mac,
            before={pending.state: pending.tenant},
            after={"tenant": tenant, "model": model_id},
        )
        store.seen.forget_pending(mac, [entry])
    return Claimed(mac, tenant, model_id)


def reject_device(store: Store, mac: str, actor: Actor) -> PendingDevice:
    """Reject a pending device: it stays recorded, and is neither held nor registered again.

    Returns the record as it now stands (who rejected it, when).
    """
    pending = pending_device(store, mac)
    if pending is None:
        raise NotFoundError(f"no pending device {mac}")
    if pending.rejected_at is not None:
        raise ConflictError(
            f"{mac} was already rejected by {pending.rejected_by}; "
            "claim it, or forget it to let its tenant's policy apply again"
        )
    entry = entry_for(
        actor,
        "device.reject",
        f"phone:{mac}",
        f"pending device {mac}",
        tenant=pending.tenant,
        mac=mac,
        before={"pending": pending.tenant, "model": pending.model},
        after={"rejected": True},
    )
    if not store.seen.reject(mac, str(actor), int(entry.at), [entry]):
        raise ConflictError(f"{mac} was rejected or claimed meanwhile")  # a concurrent decision
    return replace(pending, rejected_at=int(entry.at), rejected_by=str(actor))


def forget_device(store: Store, mac: str, actor: Actor) -> PendingDevice:
    """Drop a pending or rejected device's record; what it was.

    If the device asks again, its tenant's unknown-device policy applies anew
    (this is how a reject is undone without claiming the device).
    """
    known = pending_device(store, mac)
    if known is None:
        raise NotFoundError(f"no pending or rejected device {mac}")
    entry = entry_for(
        actor,
        "device.forget",
        f"phone:{mac}",
        f"{known.state} device {mac}",
        tenant=known.tenant,
        mac=mac,
        before={known.state: known.tenant, "model": known.model},
    )
    if not store.seen.forget_pending(mac, [entry]):
        raise NotFoundError(f"no pending or rejected device {mac}")
    return known

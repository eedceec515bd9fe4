"""Starting, halting and rolling back staged firmware rollouts (the admin's side).

The server's :class:`provisioner.serve.RolloutRunner` advances running
rollouts; these are the operations an admin starts from the command line
(and later the API). See docs/firmware.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from provisioner.catalog import Catalog
from provisioner.errors import InputError, NotFoundError
from provisioner.firmware import LABEL_SETTING, Plan, choose_image
from provisioner.notify import notify_delay
from provisioner.resolve import Resolver, SourceKind
from provisioner.store import JobRequest, Store

__all__ = ["rollback", "rollback_reboot", "start_rollout", "wave_reboot"]


def wave_reboot(rollout_id: int, wave: int, delay: float) -> JobRequest:
    """The job that reboots the phones a wave pinned (``wave`` counts from 0, shown from 1)."""
    return JobRequest(f"rollout {rollout_id} wave {wave + 1}", "reboot", delay)


def rollback_reboot(rollout_id: int, delay: float) -> JobRequest:
    """The job that reboots the phones a rollback restored."""
    return JobRequest(f"rollback of rollout {rollout_id}", "reboot", delay)


def start_rollout(
    store: Store,
    catalog: Catalog,
    *,
    vendor: str,
    label: str,
    selector: str,
    phones: Sequence[tuple[str, int]],
    plan: Plan,
    first: Sequence[str] = (),
    now: float | None = None,
) -> int:
    """Record a rollout of an active set to the ``phones`` of its vendor; its id.

    ``phones`` are (MAC, tenant id) as a send-profiles selector yields them;
    phones of other vendors are left out. Waves take phones in MAC order,
    with ``first`` (MACs) at the front: the canaries an admin picked. A phone
    whose model has no image in the set, or whose ``firmware.label`` is
    locked above phone scope, is recorded as skipped with the reason.
    """
    found = store.firmware.sets(vendor=vendor, label=label)
    if not found:
        raise NotFoundError(f"no {vendor} firmware set labelled {label!r}")
    chosen = found[0]
    if chosen.kind != "firmware":
        raise InputError(f"{vendor} set {label!r} holds unmanaged files, not firmware")
    if not chosen.active:
        raise InputError(f"{vendor} set {label!r} is not active; activate it first")
    if not chosen.version:
        raise InputError(
            f"{vendor} set {label!r} has no version, so phones cannot be seen to run it; "
            "upload it again with --version"
        )
    snapshot = store.tenants.snapshot([mac for mac, _ in phones])
    resolver = Resolver(catalog, snapshot)
    files = [f.path for f in chosen.files]
    rows: list[tuple[str, int, str]] = []
    for phone in snapshot.phones.values():
        model = catalog.model(phone.model)
        family = catalog.family_of(model)
        if family.vendor != vendor or not phone.enabled:
            continue
        reason = ""
        value = resolver.phone(phone).settings[LABEL_SETTING]
        if value.source.locked and value.source.kind is not SourceKind.PHONE:
            reason = f"firmware.label is locked at {value.source}"
        elif choose_image(family.firmware, model.vars, files) is None:
            reason = f"the set has no image for {model.id}"
        rows.append((phone.mac, phone.tenant_id, reason))
    if not rows:
        raise NotFoundError(f"no enabled {vendor} phones in {selector}")
    unknown = [mac for mac in first if mac not in {r[0] for r in rows}]
    if unknown:
        raise InputError(f"--first names phones not in the rollout: {', '.join(unknown)}")
    order = {mac: i for i, mac in enumerate(first)}
    rows.sort(key=lambda r: (order.get(r[0], len(order)), r[0]))
    return store.rollouts.create(
        vendor=vendor,
        label=label,
        selector=selector,
        plan=plan,
        phones=rows,
        now=time.time() if now is None else now,
    )


def rollback(
    store: Store, catalog: Catalog, rollout_id: int, now: float | None = None
) -> list[tuple[str, int]]:
    """Put a rollout's phones back on their previous labels and reboot them."""
    found = store.rollouts.records(rollout_id)
    if not found:
        raise NotFoundError(f"no rollout {rollout_id}")
    heads = store.tenants.heads({p.tenant_id for p in found[0].phones})
    reboot = rollback_reboot(rollout_id, notify_delay(catalog, heads))
    return store.rollouts.rollback(rollout_id, time.time() if now is None else now, reboot)

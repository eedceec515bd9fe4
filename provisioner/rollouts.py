"""Starting, halting and rolling back staged firmware rollouts (the admin's side).

The server's :class:`provisioner.serve.RolloutRunner` advances running
rollouts; these are the operations an admin starts from the command line
(and later the API). See docs/firmware.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from provisioner.actor import Actor
from provisioner.audit import AuditEntry, entry_for
from provisioner.catalog import Catalog
from provisioner.chars import check_text
from provisioner.domain import FirmwareSet
from provisioner.errors import InputError, NotFoundError
from provisioner.firmware import (
    LABEL_SETTING,
    Plan,
    RolloutPhoneState,
    RolloutState,
    choose_image,
)
from provisioner.notify import notify_delay
from provisioner.resolve import Resolver, SourceKind
from provisioner.state import TenantState
from provisioner.store import JobRequest, Store

__all__ = [
    "halt_rollout",
    "keep_rollout_pins",
    "resume_rollout",
    "rollback",
    "rollback_reboot",
    "rollout_entry",
    "start_rollout",
    "wave_reboot",
]


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
    actor: Actor | None = None,
) -> int:
    """Record a rollout of an active set to the ``phones`` of its vendor; its id.

    ``phones`` are (MAC, tenant id) as a send-profiles selector yields them;
    phones of other vendors are left out. Waves take phones in MAC order,
    with ``first`` (MACs) at the front: the canaries an admin picked. A phone
    whose model has no image in the set, or whose ``firmware.label`` is
    locked above phone scope, is recorded as skipped with the reason.
    """
    chosen = _rollable_set(store, vendor, label)
    rows = _rollout_rows(store, catalog, vendor, chosen, [mac for mac, _ in phones])
    if not rows:
        raise NotFoundError(f"no enabled {vendor} phones in {selector}")
    unknown = [mac for mac in first if mac not in {r[0] for r in rows}]
    if unknown:
        raise InputError(f"--first names phones not in the rollout: {', '.join(unknown)}")
    order = {mac: i for i, mac in enumerate(first)}
    rows.sort(key=lambda r: (order.get(r[0], len(order)), r[0]))

    def audit(rollout_id: int) -> Sequence[AuditEntry]:
        if actor is None:
            return ()
        after = {
            "vendor": vendor,
            "label": label,
            "selector": selector,
            "phones": sum(1 for r in rows if not r[2]),
            "skipped": sum(1 for r in rows if r[2]),
        }
        return [rollout_entry(actor, "rollout.start", rollout_id, after=after)]

    return store.rollouts.create(
        vendor=vendor,
        label=label,
        selector=selector,
        plan=plan,
        phones=rows,
        now=time.time() if now is None else now,
        audit=audit,
    )


def _rollable_set(store: Store, vendor: str, label: str) -> FirmwareSet:
    """The active firmware set a rollout may take; :raises: naming why it may not."""
    found = store.firmware.sets(
        vendor=check_text(vendor, "vendor"), label=check_text(label, "label")
    )
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
    return chosen


def _rollout_rows(
    store: Store, catalog: Catalog, vendor: str, chosen: FirmwareSet, macs: list[str]
) -> list[tuple[str, int, str]]:
    """(MAC, tenant id, reason skipped or "") for the enabled ``vendor`` phones among ``macs``."""
    snapshot = store.tenants.snapshot(macs)
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
    return rows


def rollout_entry(
    actor: Actor,
    action: str,
    rollout_id: int,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """An audit entry about rollout ``rollout_id`` (its start, steps, halt, resume, rollback)."""
    return entry_for(
        actor,
        action,
        f"rollout:{rollout_id}",
        f"rollout {rollout_id}",
        before=before,
        after=after,
    )


def halt_rollout(
    store: Store, rollout_id: int, actor: Actor, reason: str = "halted by hand"
) -> None:
    """Stop a running rollout; pinned phones keep their pin."""
    entry = rollout_entry(
        actor,
        "rollout.halt",
        rollout_id,
        before={"state": RolloutState.RUNNING.value},
        after={"state": RolloutState.HALTED.value, "reason": reason},
    )
    store.rollouts.halt(rollout_id, reason, [entry])


def resume_rollout(store: Store, rollout_id: int, actor: Actor, now: float | None = None) -> int:
    """Run a halted rollout again; how many failed phones of its wave are waited for again."""
    entry = rollout_entry(
        actor,
        "rollout.resume",
        rollout_id,
        before={"state": RolloutState.HALTED.value},
        after={"state": RolloutState.RUNNING.value},
    )
    return store.rollouts.resume(rollout_id, time.time() if now is None else now, [entry])


def rollback(
    store: Store,
    catalog: Catalog,
    rollout_id: int,
    now: float | None = None,
    actor: Actor | None = None,
) -> list[tuple[str, int]]:
    """Put a rollout's phones back on their previous labels and reboot them."""
    found = store.rollouts.records(rollout_id)
    if not found:
        raise NotFoundError(f"no rollout {rollout_id}")
    heads = store.tenants.heads({p.tenant_id for p in found[0].phones})
    reboot = rollback_reboot(rollout_id, notify_delay(catalog, heads))
    before = {"state": found[0].state}

    def audit(restored: list[tuple[str, int]]) -> Sequence[AuditEntry]:
        if actor is None:
            return ()
        after = {"state": RolloutState.ROLLED_BACK.value, "restored": [m for m, _ in restored]}
        return [rollout_entry(actor, "rollout.rollback", rollout_id, before=before, after=after)]

    return store.rollouts.rollback(rollout_id, time.time() if now is None else now, reboot, audit)


def _pins(store: Store) -> dict[str, tuple[int, str]]:
    """MAC -> (rollout id, label) of the phone-scope pins rollouts hold now (newest wins)."""
    pins: dict[str, tuple[int, str]] = {}
    for record in store.rollouts.records():  # newest first
        if record.state == RolloutState.ROLLED_BACK:
            continue
        for phone in record.phones:
            gone = (RolloutPhoneState.SKIPPED, RolloutPhoneState.RESTORED)
            if phone.wave is not None and phone.state not in gone:
                pins.setdefault(phone.mac, (record.id, record.label))
    return pins


def keep_rollout_pins(store: Store, states: Iterable[TenantState]) -> list[str]:
    """Carry rollouts' firmware pins into fleet ``states`` that do not set the label; what was done.

    A rollout pins ``firmware.label`` at phone scope wave by wave. A fleet
    file written before (or by hand) does not list those pins, and applying
    it as it is would undo them silently: the phones would go back to their
    old firmware, and the rollout would count them as failed. So a pin that
    is still in place is kept for a phone the file lists without a
    ``firmware.label`` of its own. A label the file sets wins, and so does
    a lock on ``firmware.label`` the file puts above the phone; both are
    said, as is every pin kept. ``rollout rollback`` (or ``unset``) removes pins.
    """
    pins = _pins(store)
    notes: list[str] = []
    if not pins:
        return notes
    stored = {s.name: s for s in store.tenants.all_states()}
    for state in states:
        before = stored.get(state.name)
        for mac, phone in state.phones.items():
            pin = pins.get(mac)
            if pin is None or before is None or mac not in before.phones:
                continue
            rollout, label = pin
            if before.phones[mac].settings.get(LABEL_SETTING) != label:
                continue  # changed by hand since its wave: not the rollout's any more
            wanted = phone.settings.get(LABEL_SETTING)
            locks = [
                f"group {state.name}/{g}"
                for g in phone.groups
                if g in state.groups and LABEL_SETTING in state.groups[g].locked
            ]
            if LABEL_SETTING in state.locked:
                locks.insert(0, f"tenant {state.name}")
            if wanted == label:
                continue
            if wanted is not None:
                notes.append(
                    f"phone {mac}: firmware.label {wanted} from the file replaces {label}, "
                    f"pinned by rollout {rollout}"
                )
            elif locks:
                notes.append(
                    f"phone {mac}: firmware.label {label}, pinned by rollout {rollout}, removed: "
                    f"the file locks firmware.label at {locks[0]}"
                )
            else:
                phone.settings[LABEL_SETTING] = label
                notes.append(
                    f"phone {mac}: firmware.label {label} kept, pinned by rollout {rollout} "
                    f"(the file does not set it; `provisioner rollout rollback {rollout}` or a "
                    "label in the file changes it)"
                )
    return notes

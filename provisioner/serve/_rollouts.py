"""Drives running firmware rollouts: reads progress, decides, writes (docs/firmware.md).

Every ``interval`` seconds, in the database worker thread: each running
rollout is read with the newest firmware its waiting phones reported (seen
records, flushed by the gateway), :func:`provisioner.firmware.advance`
decides, and the store writes the decision in one transaction, a new wave's
pins and its reboot job included. The reboot NOTIFYs are then sent, paced,
by the job runner like any send-profiles job. A server that stops mid-wave
carries on after a restart: the state is all in the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from provisioner.actor import Actor
from provisioner.audit import AuditEntry
from provisioner.catalog import Catalog
from provisioner.domain import FirmwareSet, Snapshot
from provisioner.firmware import (
    Decision,
    PhoneProgress,
    Report,
    RolloutPhoneState,
    RolloutState,
    RolloutView,
    advance,
)
from provisioner.notify import notify_delay
from provisioner.rollouts import rollout_entry, wave_reboot
from provisioner.serve._db import Db
from provisioner.store import JobRequest, RolloutRecord

__all__ = ["RolloutRunner", "RolloutStore"]

log = logging.getLogger("provisioner.rollout")
_RUNNER = Actor.server("rollouts")


def _steps(
    record: RolloutRecord, decision: Decision, pinned: list[tuple[str, int]]
) -> list[AuditEntry]:
    """The audit entries of one step the runner wrote: phones judged, a wave, a halt, the end."""
    entries = []
    judged = {
        mac: state.value
        for mac, (state, _, _) in decision.updates.items()
        if state in (RolloutPhoneState.UPGRADED, RolloutPhoneState.FAILED)
    }
    if judged:
        entries.append(rollout_entry(_RUNNER, "rollout.phones", record.id, after=judged))
    if decision.start_wave is not None:
        after = {"wave": decision.start_wave + 1, "label": record.label}
        after["pinned"] = [mac for mac, _ in pinned]
        entries.append(rollout_entry(_RUNNER, "rollout.wave", record.id, after=after))
    if decision.halt:
        after = {"state": "halted", "reason": decision.halt}
        entries.append(rollout_entry(_RUNNER, "rollout.halt", record.id, after=after))
    if decision.done:
        entries.append(rollout_entry(_RUNNER, "rollout.done", record.id, after={"state": "done"}))
    return entries


class RolloutStore(Protocol):
    """What the runner reads and writes: rollouts, active sets, tenants' policy."""

    def records(
        self, rollout_id: int | None = None, state: str | None = None
    ) -> list[RolloutRecord]: ...

    def halt(self, rollout_id: int, reason: str, audit: Sequence[AuditEntry] = ()) -> None: ...

    def firmware_reports(self, macs: Sequence[str]) -> dict[str, tuple[str, int]]: ...

    def apply_decision(
        self,
        rollout_id: int,
        label: str,
        decision: Decision,
        now: float,
        reboot: JobRequest,
        audit: Callable[[list[tuple[str, int]]], Sequence[AuditEntry]] | None = None,
    ) -> list[tuple[str, int]] | None: ...


class ActiveSets(Protocol):
    """Firmware sets as recorded."""

    def sets(
        self, vendor: str | None = None, label: str | None = None, active: bool | None = None
    ) -> list[FirmwareSet]: ...


class TenantHeads(Protocol):
    """Tenants with their own settings, for their notify delay."""

    def heads(self, tenant_ids: Collection[int]) -> Snapshot: ...


class RolloutRunner:
    """Advances every running rollout."""

    def __init__(
        self,
        rollouts: RolloutStore,
        firmware: ActiveSets,
        tenants: TenantHeads,
        catalog: Catalog,
        db: Db,
        *,
        interval: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rollouts = rollouts
        self.firmware = firmware
        self.tenants = tenants
        self.catalog = catalog
        self.interval = interval
        self._db = db
        self._clock = clock

    async def run(self) -> None:
        """Tick forever (cancel to stop); a failed tick is logged and retried."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("event=rollout_error")
            await asyncio.sleep(self.interval)

    async def tick(self) -> None:
        """One pass over the running rollouts."""
        await self._db.run(self.step)

    def step(self) -> None:
        """One pass, in the calling thread (the database worker)."""
        for record in self.rollouts.records(state=RolloutState.RUNNING):
            self._advance(record)

    def _advance(self, record: RolloutRecord) -> None:
        now = self._clock()
        found = self.firmware.sets(vendor=record.vendor, label=record.label, active=True)
        if not found:
            reason = f"{record.vendor} set {record.label!r} is no longer active"
            entry = rollout_entry(
                _RUNNER, "rollout.halt", record.id, after={"state": "halted", "reason": reason}
            )
            self.rollouts.halt(record.id, reason, [entry])
            log.warning("event=rollout_halted rollout=%d reason=%r", record.id, reason)
            return
        view = RolloutView(
            state=RolloutState(record.state),
            plan=record.plan,
            version=found[0].version,
            wave=record.wave,
            wave_started_at=record.wave_started_at,
            phones=tuple(
                PhoneProgress(p.mac, p.position, RolloutPhoneState(p.state), p.wave, p.reported)
                for p in record.phones
            ),
        )
        waiting = [p.mac for p in record.phones if p.state == RolloutPhoneState.WAITING]
        reports = {
            mac: Report(firmware, float(at))
            for mac, (firmware, at) in self.rollouts.firmware_reports(waiting).items()
        }
        decision = advance(view, reports, now)
        if decision.empty:
            return
        wave = set(decision.wave_macs)
        heads = self.tenants.heads({p.tenant_id for p in record.phones if p.mac in wave})
        reboot = wave_reboot(record.id, decision.start_wave or 0, notify_delay(self.catalog, heads))
        pinned = self.rollouts.apply_decision(
            record.id, record.label, decision, now, reboot, lambda p: _steps(record, decision, p)
        )
        if pinned is None:
            return  # halted or rolled back meanwhile
        for mac, (state, reported, _) in decision.updates.items():
            if state in (RolloutPhoneState.UPGRADED, RolloutPhoneState.FAILED):
                log.info(
                    "event=rollout_phone rollout=%d mac=%s state=%s reported=%s",
                    record.id,
                    mac,
                    state,
                    reported or "-",
                )
        if decision.start_wave is not None:
            log.info(
                "event=rollout_wave rollout=%d wave=%d phones=%d",
                record.id,
                decision.start_wave + 1,
                len(pinned),
            )
        if decision.halt:
            log.warning("event=rollout_halted rollout=%d reason=%r", record.id, decision.halt)
        if decision.done:
            log.info("event=rollout_done rollout=%d", record.id)

"""Staged rollouts in the database: creation, decisions applied atomically, halt, rollback.

A wave's pins (phone-scope ``firmware.label``) are written in the same
transaction that records the wave and checks the rollout is still running,
so a concurrent halt or rollback from the command line can never be
followed by a pin: one of the two transactions sees the other's result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from provisioner.audit import AuditEntry
from provisioner.errors import InputError, NotFoundError
from provisioner.firmware._rollout import Decision, Plan, RolloutState
from provisioner.firmware._select import LABEL_SETTING
from provisioner.store import _tables as t
from provisioner.store._audit import record_audit
from provisioner.store._dialect import upsert_insert
from provisioner.store._jobs import JobRequest, create_job
from provisioner.store._read import decode_value, encode_value
from provisioner.store._write import bump_revision

__all__ = ["RolloutPhone", "RolloutRecord", "RolloutRepository"]


@dataclass(frozen=True, slots=True)
class RolloutPhone:
    """One phone's row of a rollout."""

    mac: str
    tenant_id: int
    position: int
    wave: int | None
    state: str
    previous: str | None  # its phone-scope label before its wave pinned the new one
    reported: str
    reason: str
    updated_at: float


@dataclass(frozen=True, slots=True)
class RolloutRecord:
    """A rollout with its phones."""

    id: int
    vendor: str
    label: str
    selector: str
    plan: Plan
    state: str
    wave: int
    wave_started_at: float | None
    reason: str
    created_at: float
    finished_at: float | None
    phones: tuple[RolloutPhone, ...]


def _create_rollout(
    conn: Connection,
    *,
    vendor: str,
    label: str,
    selector: str,
    plan: Plan,
    phones: Sequence[tuple[str, int, str]],  # (mac, tenant id, skip reason or "")
    now: float,
) -> int:
    """Record a running rollout whose phones are all pending (or skipped, with a reason)."""
    macs = [mac for mac, _, _ in phones]
    busy = conn.execute(
        select(t.rollout_phones.c.mac, t.rollouts.c.id)
        .join(t.rollouts, t.rollouts.c.id == t.rollout_phones.c.rollout_id)
        .where(t.rollouts.c.state == RolloutState.RUNNING, t.rollout_phones.c.mac.in_(macs))
        .limit(1)
    ).first()
    if busy is not None:
        raise InputError(f"phone {busy.mac} is in running rollout {busy.id}; halt it first")
    rollout_id = conn.execute(
        insert(t.rollouts)
        .values(
            vendor=vendor,
            label=label,
            selector=selector,
            canary=plan.canary,
            growth=plan.growth,
            threshold=plan.threshold,
            wave_seconds=plan.wave_seconds,
            state=RolloutState.RUNNING,
            wave=-1,
            reason="",
            created_at=now,
        )
        .returning(t.rollouts.c.id)
    ).scalar_one()
    if phones:
        conn.execute(
            insert(t.rollout_phones),
            [
                {
                    "rollout_id": rollout_id,
                    "mac": mac,
                    "tenant_id": tenant_id,
                    "position": position,
                    "state": "skipped" if reason else "pending",
                    "reported": "",
                    "reason": reason,
                    "updated_at": now,
                }
                for position, (mac, tenant_id, reason) in enumerate(phones)
            ],
        )
    return int(rollout_id)


def _load_rollouts(
    conn: Connection, *, rollout_id: int | None = None, state: str | None = None
) -> list[RolloutRecord]:
    """Rollouts (newest first) with their phones in wave order."""
    query = select(t.rollouts).order_by(t.rollouts.c.id.desc())
    if rollout_id is not None:
        query = query.where(t.rollouts.c.id == rollout_id)
    if state is not None:
        query = query.where(t.rollouts.c.state == state)
    rows = conn.execute(query).all()
    phones: dict[int, list[RolloutPhone]] = {row.id: [] for row in rows}
    if rows:
        for p in conn.execute(
            select(t.rollout_phones)
            .where(t.rollout_phones.c.rollout_id.in_(list(phones)))
            .order_by(t.rollout_phones.c.rollout_id, t.rollout_phones.c.position)
        ):
            phones[p.rollout_id].append(
                RolloutPhone(
                    p.mac,
                    p.tenant_id,
                    p.position,
                    p.wave,
                    p.state,
                    p.previous,
                    p.reported,
                    p.reason,
                    p.updated_at,
                )
            )
    return [
        RolloutRecord(
            id=row.id,
            vendor=row.vendor,
            label=row.label,
            selector=row.selector,
            plan=Plan(row.canary, row.growth, row.threshold, row.wave_seconds),
            state=row.state,
            wave=row.wave,
            wave_started_at=row.wave_started_at,
            reason=row.reason,
            created_at=row.created_at,
            finished_at=row.finished_at,
            phones=tuple(phones[row.id]),
        )
        for row in rows
    ]


def _phone_ids(conn: Connection, macs: Sequence[str]) -> dict[str, tuple[int, int]]:
    """MAC -> (phone id, tenant id)."""
    rows = conn.execute(
        select(t.phones.c.mac, t.phones.c.id, t.phones.c.tenant_id).where(t.phones.c.mac.in_(macs))
    )
    return {row.mac: (row.id, row.tenant_id) for row in rows}


def _labels(conn: Connection, phone_ids: Sequence[int]) -> dict[int, str]:
    rows = conn.execute(
        select(t.phone_settings.c.phone_id, t.phone_settings.c.value).where(
            t.phone_settings.c.phone_id.in_(phone_ids),
            t.phone_settings.c.name == LABEL_SETTING,
        )
    )
    return {row.phone_id: str(decode_value(row.value)) for row in rows}


def _apply_decision(
    conn: Connection, rollout_id: int, label: str, decision: Decision, now: float
) -> list[tuple[str, int]] | None:
    """Write a decision if the rollout is still running (else ``None``, nothing written).

    Returns the phones a new wave pinned, (MAC, tenant id), for the caller
    to reboot in the same transaction.
    """
    running = conn.execute(
        select(t.rollouts.c.id).where(
            t.rollouts.c.id == rollout_id, t.rollouts.c.state == RolloutState.RUNNING
        )
    ).first()
    if running is None:
        return None
    pinned: list[tuple[str, int]] = []
    rows = t.rollout_phones.c
    for mac, (state, reported, reason) in decision.updates.items():
        conn.execute(
            update(t.rollout_phones)
            .where(rows.rollout_id == rollout_id, rows.mac == mac)
            .values(state=state, reported=reported, reason=reason, updated_at=now)
        )
    if decision.start_wave is not None:
        ids = _phone_ids(conn, decision.wave_macs)
        previous = _labels(conn, [pid for pid, _ in ids.values()])
        for mac in decision.wave_macs:
            if mac not in ids:  # deleted since the rollout started
                conn.execute(
                    update(t.rollout_phones)
                    .where(rows.rollout_id == rollout_id, rows.mac == mac)
                    .values(state="skipped", reason="the phone no longer exists")
                )
                continue
            phone_id, tenant_id = ids[mac]
            conn.execute(
                update(t.rollout_phones)
                .where(rows.rollout_id == rollout_id, rows.mac == mac)
                .values(wave=decision.start_wave, previous=previous.get(phone_id))
            )
            _set_label(conn, phone_id, label)
            pinned.append((mac, tenant_id))
        for tenant_id in {tid for _, tid in ids.values()}:
            bump_revision(conn, tenant_id)
        conn.execute(
            update(t.rollouts)
            .where(t.rollouts.c.id == rollout_id)
            .values(wave=decision.start_wave, wave_started_at=now)
        )
    if decision.halt:
        conn.execute(
            update(t.rollouts)
            .where(t.rollouts.c.id == rollout_id)
            .values(state=RolloutState.HALTED, reason=decision.halt)
        )
    if decision.done:
        conn.execute(
            update(t.rollouts)
            .where(t.rollouts.c.id == rollout_id)
            .values(state=RolloutState.DONE, finished_at=now)
        )
    return pinned


def _set_label(conn: Connection, phone_id: int, label: str | None) -> None:
    conn.execute(
        delete(t.phone_settings).where(
            t.phone_settings.c.phone_id == phone_id, t.phone_settings.c.name == LABEL_SETTING
        )
    )
    if label is not None:
        conn.execute(
            upsert_insert(conn, t.phone_settings).values(
                phone_id=phone_id, name=LABEL_SETTING, value=encode_value(label)
            )
        )


def _halt_rollout(conn: Connection, rollout_id: int, reason: str) -> None:
    """Stop a running rollout; pinned phones keep their pin."""
    found = conn.execute(
        update(t.rollouts)
        .where(t.rollouts.c.id == rollout_id, t.rollouts.c.state == RolloutState.RUNNING)
        .values(state=RolloutState.HALTED, reason=reason)
    ).rowcount
    if not found:
        raise NotFoundError(f"no running rollout {rollout_id}")


def _resume_rollout(conn: Connection, rollout_id: int, now: float) -> int:
    """Run a halted rollout again; how many phones of its current wave are waited for again.

    The current wave starts its deadline anew and its failed phones wait
    again (an admin resumes after fixing what held them back); without
    that, the runner would halt it again on the same count at once.
    """
    found = conn.execute(
        update(t.rollouts)
        .where(t.rollouts.c.id == rollout_id, t.rollouts.c.state == RolloutState.HALTED)
        .values(state=RolloutState.RUNNING, reason="", wave_started_at=now)
    ).rowcount
    if not found:
        raise NotFoundError(f"no halted rollout {rollout_id}")
    wave = conn.execute(select(t.rollouts.c.wave).where(t.rollouts.c.id == rollout_id)).scalar_one()
    rows = t.rollout_phones.c
    return int(
        conn.execute(
            update(t.rollout_phones)
            .where(rows.rollout_id == rollout_id, rows.wave == wave, rows.state == "failed")
            .values(state="waiting", reason="", updated_at=now)
        ).rowcount
    )


def _rollback_rollout(conn: Connection, rollout_id: int, now: float) -> list[tuple[str, int]]:
    """Put every pinned phone back on its previous label; the (MAC, tenant id) to reboot.

    A phone whose label was changed by someone else since its wave is left
    alone (and not rebooted): rolling back must not undo a later decision.
    """
    found = _load_rollouts(conn, rollout_id=rollout_id)
    if not found:
        raise NotFoundError(f"no rollout {rollout_id}")
    record = found[0]
    if record.state == RolloutState.ROLLED_BACK:
        raise InputError(f"rollout {rollout_id} is already rolled back")
    touched = [p for p in record.phones if p.wave is not None and p.state != "skipped"]
    ids = _phone_ids(conn, [p.mac for p in touched])
    current = _labels(conn, [pid for pid, _ in ids.values()])
    reboot: list[tuple[str, int]] = []
    rows = t.rollout_phones.c
    for phone in touched:
        if phone.mac not in ids:
            continue
        phone_id, tenant_id = ids[phone.mac]
        if current.get(phone_id) != record.label:
            reason = "left alone: its label was changed after its wave"
            state = phone.state
        else:
            _set_label(conn, phone_id, phone.previous)
            reboot.append((phone.mac, tenant_id))
            reason, state = f"back on {phone.previous or 'its inherited label'}", "restored"
        conn.execute(
            update(t.rollout_phones)
            .where(rows.rollout_id == rollout_id, rows.mac == phone.mac)
            .values(state=state, reason=reason, updated_at=now)
        )
    for tenant_id in {tid for _, tid in reboot}:
        bump_revision(conn, tenant_id)
    conn.execute(
        update(t.rollouts)
        .where(t.rollouts.c.id == rollout_id)
        .values(state=RolloutState.ROLLED_BACK, finished_at=now)
    )
    return reboot


def _latest_reports(conn: Connection, macs: Sequence[str]) -> dict[str, tuple[str, int]]:
    """The newest firmware each phone reported, with when (seen records)."""
    reports: dict[str, tuple[str, int]] = {}
    if not macs:
        return reports
    rows = conn.execute(
        select(t.seen.c.mac, t.seen.c.firmware, t.seen.c.last_seen).where(
            t.seen.c.mac.in_(list(macs)), t.seen.c.firmware != ""
        )
    )
    for row in rows:
        if row.mac not in reports or row.last_seen > reports[row.mac][1]:
            reports[row.mac] = (row.firmware, row.last_seen)
    return reports


class RolloutRepository:
    """Staged rollouts with their phones; each call is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self,
        *,
        vendor: str,
        label: str,
        selector: str,
        plan: Plan,
        phones: Sequence[tuple[str, int, str]],
        now: float,
        audit: Callable[[int], Sequence[AuditEntry]] | None = None,
    ) -> int:
        """Record a running rollout; ``phones`` are (MAC, tenant id, skip reason or "").

        ``audit(rollout id)`` gives the entries recorded in the same transaction.
        """
        with self.engine.begin() as conn:
            rollout_id = _create_rollout(
                conn,
                vendor=vendor,
                label=label,
                selector=selector,
                plan=plan,
                phones=phones,
                now=now,
            )
            if audit is not None:
                record_audit(conn, audit(rollout_id))
            return rollout_id

    def records(
        self, rollout_id: int | None = None, state: str | None = None
    ) -> list[RolloutRecord]:
        """Rollouts, newest first, with their phones."""
        with self.engine.connect() as conn:
            return _load_rollouts(conn, rollout_id=rollout_id, state=state)

    def apply_decision(
        self,
        rollout_id: int,
        label: str,
        decision: Decision,
        now: float,
        reboot: JobRequest,
        audit: Callable[[list[tuple[str, int]]], Sequence[AuditEntry]] | None = None,
    ) -> list[tuple[str, int]] | None:
        """Write a runner's decision and queue the reboot of a new wave, atomically.

        ``None`` when the rollout stopped meanwhile (nothing written); else the
        phones pinned, rebooted by the job ``reboot`` describes. ``audit(pinned)``
        gives the step's audit entries, recorded in the same transaction.
        """
        with self.engine.begin() as conn:
            pinned = _apply_decision(conn, rollout_id, label, decision, now)
            if pinned:
                create_job(conn, reboot, pinned, now)
            if pinned is not None and audit is not None:
                record_audit(conn, audit(pinned))
            return pinned

    def halt(self, rollout_id: int, reason: str, audit: Sequence[AuditEntry] = ()) -> None:
        """Stop a running rollout (pinned phones keep their pin)."""
        with self.engine.begin() as conn:
            _halt_rollout(conn, rollout_id, reason)
            record_audit(conn, audit)

    def resume(self, rollout_id: int, now: float, audit: Sequence[AuditEntry] = ()) -> int:
        """Run a halted rollout again (:func:`_resume_rollout`); the phones waited for again."""
        with self.engine.begin() as conn:
            again = _resume_rollout(conn, rollout_id, now)
            record_audit(conn, audit)
            return again

    def rollback(
        self,
        rollout_id: int,
        now: float,
        reboot: JobRequest,
        audit: Callable[[list[tuple[str, int]]], Sequence[AuditEntry]] | None = None,
    ) -> list[tuple[str, int]]:
        """Restore every pinned phone's previous label and queue their reboot, atomically."""
        with self.engine.begin() as conn:
            restored = _rollback_rollout(conn, rollout_id, now)
            if restored:
                create_job(conn, reboot, restored, now)
            if audit is not None:
                record_audit(conn, audit(restored))
            return restored

    def firmware_reports(self, macs: Sequence[str]) -> dict[str, tuple[str, int]]:
        """The newest firmware each phone reported, and when."""
        with self.engine.connect() as conn:
            return _latest_reports(conn, macs)

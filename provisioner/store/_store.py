"""The store: every read and write of provisioning data goes through here.

Each write is one transaction that loads the tenant's state, changes it in
memory, validates the whole tenant (:func:`provisioner.check.check_tenant`)
and writes the difference. A write that would add a problem is refused with
every new problem listed, and nothing is stored. Problems that were already
there (say, a value made invalid by a catalog change) do not block unrelated
writes, but are reported by ``apply`` and by the write that touches them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from provisioner.catalog import Catalog
from provisioner.chars import check_text
from provisioner.check import check_tenant
from provisioner.domain import FirmwareSet, ScopeKind, Snapshot
from provisioner.errors import ConflictError, InputError, NotFoundError, Problem, ValidationFailed
from provisioner.firmware._rollout import Decision, Plan
from provisioner.notify._states import Event, TargetOutcome
from provisioner.scope import ScopeRef
from provisioner.settings import Value
from provisioner.state import GroupState, LineState, PhoneState, TenantState
from provisioner.store import _tables as t
from provisioner.store._addresses import Admitted, admitted_addresses, record_admitted
from provisioner.store._engine import connect, device_key, migrate
from provisioner.store._firmware import (
    delete_set,
    firmware_sets,
    insert_set,
    label_references,
    set_active,
    storage_keys,
)
from provisioner.store._jobs import (
    JobSummary,
    TargetRow,
    cancel_job,
    claim_targets,
    create_job,
    due_tenants,
    expired_targets,
    finish_target,
    jobs,
    next_due,
    reap,
    release,
    targets_of,
)
from provisioner.store._read import TenantIds, decode_value, load_snapshot, load_tenant_state
from provisioner.store._rollouts import (
    RolloutRecord,
    apply_decision,
    create_rollout,
    halt_rollout,
    latest_reports,
    load_rollouts,
    rollback_rollout,
)
from provisioner.store._seen import (
    PendingDevice,
    SeenRow,
    list_pending,
    list_seen,
    prune_seen,
    upsert_pending,
    upsert_seen,
)
from provisioner.store._write import Changes, bump_revision, delete_phones, write_tenant

__all__ = ["Store"]


@dataclass(frozen=True, slots=True)
class _Target:
    """The settings (and lock set, for tenants and groups) a scope reference names."""

    settings: dict[str, Value]
    locked: set[str] | None


# Tenant settings whose values identify a tenant, so two tenants may not share them.
UNIQUE_PER_TENANT = ("access.url_token", "access.ftp.user")


def _clashes(conn: Connection, states: Iterable[TenantState], replaced: set[str]) -> list[Problem]:
    """Problems for identifying values that another tenant already uses.

    ``replaced`` names tenants whose stored values do not count (they are
    being rewritten by the same operation).
    """
    taken: dict[tuple[str, str], str] = {}
    rows = conn.execute(
        select(t.tenants.c.name, t.tenant_settings.c.name, t.tenant_settings.c.value)
        .join(t.tenants, t.tenants.c.id == t.tenant_settings.c.tenant_id)
        .where(t.tenant_settings.c.name.in_(UNIQUE_PER_TENANT))
    )
    for tenant, name, value in rows:
        if tenant not in replaced:
            taken[(name, str(decode_value(value)))] = tenant
    problems = []
    for state in states:
        for name in UNIQUE_PER_TENANT:
            value = state.settings.get(name)
            if not value:
                continue
            owner = taken.setdefault((name, str(value)), state.name)
            if owner != state.name:
                where = state.where or f"tenant:{state.name}"
                problems.append(Problem(where, f"{name} is already used by tenant {owner}"))
    return problems


class Store:
    """Provisioning data in SQLite or PostgreSQL."""

    def __init__(self, engine: Engine, catalog: Catalog) -> None:
        self.engine = engine
        self.catalog = catalog

    @classmethod
    def open(cls, url: str, catalog: Catalog) -> Store:
        """Connect and run pending migrations."""
        engine = connect(url)
        migrate(engine)
        return cls(engine, catalog)

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    # --- reads -----------------------------------------------------------

    def snapshot(
        self, macs: Collection[str] | None = None, tenant_ids: Collection[int] | None = None
    ) -> Snapshot:
        """Everything rendering needs (optionally for some phones or tenants only)."""
        with self.engine.connect() as conn:
            return load_snapshot(conn, macs, tenant_ids)

    def device_key(self) -> bytes:
        """The server secret created at the first migration (shared by every node)."""
        with self.engine.connect() as conn:
            return device_key(conn)

    def tenant_revisions(self) -> dict[int, int]:
        """Every tenant's id and revision: what servers poll to keep caches fresh."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.tenants.c.id, t.tenants.c.revision))
            return {row.id: row.revision for row in rows}

    def tenant_names(self) -> list[str]:
        """Names of all tenants, sorted."""
        with self.engine.connect() as conn:
            return self._names(conn)

    def tenant_state(self, name: str) -> TenantState:
        """One tenant with everything under it."""
        with self.engine.connect() as conn:
            loaded = load_tenant_state(conn, name)
        if loaded is None:
            raise NotFoundError(f"no tenant named {name!r}")
        return loaded[0]

    def tenant_of(self, mac: str) -> str:
        """The name of the tenant a phone belongs to."""
        with self.engine.connect() as conn:
            name = conn.execute(
                select(t.tenants.c.name)
                .join(t.phones, t.phones.c.tenant_id == t.tenants.c.id)
                .where(t.phones.c.mac == mac)
            ).scalar()
        if name is None:
            raise NotFoundError(f"no phone with MAC {mac}")
        return str(name)

    # --- what phones asked for ------------------------------------------

    def record_seen(self, rows: Sequence[SeenRow], max_rows: int) -> None:
        """Upsert seen rows and keep the table bounded."""
        with self.engine.begin() as conn:
            upsert_seen(conn, rows)
            prune_seen(conn, max_rows)

    def seen(self, *, unknown: bool = False, limit: int = 1000) -> list[SeenRow]:
        """Seen records, newest first."""
        with self.engine.connect() as conn:
            return list_seen(conn, unknown=unknown, limit=limit)

    def quarantine(self, device: PendingDevice) -> None:
        """Hold an unknown device as pending in its tenant (``device.tenant``)."""
        with self.engine.begin() as conn:
            tenant_id = conn.execute(
                select(t.tenants.c.id).where(t.tenants.c.name == device.tenant)
            ).scalar()
            if tenant_id is None:
                raise NotFoundError(f"no tenant named {device.tenant!r}")
            upsert_pending(conn, device, tenant_id)

    def pending(self) -> list[PendingDevice]:
        """Quarantined devices, newest first."""
        with self.engine.connect() as conn:
            return list_pending(conn)

    def forget_pending(self, mac: str) -> None:
        """Drop a pending device (after it was claimed)."""
        with self.engine.begin() as conn:
            conn.execute(t.pending.delete().where(t.pending.c.mac == mac))

    # --- send-profiles jobs ------------------------------------------------

    def phones_for(
        self,
        *,
        group: tuple[str, str] | None = None,
        tenant: str | None = None,
        model: str | None = None,
        macs: Sequence[str] | None = None,
    ) -> list[tuple[str, int]]:
        """Enabled phones (MAC, tenant id) a send-profiles selector names."""
        query = select(t.phones.c.mac, t.phones.c.tenant_id).where(t.phones.c.enabled.is_(True))
        if macs is not None:
            query = query.where(t.phones.c.mac.in_(list(macs)))
        if tenant is not None:
            query = query.join(t.tenants, t.tenants.c.id == t.phones.c.tenant_id).where(
                t.tenants.c.name == tenant
            )
        if model is not None:
            query = query.where(t.phones.c.model == self.catalog.model(model).id)
        if group is not None:
            group_ids = (
                select(t.groups.c.id)
                .join(t.tenants, t.tenants.c.id == t.groups.c.tenant_id)
                .where(t.tenants.c.name == group[0], t.groups.c.name == group[1])
            )
            members = select(t.group_members.c.phone_id).where(
                t.group_members.c.group_id.in_(group_ids)
            )
            query = query.where(t.phones.c.id.in_(members))
        with self.engine.connect() as conn:
            return [
                (row.mac, row.tenant_id) for row in conn.execute(query.order_by(t.phones.c.mac))
            ]

    def tenant_value(self, tenant_id: int, name: str) -> Value:
        """A common setting as it stands at a tenant (stored value, else preset, else default)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.tenants.c.platform, t.tenant_settings.c.value)
                .outerjoin(
                    t.tenant_settings,
                    (t.tenant_settings.c.tenant_id == t.tenants.c.id)
                    & (t.tenant_settings.c.name == name),
                )
                .where(t.tenants.c.id == tenant_id)
            ).first()
        if row is None:
            raise NotFoundError(f"no tenant with id {tenant_id}")
        if row.value is not None:
            return decode_value(row.value)
        preset = self.catalog.presets.get(row.platform)
        if preset is not None and name in preset.defaults:
            return preset.defaults[name]
        return self.catalog.common[name].default

    def notify_delay(self, tenant_ids: Iterable[int]) -> int:
        """Seconds a job for phones of these tenants waits before its first NOTIFY.

        The longest ``notify.delay_seconds`` among them, so every tenant's
        files are in place; 0 for none.
        """
        return max(
            (int(self.tenant_value(t, "notify.delay_seconds")) for t in set(tenant_ids)), default=0
        )

    def create_job(
        self,
        *,
        selector: str,
        event: Event,
        phones: Sequence[tuple[str, int]],
        now: float,
        delay: float,
    ) -> int:
        """Queue a send-profiles job; phones already queued elsewhere are coalesced."""
        with self.engine.begin() as conn:
            return create_job(
                conn, selector=selector, event=event, phones=phones, now=now, delay=delay
            )

    def claim_targets(
        self, tenant_id: int, limit: int, now: float, lease: float
    ) -> list[TargetRow]:
        """Take due targets of a tenant for sending."""
        with self.engine.begin() as conn:
            return claim_targets(conn, tenant_id=tenant_id, limit=limit, now=now, lease=lease)

    def due_tenants(self, now: float) -> list[int]:
        """Tenants with targets ready to be sent."""
        with self.engine.connect() as conn:
            return due_tenants(conn, now)

    def next_due(self) -> float | None:
        """When the next queued target becomes due (``None``: nothing is queued)."""
        with self.engine.connect() as conn:
            return next_due(conn)

    def finish_target(self, target_id: int, outcome: TargetOutcome, now: float) -> None:
        """Record a send's outcome (see :func:`provisioner.store._jobs.finish_target`)."""
        with self.engine.begin() as conn:
            finish_target(conn, target_id, outcome, now)

    def expired_targets(self, now: float) -> list[TargetRow]:
        """Targets whose runner died while sending (lease run out), to be judged."""
        with self.engine.connect() as conn:
            return expired_targets(conn, now)

    def reap_jobs(self, now: float, verdicts: Mapping[int, bool]) -> None:
        """Expired leases as judged (target id → queue again), confirmations, finished jobs."""
        with self.engine.begin() as conn:
            reap(conn, now, verdicts)

    def release_targets(self, now: float, verdicts: Mapping[int, bool]) -> None:
        """Give back targets a stopping runner took but did not finish, judged as expired."""
        with self.engine.begin() as conn:
            release(conn, now, verdicts)

    def cancel_job(self, job_id: int, now: float) -> None:
        """Cancel a running job's unsent targets."""
        with self.engine.begin() as conn:
            if not cancel_job(conn, job_id, now):
                raise NotFoundError(f"no running job {job_id}")

    def jobs(self, job_id: int | None = None, limit: int = 50) -> list[JobSummary]:
        """Jobs, newest first, with counts."""
        with self.engine.connect() as conn:
            return jobs(conn, job_id=job_id, limit=limit)

    def job_targets(self, job_id: int) -> list[TargetRow]:
        """A job's per-phone status."""
        with self.engine.connect() as conn:
            return targets_of(conn, job_id=job_id)

    def last_addresses(self, macs: Collection[str]) -> dict[str, str]:
        """The address each phone was last admitted from (never a refused request's)."""
        with self.engine.connect() as conn:
            return admitted_addresses(conn, macs)

    def record_admitted(self, rows: Sequence[Admitted]) -> None:
        """Remember where phones were admitted from (batches from the gateway)."""
        with self.engine.begin() as conn:
            record_admitted(conn, rows)

    # --- firmware sets -------------------------------------------------------

    def firmware_sets(
        self, vendor: str | None = None, label: str | None = None, active: bool | None = None
    ) -> list[FirmwareSet]:
        """Recorded sets with their files, by vendor then label."""
        with self.engine.connect() as conn:
            return firmware_sets(conn, vendor=vendor, label=label, active=active)

    def add_firmware_set(self, record: FirmwareSet) -> int:
        """Record an ingested set, inactive; its id."""
        with self.engine.begin() as conn:
            return insert_set(conn, record)

    def set_firmware_active(self, vendor: str, label: str, active: bool) -> bool:
        """Activate or deactivate a set; True when that changed it."""
        with self.engine.begin() as conn:
            return set_active(conn, vendor, label, active)

    def remove_firmware_set(self, vendor: str, label: str) -> str:
        """Forget an inactive set; its storage key, for the caller to delete its files."""
        with self.engine.begin() as conn:
            return delete_set(conn, vendor, label)

    def firmware_references(self, label: str) -> list[str]:
        """Scopes whose firmware settings name ``label``."""
        with self.engine.connect() as conn:
            return label_references(conn, label)

    def firmware_storage_keys(self) -> set[str]:
        """Storage keys of every recorded set."""
        with self.engine.connect() as conn:
            return storage_keys(conn)

    # --- staged rollouts -----------------------------------------------------

    def create_rollout(
        self,
        *,
        vendor: str,
        label: str,
        selector: str,
        plan: Plan,
        phones: Sequence[tuple[str, int, str]],
        now: float,
    ) -> int:
        """Record a running rollout; ``phones`` are (MAC, tenant id, skip reason or "")."""
        with self.engine.begin() as conn:
            return create_rollout(
                conn,
                vendor=vendor,
                label=label,
                selector=selector,
                plan=plan,
                phones=phones,
                now=now,
            )

    def rollouts(
        self, rollout_id: int | None = None, state: str | None = None
    ) -> list[RolloutRecord]:
        """Rollouts, newest first, with their phones."""
        with self.engine.connect() as conn:
            return load_rollouts(conn, rollout_id=rollout_id, state=state)

    def apply_rollout_decision(
        self, rollout_id: int, label: str, decision: Decision, now: float, delay: float
    ) -> list[tuple[str, int]] | None:
        """Write a runner's decision and queue the reboot of a new wave, atomically.

        ``None`` when the rollout stopped meanwhile (nothing written); else the
        phones pinned, rebooted by a send-profiles job after ``delay`` seconds.
        """
        with self.engine.begin() as conn:
            pinned = apply_decision(conn, rollout_id, label, decision, now)
            if pinned:
                create_job(
                    conn,
                    selector=f"rollout {rollout_id} wave {(decision.start_wave or 0) + 1}",
                    event="reboot",
                    phones=pinned,
                    now=now,
                    delay=delay,
                )
            return pinned

    def halt_rollout(self, rollout_id: int, reason: str) -> None:
        """Stop a running rollout (pinned phones keep their pin)."""
        with self.engine.begin() as conn:
            halt_rollout(conn, rollout_id, reason)

    def rollback_rollout(self, rollout_id: int, now: float, delay: float) -> list[tuple[str, int]]:
        """Restore every pinned phone's previous label and queue their reboot, atomically."""
        with self.engine.begin() as conn:
            reboot = rollback_rollout(conn, rollout_id, now)
            if reboot:
                create_job(
                    conn,
                    selector=f"rollback of rollout {rollout_id}",
                    event="reboot",
                    phones=reboot,
                    now=now,
                    delay=delay,
                )
            return reboot

    def firmware_reports(self, macs: Sequence[str]) -> dict[str, tuple[str, int]]:
        """The newest firmware each phone reported, and when."""
        with self.engine.connect() as conn:
            return latest_reports(conn, macs)

    # --- the one write path ----------------------------------------------

    def change_tenant(
        self,
        name: str,
        mutate: Callable[[TenantState], None],
        *,
        create: TenantState | None = None,
    ) -> Changes:
        """Load tenant ``name`` (or start from ``create``), apply ``mutate``, validate, write.

        :raises ValidationFailed: listing the problems the change would add.
        """
        # Before the name reaches the database driver, which cannot encode a surrogate.
        check_text(name, "tenant name")
        changes: Changes = Changes()
        with self.engine.begin() as conn:
            loaded = load_tenant_state(conn, name)
            if loaded is None and create is None:
                raise NotFoundError(f"no tenant named {name!r}")
            if loaded is not None and create is not None:
                raise ConflictError(f"tenant {name!r} already exists")
            state = copy.deepcopy(loaded[0]) if loaded is not None else create
            assert state is not None
            mutate(state)
            known = set(check_tenant(self.catalog, loaded[0])) if loaded is not None else set()
            new = [p for p in check_tenant(self.catalog, state) if p not in known]
            new += _clashes(conn, [state], {name})
            if new:
                raise ValidationFailed(new)
            try:
                write_tenant(conn, loaded, state, changes)
            except IntegrityError as exc:
                raise ConflictError(f"the change conflicts with stored data: {exc.orig}") from None
        return changes

    def remove_tenant(self, name: str) -> None:
        """Delete a tenant and everything under it."""
        with self.engine.begin() as conn:
            if conn.execute(t.tenants.delete().where(t.tenants.c.name == name)).rowcount == 0:
                raise NotFoundError(f"no tenant named {name!r}")

    # --- fleet -------------------------------------------------------------

    def apply(self, tenants: Iterable[TenantState], *, prune: bool = False) -> Changes:
        """Make the stored tenants match ``tenants``, all or nothing.

        Tenants not listed are left alone unless ``prune``. Phones may move
        between listed tenants. Every problem is reported at once.
        """
        wanted = {state.name: state for state in tenants}
        problems: list[Problem] = []
        for state in wanted.values():
            problems.extend(check_tenant(self.catalog, state))
        changes: Changes = Changes()
        with self.engine.begin() as conn:
            owners = {
                row.mac: row.name
                for row in conn.execute(
                    select(t.phones.c.mac, t.tenants.c.name).join(
                        t.tenants, t.tenants.c.id == t.phones.c.tenant_id
                    )
                )
            }
            for state in wanted.values():
                for phone in state.phones.values():
                    owner = owners.get(phone.mac)
                    if owner is not None and owner not in wanted and not prune:
                        problems.append(
                            Problem(
                                phone.where,
                                f"phone {phone.mac} belongs to tenant {owner}, which this "
                                "file does not list (list it, or use --prune)",
                            )
                        )
            # Tenants this operation rewrites (or, with prune, deletes) free their values.
            replaced = set(self._names(conn)) if prune else set(wanted)
            problems += _clashes(conn, wanted.values(), replaced | set(wanted))
            if problems:
                raise ValidationFailed(problems)
            if prune:
                stale = [name for name in self._names(conn) if name not in wanted]
                for name in stale:
                    conn.execute(t.tenants.delete().where(t.tenants.c.name == name))
                    changes["tenant removed"] += 1
            loaded: dict[str, tuple[TenantState, TenantIds] | None] = {
                name: load_tenant_state(conn, name) for name in wanted
            }
            # Remove phones leaving a tenant first, so one may reappear in another.
            for name, entry in loaded.items():
                if entry is None:
                    continue
                before, ids = entry
                leaving = [mac for mac in before.phones if mac not in wanted[name].phones]
                delete_phones(conn, [ids.phones[mac] for mac in leaving], changes)
                for mac in leaving:
                    del before.phones[mac]
                if leaving:
                    bump_revision(conn, ids.tenant)
            for name, state in wanted.items():
                write_tenant(conn, loaded[name], state, changes)
        return changes

    def all_states(self) -> list[TenantState]:
        """Every tenant's state (one connection), sorted by name."""
        with self.engine.connect() as conn:
            states = []
            for name in self._names(conn):
                loaded = load_tenant_state(conn, name)
                assert loaded is not None
                states.append(loaded[0])
            return states

    @staticmethod
    def _names(conn: Connection) -> list[str]:
        return list(conn.execute(select(t.tenants.c.name).order_by(t.tenants.c.name)).scalars())

    # --- single writes, each through change_tenant ----------------------------

    def add_tenant(
        self, name: str, sip_domain: str, platform: str = "generic", description: str = ""
    ) -> None:
        """Create a tenant."""
        state = TenantState(name, sip_domain, platform, description)
        self.change_tenant(name, lambda s: None, create=state)

    def update_tenant(
        self,
        name: str,
        *,
        sip_domain: str | None = None,
        platform: str | None = None,
        description: str | None = None,
    ) -> Changes:
        """Change a tenant's own fields; ``None`` leaves a field as it is."""

        def mutate(state: TenantState) -> None:
            if sip_domain is not None:
                state.sip_domain = sip_domain
            if platform is not None:
                state.platform = platform
            if description is not None:
                state.description = description

        return self.change_tenant(name, mutate)

    def add_group(self, tenant: str, name: str, description: str = "", weight: int = 0) -> None:
        """Create a phone group."""

        def mutate(state: TenantState) -> None:
            if name in state.groups:
                raise ConflictError(f"group {tenant}/{name} already exists")
            state.groups[name] = GroupState(name, description, weight)

        self.change_tenant(tenant, mutate)

    def update_group(
        self, tenant: str, name: str, *, description: str | None = None, weight: int | None = None
    ) -> Changes:
        """Change a group's description or weight."""

        def mutate(state: TenantState) -> None:
            group = _group(state, name)
            if description is not None:
                group.description = description
            if weight is not None:
                group.weight = weight

        return self.change_tenant(tenant, mutate)

    def remove_group(self, tenant: str, name: str) -> None:
        """Delete a group; its phones simply leave it."""

        def mutate(state: TenantState) -> None:
            _group(state, name)
            del state.groups[name]
            for phone in state.phones.values():
                if name in phone.groups:
                    phone.groups.remove(name)

        self.change_tenant(tenant, mutate)

    def add_phone(
        self,
        tenant: str,
        mac: str,
        model: str,
        *,
        description: str = "",
        groups: Iterable[str] = (),
        enabled: bool = True,
    ) -> None:
        """Create a phone (``mac`` canonical, ``model`` an id or alias)."""
        try:
            owner = self.tenant_of(mac)
        except NotFoundError:
            owner = None
        if owner is not None:
            raise ConflictError(f"phone {mac} already exists in tenant {owner}")
        model_id = self.catalog.model(model).id

        def mutate(state: TenantState) -> None:
            state.phones[mac] = PhoneState(mac, model_id, description, enabled, list(groups))

        self.change_tenant(tenant, mutate)

    def update_phone(
        self,
        mac: str,
        *,
        model: str | None = None,
        description: str | None = None,
        groups: Iterable[str] | None = None,
        enabled: bool | None = None,
    ) -> Changes:
        """Change a phone's fields; ``None`` leaves a field as it is."""
        model_id = self.catalog.model(model).id if model is not None else None

        def mutate(state: TenantState) -> None:
            phone = state.phones[mac]
            if model_id is not None:
                phone.model = model_id
            if description is not None:
                phone.description = description
            if groups is not None:
                phone.groups = list(groups)
            if enabled is not None:
                phone.enabled = enabled

        return self.change_tenant(self.tenant_of(mac), mutate)

    def remove_phone(self, mac: str) -> None:
        """Delete a phone with its lines and settings."""

        def mutate(state: TenantState) -> None:
            del state.phones[mac]

        self.change_tenant(self.tenant_of(mac), mutate)

    def add_line(self, mac: str, line: LineState) -> int:
        """Add a line; position 0 means the first free position. Returns the position."""
        chosen: list[int] = []

        def mutate(state: TenantState) -> None:
            phone = state.phones[mac]
            used = {x.position for x in phone.lines}
            if line.position == 0:
                line.position = next(p for p in range(1, len(used) + 2) if p not in used)
            elif line.position in used:
                raise ConflictError(f"line {line.position} of phone {mac} already exists")
            phone.lines.append(line)
            phone.lines.sort(key=lambda x: x.position)
            chosen.append(line.position)

        self.change_tenant(self.tenant_of(mac), mutate)
        return chosen[0]

    def update_line(self, mac: str, position: int, **fields: str) -> Changes:
        """Change line fields (user, auth_user, password, display_name, label)."""
        allowed = {"user", "auth_user", "password", "display_name", "label"}
        unknown = set(fields) - allowed
        if unknown:
            raise InputError(f"unknown line field(s): {', '.join(sorted(unknown))}")

        def mutate(state: TenantState) -> None:
            line = _line(state.phones[mac], position)
            for key, value in fields.items():
                setattr(line, key, value)

        return self.change_tenant(self.tenant_of(mac), mutate)

    def remove_line(self, mac: str, position: int) -> None:
        """Delete a line."""

        def mutate(state: TenantState) -> None:
            phone = state.phones[mac]
            phone.lines.remove(_line(phone, position))

        self.change_tenant(self.tenant_of(mac), mutate)

    def set_setting(
        self,
        scope: ScopeRef,
        name: str,
        value: object,
        *,
        lock: bool = False,
        from_text: bool = False,
    ) -> None:
        """Set (and optionally lock) a setting at a scope.

        :raises InputError: unknown setting or bad value (naming setting, scope, allowed values).
        :raises ValidationFailed: the value is locked above, or locking it would
            shadow values below (each listed).
        """
        spec = self.catalog.spec(name)
        typed = spec.coerce(value, scope=str(scope), from_text=from_text)
        if lock and scope.kind not in (ScopeKind.TENANT, ScopeKind.GROUP):
            raise InputError(f"only tenants and groups can lock a setting, not {scope}")

        def mutate(state: TenantState) -> None:
            target = self._target(state, scope)
            target.settings[name] = typed
            if target.locked is not None:
                if lock:
                    target.locked.add(name)
                else:
                    target.locked.discard(name)

        self.change_tenant(self._tenant_name(scope), mutate)

    def unset_setting(self, scope: ScopeRef, name: str) -> None:
        """Remove a setting (and its lock) from a scope."""

        def mutate(state: TenantState) -> None:
            target = self._target(state, scope)
            if name not in target.settings:
                raise NotFoundError(f"setting {name} is not set at {scope}")
            del target.settings[name]
            if target.locked is not None:
                target.locked.discard(name)

        self.change_tenant(self._tenant_name(scope), mutate)

    def _tenant_name(self, scope: ScopeRef) -> str:
        if scope.kind in (ScopeKind.TENANT, ScopeKind.GROUP):
            return scope.tenant
        return self.tenant_of(scope.mac)

    @staticmethod
    def _target(state: TenantState, scope: ScopeRef) -> _Target:
        if scope.kind is ScopeKind.TENANT:
            return _Target(state.settings, state.locked)
        if scope.kind is ScopeKind.GROUP:
            group = _group(state, scope.group)
            return _Target(group.settings, group.locked)
        phone = state.phones[scope.mac]
        if scope.kind is ScopeKind.PHONE:
            return _Target(phone.settings, None)
        return _Target(_line(phone, scope.position).settings, None)


def _group(state: TenantState, name: str) -> GroupState:
    group = state.groups.get(name)
    if group is None:
        raise NotFoundError(f"no group {state.name}/{name}")
    return group


def _line(phone: PhoneState, position: int) -> LineState:
    for line in phone.lines:
        if line.position == position:
            return line
    raise NotFoundError(f"phone {phone.mac} has no line {position}")

"""Send-profiles jobs and their per-phone targets, as stored rows.

Every change of a target's state is one guarded UPDATE (:func:`_move`) whose
new state comes from the transition table in :mod:`provisioner.notify._states`
(docs/notify.md draws it). A claim sets a lease and counts the attempt; a runner that dies mid-send
leaves the lease to expire, and the target is queued again only if the
retry policy allows another attempt — so a phone is never notified more
often than its attempts allow, even across a kill -9.

A tenant's pacing (``notify.rate``, ``notify.max_in_flight``) holds for the
cluster as a whole: :func:`_claim_paced` locks the tenant's ``notify_pacing``
row, counts the tenant's targets being sent on any node, takes what the
shared token bucket allows and advances it, all in one transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Integer,
    Update,
    and_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, Row

from provisioner.audit import AuditEntry
from provisioner.errors import NotFoundError
from provisioner.notify._pacing import advance, available
from provisioner.notify._states import (
    Event,
    JobState,
    TargetEvent,
    TargetOutcome,
    TargetState,
    check_sync_event,
    next_state,
)
from provisioner.store import _tables as t
from provisioner.store._audit import record_audit
from provisioner.store._dialect import insert_for

__all__ = [
    "ACTIVE",
    "JobRepository",
    "JobRequest",
    "JobSummary",
    "TargetRow",
    "create_job",
]

ACTIVE = (TargetState.QUEUED, TargetState.SENDING)  # not finished: a runner still acts on them
_BATCH = 5_000  # rows per insert: a 100,000-phone job never sits in memory at once


@dataclass(frozen=True, slots=True)
class TargetRow:
    """One phone of a job, as claimed or listed."""

    id: int
    job_id: int
    mac: str
    tenant_id: int
    event: Event
    state: TargetState
    attempts: int
    status: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class JobSummary:
    """A job with its target counts by state."""

    id: int
    selector: str
    event: Event
    state: JobState
    created_at: float
    finished_at: float | None
    counts: dict[TargetState, int]

    @property
    def total(self) -> int:
        """Targets in the job."""
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        """Targets not finished yet."""
        return sum(self.counts.get(s, 0) for s in ACTIVE)


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What a job is for and when it starts: always the caller's choice, never storage's.

    ``selector`` is what an admin reads in ``provisioner jobs`` (a group, a
    rollout's wave); ``delay`` comes from the tenants' ``notify.delay_seconds``
    as the resolver reads it (:func:`provisioner.notify.notify_delay`).
    """

    selector: str
    event: Event
    delay: float = 0.0


def create_job(
    conn: Connection, request: JobRequest, phones: Sequence[tuple[str, int]], now: float
) -> int:
    """Create a job for ``phones`` (MAC, tenant id); returns its id.

    A phone already queued in another job is not queued twice (coalescing):
    its queued target is upgraded to ``reboot`` if this job asks for one,
    and this job records it as ``coalesced``.
    """
    event = check_sync_event(request.event)  # the type is not checked at run time
    delay = request.delay
    job_id = conn.execute(
        insert(t.notify_jobs)
        .values(
            selector=request.selector[:255],
            event=event,
            state=JobState.RUNNING,
            created_at=now,
            not_before=now + delay,
        )
        .returning(t.notify_jobs.c.id)
    ).scalar_one()
    # Only targets of running jobs: one sent when its job was cancelled may be
    # queued again afterwards (retry, expired lease) and is never sent.
    queued = {
        row.mac: row.id
        for row in conn.execute(
            select(t.notify_targets.c.mac, t.notify_targets.c.id)
            .join(t.notify_jobs, t.notify_jobs.c.id == t.notify_targets.c.job_id)
            .where(
                t.notify_targets.c.state == TargetState.QUEUED,
                t.notify_jobs.c.state == JobState.RUNNING,
            )
        )
    }
    rows: list[dict[str, object]] = []
    coalesced: list[int] = []
    for mac, tenant_id in phones:
        existing = queued.get(mac)
        if existing is not None:
            coalesced.append(existing)
            state, reason = TargetState.COALESCED, f"already queued (target {existing})"
        else:
            state, reason = TargetState.QUEUED, ""
        rows.append(
            {
                "job_id": job_id,
                "mac": mac,
                "tenant_id": tenant_id,
                "event": event,
                "state": state,
                "attempts": 0,
                "next_at": now + delay,
                "reason": reason,
            }
        )
        if len(rows) >= _BATCH:
            conn.execute(insert(t.notify_targets), rows)
            rows = []
    if rows:
        conn.execute(insert(t.notify_targets), rows)
    if event == "reboot":
        for start in range(0, len(coalesced), _BATCH):
            conn.execute(
                update(t.notify_targets)
                .where(t.notify_targets.c.id.in_(coalesced[start : start + _BATCH]))
                .values(event="reboot")
            )
    return int(job_id)


def _not_indexed(column: ColumnElement[float]) -> ColumnElement[float]:
    """``column + 0``: the same value, but no index on ``column`` serves a range over it.

    Both databases would otherwise pick ``ix_notify_targets_due`` (state,
    due time) for a tenant's queue and sort every due target to find the
    oldest few; this leaves them ``ix_notify_targets_tenant_queue``.
    """
    return column + 0


# The statements of a runner's round are built once, here, with their values
# bound at execution: at thousands of NOTIFYs a second, building a statement
# and its cache key anew for every claim and every write took most of the
# database thread's time (docs/cluster.md, "Measured").
_TARGETS = t.notify_targets.c
_RUNNING = t.notify_jobs.c.state == JobState.RUNNING
_OF_RUNNING_JOB = t.notify_jobs.c.id == _TARGETS.job_id
_ROW = (
    _TARGETS.id,
    _TARGETS.job_id,
    _TARGETS.mac,
    _TARGETS.tenant_id,
    _TARGETS.event,
    _TARGETS.state,
    _TARGETS.attempts,
    _TARGETS.status,
    _TARGETS.reason,
)
# One EXISTS per tenant on ``ix_notify_targets_tenant_queue``: it stops at a
# tenant's first due target instead of reading every due target (100,000 of
# them in a large job, several times a second).
_DUE_TENANTS = (
    select(t.tenants.c.id)
    .where(
        select(_TARGETS.id)
        .join(t.notify_jobs, _OF_RUNNING_JOB)
        .where(
            _TARGETS.tenant_id == t.tenants.c.id,
            _TARGETS.state == TargetState.QUEUED,
            _not_indexed(_TARGETS.next_at) <= bindparam("now"),
            _RUNNING,
        )
        .exists()
    )
    .order_by(t.tenants.c.id)
)
_NEWEST_JOB = select(func.max(t.notify_jobs.c.id))
_SENDING = select(func.count()).where(
    _TARGETS.state == TargetState.SENDING,
    _TARGETS.tenant_id == bindparam("tenant_id"),
    _TARGETS.lease_until >= bindparam("now"),
)
_ADVANCE = (
    update(t.notify_pacing)
    .where(t.notify_pacing.c.tenant_id == bindparam("b_tenant_id"))
    .values(next_at=bindparam("b_next_at"))
)


def _due_tenants(conn: Connection, now: float) -> list[int]:
    """Tenants with targets ready to be sent."""
    return list(conn.execute(_DUE_TENANTS, {"now": now}).scalars())


def _next_due(conn: Connection) -> float | None:
    """When the next queued target of a running job becomes due (``None``: none queued)."""
    query = (
        select(func.min(t.notify_targets.c.next_at))
        .join(t.notify_jobs, t.notify_jobs.c.id == t.notify_targets.c.job_id)
        .where(
            t.notify_targets.c.state == TargetState.QUEUED,
            t.notify_jobs.c.state == JobState.RUNNING,
        )
    )
    found = conn.execute(query).scalar()
    return None if found is None else float(found)


@functools.cache
def _claim_statement(up_to_job: bool) -> Update:
    """Take the oldest ``b_limit`` due targets of tenant ``b_tenant_id``, returning them.

    Oldest target first, in the order of ``ix_notify_targets_tenant_queue``,
    so the walk stops after ``limit`` due rows (ordering by due time as well
    sorted a whole job's targets every round: they are all due at once).
    With ``up_to_job``, only targets of job ``b_up_to_job`` or older ones.
    The UPDATE re-checks the state and returns only the rows it changed:
    another runner may have taken some of the subquery's rows meanwhile, and
    both must not send them.
    """
    due = (
        select(_TARGETS.id)
        .join(t.notify_jobs, _OF_RUNNING_JOB)
        .where(
            _TARGETS.tenant_id == bindparam("b_tenant_id"),
            _TARGETS.state == TargetState.QUEUED,
            _not_indexed(_TARGETS.next_at) <= bindparam("b_now"),
            _RUNNING,
        )
        .order_by(_TARGETS.id)
        .limit(bindparam("b_limit", type_=Integer))
    )
    if up_to_job:
        due = due.where(_TARGETS.job_id <= bindparam("b_up_to_job"))
    return (
        _move(
            TargetState.QUEUED,
            TargetEvent.CLAIMED,
            _TARGETS.id.in_(due.scalar_subquery()),
            by_id=True,
        )
        .values(lease_until=bindparam("b_lease_until"), attempts=_TARGETS.attempts + 1)
        .returning(*_ROW)
    )


def _claim_targets(
    conn: Connection,
    *,
    tenant_id: int,
    limit: int,
    now: float,
    lease: float,
    up_to_job: int | None = None,
) -> list[TargetRow]:
    """Take up to ``limit`` due targets of a tenant for sending (counts an attempt each),
    oldest first; with ``up_to_job``, only targets of that job or older ones."""
    values = {"b_tenant_id": tenant_id, "b_now": now, "b_limit": limit}
    values["b_lease_until"] = now + lease
    if up_to_job is not None:
        values["b_up_to_job"] = up_to_job
    rows = conn.execute(_claim_statement(up_to_job is not None), values)
    return sorted((_target_row(r) for r in rows), key=lambda row: row.id)


@functools.cache
def _lock_statement(dialect: str) -> Insert:
    """Create or lock a tenant's pacing row, returning its ``next_at`` (:func:`_claim_paced`)."""
    lock = insert_for(dialect, t.notify_pacing).values(
        tenant_id=bindparam("b_tenant_id"), next_at=bindparam("b_now")
    )
    statement: Insert = lock.on_conflict_do_update(
        index_elements=["tenant_id"], set_={"next_at": t.notify_pacing.c.next_at}
    ).returning(t.notify_pacing.c.next_at)
    return statement


def _claim_paced(
    conn: Connection,
    *,
    tenant_id: int,
    rate: float,
    max_in_flight: int,
    now: float,
    lease: float,
    up_to_job: int | None = None,
) -> list[TargetRow]:
    """Take due targets of a tenant as its cluster-wide pacing allows.

    The first statement creates or locks the tenant's pacing row (an upsert
    that changes nothing locks it on PostgreSQL and takes SQLite's write lock),
    so claims of one tenant by several nodes are serialised and share one
    bucket. Targets being sent on any node, with a live lease, count
    against ``max_in_flight``; those of a node that died count until their
    lease runs out.
    """
    lock = _lock_statement(conn.dialect.name)
    next_at = float(conn.execute(lock, {"b_tenant_id": tenant_id, "b_now": now}).scalar_one())
    sending = conn.execute(_SENDING, {"tenant_id": tenant_id, "now": now}).scalar_one()
    count = min(available(rate, next_at, now), max_in_flight - int(sending))
    if count <= 0:
        return []
    claimed = _claim_targets(
        conn, tenant_id=tenant_id, limit=count, now=now, lease=lease, up_to_job=up_to_job
    )
    if claimed:
        advanced = advance(rate, next_at, now, len(claimed))
        conn.execute(_ADVANCE, {"b_tenant_id": tenant_id, "b_next_at": advanced})
    return claimed


def _targets_of(
    conn: Connection,
    *,
    job_id: int | None = None,
    ids: Sequence[int] | None = None,
    state: TargetState | None = None,
) -> list[TargetRow]:
    """Targets by job, by ids and/or by state."""
    query = select(t.notify_targets).order_by(t.notify_targets.c.id)
    if job_id is not None:
        query = query.where(t.notify_targets.c.job_id == job_id)
    if ids is not None:
        query = query.where(t.notify_targets.c.id.in_(list(ids)))
    if state is not None:
        query = query.where(t.notify_targets.c.state == state)
    return [_target_row(r) for r in conn.execute(query)]


def _target_row(r: Row[Any]) -> TargetRow:
    return TargetRow(
        r.id,
        r.job_id,
        r.mac,
        r.tenant_id,
        check_sync_event(r.event),
        TargetState(r.state),
        r.attempts,
        r.status,
        r.reason,
    )


def _move(
    state: TargetState, event: TargetEvent, *where: ColumnElement[bool], by_id: bool = False
) -> Update:
    """An UPDATE moving the targets in ``state`` that match ``where`` on ``event``.

    The from-state is part of the WHERE clause, so a row another runner (or a
    cancel) moved since it was read is left alone. ``by_id``: ``where``
    names the rows by id, and the from-state is only checked, never looked
    up by index — SQLite otherwise walked every target in that state
    (``ix_notify_targets_due``) to find a few ids: every queued target of a
    job, at every claim.
    """
    column = t.notify_targets.c.state
    return (
        update(t.notify_targets)
        .where((column + "" if by_id else column) == state, *where)
        .values(state=next_state(state, event))
    )


def _finish_targets(conn: Connection, outcomes: Sequence[tuple[int, TargetOutcome, float]]) -> None:
    """Record how sends ended: ok, failed, or queued again for ``outcome.retry_at``.

    One executemany per kind of outcome: at thousands of NOTIFYs a second,
    building and running one UPDATE per send is what limits a job's rate, so
    the rows of one kind (answered, retried, given up) share a statement
    (:func:`_finish_statement`) with their values bound per row.
    """
    kinds: dict[tuple[TargetEvent, bool], list[dict[str, object]]] = {}
    for target_id, outcome, now in outcomes:
        retried = outcome.retry_at is not None
        row: dict[str, object] = {
            "b_id": target_id,
            "b_status": outcome.status,
            "b_reason": outcome.reason[:255],
            "b_sent_at": now,
        }
        if retried:
            row["b_next_at"] = outcome.retry_at
        else:
            row["b_done_at"] = now
            row["b_confirm_until"] = outcome.confirm_until
        kinds.setdefault((outcome.event, retried), []).append(row)
    for (event, retried), rows in kinds.items():
        conn.execute(_finish_statement(event, retried), rows)


@functools.cache
def _finish_statement(event: TargetEvent, retried: bool) -> Update:
    """The UPDATE recording one kind of outcome, its values bound per row (``b_<column>``:
    SQLAlchemy reserves the columns' own names for SET)."""
    names = ["status", "reason", "sent_at"]
    names += ["next_at"] if retried else ["done_at", "confirm_until"]
    values: dict[str, object] = {name: bindparam("b_" + name) for name in names}
    values["lease_until"] = None
    return _move(TargetState.SENDING, event, _TARGETS.id == bindparam("b_id")).values(values)


def _expired_targets(conn: Connection, now: float) -> list[TargetRow]:
    """Targets whose lease ran out while sending (their runner died), to be judged."""
    targets = t.notify_targets.c
    query = select(targets.id).where(
        targets.state == TargetState.SENDING, targets.lease_until < now
    )
    return _targets_of(conn, ids=list(conn.execute(query).scalars()))


def _reap(conn: Connection, now: float, verdicts: Mapping[int, bool]) -> None:
    """Housekeeping: expired leases as judged, confirmations, finished jobs.

    ``verdicts`` maps targets from :func:`_expired_targets` to whether they
    are queued again (else they fail as ``interrupted``). The caller judges
    by the phone's own ``notify.retries``, which lives in its resolved
    settings, not here.
    """
    # Both UPDATEs re-check the lease, so a result recorded since the targets
    # were read is never overwritten; a lease that ran out since is judged next time.
    targets = t.notify_targets.c
    _end_leases(conn, now, verdicts, targets.lease_until < now)
    # A phone fetching any of its files after the NOTIFY confirms it (seen
    # times are whole seconds: "at or after the second it was sent").
    ok, waiting = TargetState.OK, targets.confirm_until.is_not(None)
    fetched_since = (
        select(t.seen.c.mac)
        .where(t.seen.c.mac == targets.mac, t.seen.c.last_seen > targets.sent_at - 1)
        .exists()
    )
    conn.execute(_move(ok, TargetEvent.FETCHED, waiting, fetched_since))
    conn.execute(_move(ok, TargetEvent.WINDOW_PASSED, waiting, targets.confirm_until < now))
    open_jobs = select(t.notify_targets.c.job_id).where(
        t.notify_targets.c.state.in_(ACTIVE) | and_(t.notify_targets.c.state == ok, waiting)
    )
    conn.execute(
        update(t.notify_jobs)
        .where(t.notify_jobs.c.state == JobState.RUNNING, t.notify_jobs.c.id.not_in(open_jobs))
        .values(state=JobState.DONE, finished_at=now)
    )


def _release(conn: Connection, now: float, verdicts: Mapping[int, bool]) -> None:
    """End the leases of targets a runner took and will not finish (it is shutting down).

    Judged as :func:`_reap` judges an expired lease (``verdicts``: target id →
    queued again), now rather than when the lease runs out, so another
    runner, or this one after a restart, sends them without waiting.
    Targets whose send was recorded meanwhile are left alone.
    """
    _end_leases(conn, now, verdicts)


def _end_leases(
    conn: Connection, now: float, verdicts: Mapping[int, bool], *where: ColumnElement[bool]
) -> None:
    targets = t.notify_targets.c
    sending = TargetState.SENDING
    again = [target for target, requeue in verdicts.items() if requeue]
    if again:
        conn.execute(
            _move(
                sending, TargetEvent.LEASE_EXPIRED, *where, targets.id.in_(again), by_id=True
            ).values(lease_until=None, reason="interrupted; sending again")
        )
    spent = [target for target, requeue in verdicts.items() if not requeue]
    if spent:
        conn.execute(
            _move(
                sending, TargetEvent.LEASE_EXPIRED_SPENT, *where, targets.id.in_(spent), by_id=True
            ).values(lease_until=None, reason="interrupted", done_at=now)
        )


def _cancel_job(conn: Connection, job_id: int, now: float) -> bool:
    """Stop a job: targets not yet sent are cancelled. False if there is no such job."""
    found = conn.execute(
        update(t.notify_jobs)
        .where(t.notify_jobs.c.id == job_id, t.notify_jobs.c.state == JobState.RUNNING)
        .values(state=JobState.CANCELLED, finished_at=now)
    ).rowcount
    conn.execute(
        _move(
            TargetState.QUEUED, TargetEvent.CANCELLED, t.notify_targets.c.job_id == job_id
        ).values(done_at=now)
    )
    return bool(found)


def _only_tenant(tenant_id: int) -> list[ColumnElement[bool]]:
    """Jobs all of whose phones are in the tenant (what a tenant's own key may see)."""
    targets = t.notify_targets.c
    return [
        t.notify_jobs.c.id.in_(select(targets.job_id).where(targets.tenant_id == tenant_id)),
        t.notify_jobs.c.id.not_in(select(targets.job_id).where(targets.tenant_id != tenant_id)),
    ]


def _jobs(
    conn: Connection,
    *,
    job_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
    where: Sequence[ColumnElement[bool]] = (),
    oldest_first: bool = False,
) -> list[JobSummary]:
    """Jobs, newest first, with target counts by state."""
    order = t.notify_jobs.c.id.asc() if oldest_first else t.notify_jobs.c.id.desc()
    query = select(t.notify_jobs).where(*where).order_by(order).limit(limit).offset(offset)
    if job_id is not None:
        query = query.where(t.notify_jobs.c.id == job_id)
    rows = conn.execute(query).all()
    counts: dict[int, dict[TargetState, int]] = {row.id: {} for row in rows}
    if rows:
        for job, state, count in conn.execute(
            select(t.notify_targets.c.job_id, t.notify_targets.c.state, func.count())
            .where(t.notify_targets.c.job_id.in_(list(counts)))
            .group_by(t.notify_targets.c.job_id, t.notify_targets.c.state)
        ):
            counts[job][TargetState(state)] = count
    return [
        JobSummary(
            r.id,
            r.selector,
            check_sync_event(r.event),
            JobState(r.state),
            r.created_at,
            r.finished_at,
            counts[r.id],
        )
        for r in rows
    ]


class JobRepository:
    """Send-profiles jobs and their targets; each call is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self,
        request: JobRequest,
        phones: Sequence[tuple[str, int]],
        now: float,
        audit: Callable[[int], Sequence[AuditEntry]] | None = None,
    ) -> int:
        """Queue a job; phones already queued elsewhere are coalesced (:func:`create_job`).

        ``audit(job id)`` gives the entries recorded in the same transaction.
        """
        with self.engine.begin() as conn:
            job_id = create_job(conn, request, phones, now)
            if audit is not None:
                record_audit(conn, audit(job_id))
            return job_id

    def claim(self, tenant_id: int, limit: int, now: float, lease: float) -> list[TargetRow]:
        """Take due targets of a tenant for sending."""
        with self.engine.begin() as conn:
            return _claim_targets(conn, tenant_id=tenant_id, limit=limit, now=now, lease=lease)

    def claim_paced(
        self,
        tenant_id: int,
        rate: float,
        max_in_flight: int,
        now: float,
        lease: float,
        up_to_job: int | None = None,
    ) -> list[TargetRow]:
        """Take due targets of a tenant as its cluster-wide pacing allows (:func:`_claim_paced`);
        with ``up_to_job``, only of that job and older ones."""
        with self.engine.begin() as conn:
            return _claim_paced(
                conn,
                tenant_id=tenant_id,
                rate=rate,
                max_in_flight=max_in_flight,
                now=now,
                lease=lease,
                up_to_job=up_to_job,
            )

    def newest_job(self) -> int:
        """The id of the newest job (0 when there is none): ids only grow."""
        with self.engine.connect() as conn:
            return int(conn.execute(_NEWEST_JOB).scalar() or 0)

    def due_tenants(self, now: float) -> list[int]:
        """Tenants with targets ready to be sent."""
        with self.engine.connect() as conn:
            return _due_tenants(conn, now)

    def next_due(self) -> float | None:
        """When the next queued target becomes due (``None``: nothing is queued)."""
        with self.engine.connect() as conn:
            return _next_due(conn)

    def finish(self, target_id: int, outcome: TargetOutcome, now: float) -> None:
        """Record a send's outcome (:func:`_finish_targets`)."""
        self.finish_many([(target_id, outcome, now)])

    def finish_many(self, outcomes: Sequence[tuple[int, TargetOutcome, float]]) -> None:
        """Record the outcomes of several sends (target id, outcome, when) in one transaction."""
        with self.engine.begin() as conn:
            _finish_targets(conn, outcomes)

    def expired(self, now: float) -> list[TargetRow]:
        """Targets whose runner died while sending (lease run out), to be judged."""
        with self.engine.connect() as conn:
            return _expired_targets(conn, now)

    def reap(self, now: float, verdicts: Mapping[int, bool]) -> None:
        """Expired leases as judged (target id → queue again), confirmations, finished jobs."""
        with self.engine.begin() as conn:
            _reap(conn, now, verdicts)

    def release(self, now: float, verdicts: Mapping[int, bool]) -> None:
        """Give back targets a stopping runner took but did not finish, judged as expired."""
        with self.engine.begin() as conn:
            _release(conn, now, verdicts)

    def cancel(self, job_id: int, now: float, audit: Sequence[AuditEntry] = ()) -> None:
        """Cancel a running job's unsent targets (``audit`` recorded with it)."""
        with self.engine.begin() as conn:
            if not _cancel_job(conn, job_id, now):
                raise NotFoundError(f"no running job {job_id}")
            record_audit(conn, audit)

    def summaries(self, job_id: int | None = None, limit: int = 50) -> list[JobSummary]:
        """Jobs, newest first, with counts."""
        with self.engine.connect() as conn:
            return _jobs(conn, job_id=job_id, limit=limit)

    def page(
        self,
        *,
        tenant_id: int | None = None,
        state: JobState | None = None,
        limit: int = 100,
        offset: int = 0,
        oldest_first: bool = False,
    ) -> tuple[list[JobSummary], int]:
        """One page of jobs (only those wholly in ``tenant_id``, in ``state``) and the total."""
        where = _only_tenant(tenant_id) if tenant_id is not None else []
        if state is not None:
            where.append(t.notify_jobs.c.state == state)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.notify_jobs).where(*where))
            jobs = _jobs(conn, limit=limit, offset=offset, where=where, oldest_first=oldest_first)
            return jobs, int(total.scalar_one())

    def tenants_of(self, job_id: int) -> set[int]:
        """The tenant ids of a job's phones."""
        targets = t.notify_targets.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(targets.tenant_id).where(targets.job_id == job_id).distinct()
            )
            return {int(r.tenant_id) for r in rows}

    def targets(self, job_id: int) -> list[TargetRow]:
        """A job's per-phone status."""
        with self.engine.connect() as conn:
            return _targets_of(conn, job_id=job_id)

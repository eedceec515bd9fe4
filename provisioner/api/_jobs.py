"""Check-sync jobs: create by phone list, group, tenant or model; list; per-phone status; cancel.

The same service functions as ``provisioner send-profiles`` and ``provisioner
jobs`` (:mod:`provisioner.send_profiles`); ``provisioner serve`` sends them.
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from provisioner.api._call import Call, Reply
from provisioner.api._fleet import OPERATOR, VIEWER, page, sort_key
from provisioner.api._models import ListQuery, page_of
from provisioner.api._routing import PREFIX, Route
from provisioner.api._tenancy import key_tenant_id, scoped_selection, visible
from provisioner.errors import NotFoundError
from provisioner.notify import JobState
from provisioner.send_profiles import cancel_job, send_profiles
from provisioner.store import JobSummary, TargetRow

__all__ = ["ROUTES", "Selector", "job_id"]


class Selector(BaseModel):
    """Which phones: exactly one of ``phones``, ``group``, ``tenant`` or ``model``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    phones: list[str] | None = Field(
        None, min_length=1, max_length=1000, description="MACs in any spelling"
    )
    group: str | None = Field(None, max_length=200, description="TENANT/NAME")
    tenant: str | None = Field(None, max_length=100)
    model: str | None = Field(None, max_length=100, description="model id or alias")


class JobIn(Selector):
    """A check-sync job to queue."""

    event: Literal["resync", "reboot"] = Field(
        description="resync: fetch the files again; reboot: restart and fetch"
    )


class Job(BaseModel):
    """A job with its phones counted by state."""

    model_config = ConfigDict(extra="forbid")
    id: int
    selector: str
    event: str
    state: str = Field(description="running, done or cancelled")
    created_at: float
    finished_at: float | None
    counts: dict[str, int] = Field(description="phones by state (queued, sent, failed, …)")
    total: int
    delay: int | None = Field(None, description="seconds before the first NOTIFY (on create)")


class JobTarget(BaseModel):
    """One phone of a job."""

    model_config = ConfigDict(extra="forbid")
    mac: str
    event: str
    state: str
    attempts: int
    status: int | None = Field(description="the phone's SIP answer, if any")
    reason: str


class JobQuery(ListQuery):
    """Paging and filters of the job list (newest first; ``sort=id`` for oldest first)."""

    state: Literal["running", "done", "cancelled"] | None = None


class TargetQuery(ListQuery):
    """Paging and filters of a job's phones."""

    state: str | None = Field(None, max_length=32, description="e.g. queued, sent, failed")


JobPage = page_of(Job, "JobPage")
TargetPage = page_of(JobTarget, "JobTargetPage")


def _job(summary: JobSummary, delay: int | None = None) -> Job:
    return Job(
        id=summary.id,
        selector=summary.selector,
        event=summary.event,
        state=summary.state.value,
        created_at=summary.created_at,
        finished_at=summary.finished_at,
        counts={state.value: n for state, n in sorted(summary.counts.items())},
        total=summary.total,
        delay=delay,
    )


def job_id(call: Call) -> int:
    """The path's job id (anything else: not found)."""
    text = call.params["id"]
    if not text.isdigit() or len(text) > 12:
        raise NotFoundError(f"no job {text!r}")
    return int(text)


async def _summary(call: Call, number: int) -> JobSummary:
    jobs = call.services.store.jobs
    found = await call.run(lambda: jobs.summaries(number))
    if not found:
        raise NotFoundError(f"no job {number}")
    await visible(call, await call.run(lambda: jobs.tenants_of(number)), f"no job {number}")
    return found[0]


async def create_job(call: Call) -> Reply:
    """Queue a resync or reboot NOTIFY for the selected enabled phones."""
    body: JobIn = call.body
    phones, selector = await scoped_selection(
        call, phones=body.phones, group=body.group, tenant=body.tenant, model=body.model
    )
    if not phones:
        raise NotFoundError(f"no enabled phones in {selector}")
    store, catalog = call.services.store, call.services.catalog
    queued = await call.run(
        lambda: send_profiles(
            store,
            catalog,
            phones,
            selector=selector,
            event=body.event,
            now=time.time(),
            actor=call.actor,
        )
    )
    summary = await _summary(call, queued.id)
    return Reply(_job(summary, queued.delay), 201, location=f"{PREFIX}/jobs/{queued.id}")


async def list_jobs(call: Call) -> Reply:
    """Jobs, newest first, with their phones counted by state."""
    q: JobQuery = call.query
    _, descending = sort_key(q, ("id",))
    oldest_first = q.sort is not None and not descending
    tenant_id = await key_tenant_id(call)
    jobs, total = await call.run(
        lambda: call.services.store.jobs.page(
            tenant_id=tenant_id,
            state=JobState(q.state) if q.state else None,
            limit=q.limit,
            offset=q.offset,
            oldest_first=oldest_first,
        )
    )
    return page([_job(j) for j in jobs], total, q, JobPage)


async def get_job(call: Call) -> Reply:
    """One job with its counts."""
    return Reply(_job(await _summary(call, job_id(call))))


def _target(row: TargetRow) -> JobTarget:
    return JobTarget(
        mac=row.mac,
        event=row.event,
        state=row.state.value,
        attempts=row.attempts,
        status=row.status,
        reason=row.reason,
    )


async def list_job_phones(call: Call) -> Reply:
    """Every phone of a job with its state, attempts and the phone's answer."""
    number = job_id(call)
    await _summary(call, number)
    q: TargetQuery = call.query
    rows = await call.run(lambda: call.services.store.jobs.targets(number))
    items = [_target(r) for r in rows if q.state is None or r.state.value == q.state]
    field, descending = sort_key(q, ("mac", "state", "attempts"))
    items.sort(key=lambda t: (getattr(t, field), t.mac), reverse=descending)
    return page(items[q.offset : q.offset + q.limit], len(items), q, TargetPage)


async def cancel_job_(call: Call) -> Reply:
    """Cancel a running job: phones not yet sent are not notified."""
    number = job_id(call)
    await _summary(call, number)
    store = call.services.store
    await call.run(lambda: cancel_job(store, number, time.time(), call.actor))
    return Reply(_job(await _summary(call, number)))


cancel_job_.__name__ = "cancel_job"
_ID = {"id": "job id"}
ROUTES = [
    Route("GET", "/jobs", list_jobs, "List check-sync jobs", "jobs", VIEWER,
          query=JobQuery, answer=JobPage),
    Route("POST", "/jobs", create_job, "Queue a check-sync job", "jobs", OPERATOR,
          body=JobIn, answer=Job, status=201,
          description="Exactly one of `phones`, `group`, `tenant`, `model`; only enabled phones. "
          "A phone already queued by another job is coalesced there."),
    Route("GET", "/jobs/{id}", get_job, "Read a job", "jobs", VIEWER, answer=Job, params=_ID),
    Route("GET", "/jobs/{id}/phones", list_job_phones, "A job's phones and their status",
          "jobs", VIEWER, query=TargetQuery, answer=TargetPage, params=_ID),
    Route("POST", "/jobs/{id}/cancel", cancel_job_, "Cancel a running job", "jobs", OPERATOR,
          answer=Job, params=_ID),
]  # fmt: skip

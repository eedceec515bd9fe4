"""Send profiles: queue check-sync NOTIFYs for chosen phones (sipXcom's "Send profiles").

The command line's ``send-profiles`` and ``jobs --cancel`` call this, and so
does the admin API; ``provisioner serve`` sends the job, paced per tenant
(docs/notify.md). Both writes are audited in their own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from provisioner.actor import Actor
from provisioner.audit import AuditEntry, entry_for
from provisioner.catalog import Catalog
from provisioner.notify import Event, notify_delay
from provisioner.store import JobRequest, Store

__all__ = ["QueuedJob", "cancel_job", "send_profiles"]

# Past this many phones a job's audit entry keeps only their count.
_LISTED = 100


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A queued job's id and how long it waits before its first NOTIFY."""

    id: int
    delay: int


def send_profiles(
    store: Store,
    catalog: Catalog,
    phones: Sequence[tuple[str, int]],
    *,
    selector: str,
    event: Event,
    now: float,
    actor: Actor | None = None,
) -> QueuedJob:
    """Queue a job for ``phones`` (MAC, tenant id), after their tenants' ``notify.delay_seconds``.

    Phones already queued by another job are coalesced there. With an
    ``actor``, the job is audited (``job.create``, under the phones' tenant
    when they have one).
    """
    heads = store.tenants.heads({tenant for _, tenant in phones})
    delay = notify_delay(catalog, heads)
    tenant = _one_tenant({t.name for t in heads.tenants.values()})

    def audit(job_id: int) -> Sequence[AuditEntry]:
        if actor is None:
            return ()
        macs = [mac for mac, _ in phones]
        after: dict[str, object] = {"selector": selector, "event": event, "phones": len(macs)}
        if len(macs) <= _LISTED:
            after["macs"] = macs
        return [
            entry_for(
                actor,
                "job.create",
                f"job:{job_id}",
                f"job {job_id}",
                tenant=tenant,
                mac=macs[0] if len(macs) == 1 else None,
                after=after,
            )
        ]

    job = store.jobs.create(JobRequest(selector, event, float(delay)), phones, now, audit)
    return QueuedJob(job, delay)


def cancel_job(store: Store, job_id: int, now: float, actor: Actor) -> None:
    """Cancel a running job's unsent targets (audited as ``job.cancel``)."""
    heads = store.tenants.heads(store.jobs.tenants_of(job_id))
    tenant = _one_tenant({t.name for t in heads.tenants.values()})
    entry = entry_for(
        actor,
        "job.cancel",
        f"job:{job_id}",
        f"job {job_id}",
        tenant=tenant,
        before={"state": "running"},
        after={"state": "cancelled"},
    )
    store.jobs.cancel(job_id, now, [entry])


def _one_tenant(names: set[str]) -> str | None:
    """The tenant a job's audit entry is filed under: its phones' one tenant, if one."""
    return next(iter(names)) if len(names) == 1 else None

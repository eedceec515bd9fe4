"""Send profiles: queue check-sync NOTIFYs for chosen phones (sipXcom's "Send profiles").

The command line's ``send-profiles`` calls this, and so will the admin API;
``provisioner serve`` sends the job, paced per tenant (docs/notify.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from provisioner.catalog import Catalog
from provisioner.notify import Event, notify_delay
from provisioner.store import JobRequest, Store

__all__ = ["QueuedJob", "send_profiles"]


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
) -> QueuedJob:
    """Queue a job for ``phones`` (MAC, tenant id), after their tenants' ``notify.delay_seconds``.

    Phones already queued by another job are coalesced there.
    """
    delay = notify_delay(catalog, store.tenants.heads({tenant for _, tenant in phones}))
    job = store.jobs.create(JobRequest(selector, event, float(delay)), phones, now)
    return QueuedJob(job, delay)

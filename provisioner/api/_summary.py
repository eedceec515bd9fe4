"""The fleet at a glance (``GET /summary``): counts the database makes, for the dashboard.

:meth:`provisioner.store.SummaryRepository.fleet` counts with GROUP BY, so the
answer costs the same few statements at 100 phones or 100,000. A key limited
to a tenant gets its tenant's counts: its phones, the seen records of its
phones, the unknown devices its policy holds.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from provisioner.api._call import Call, Reply
from provisioner.api._devices import Seen, seen_out
from provisioner.api._fleet import VIEWER
from provisioner.api._routing import Route

__all__ = ["ROUTES"]

FAILED_WINDOW = 3600  # seconds: failed fetches "in the last hour"


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelCount(_Out):
    """Phones of one model in one tenant."""

    tenant: str
    model: str
    phones: int


class ReportedCount(_Out):
    """Phones whose latest request reported this vendor, model and firmware."""

    vendor: str = Field(description="'' when the User-Agent did not say")
    model: str
    firmware: str
    phones: int


class StalePhone(_Out):
    """A phone not seen for the days asked about."""

    mac: str
    tenant: str
    model: str
    description: str
    last_seen: int | None = Field(description="its latest request (Unix time); null: never")


class Summary(_Out):
    """Counts of the fleet, with the first few phones and records behind two of them."""

    at: int = Field(description="when it was counted (Unix time)")
    phones: int
    by_model: list[ModelCount] = Field(description="most phones first")
    reported: list[ReportedCount] = Field(
        description="by what each phone last reported in its User-Agent; never seen "
        "phones are not in it"
    )
    stale_days: int
    stale_total: int = Field(description="phones not seen for stale_days, never seen included")
    stale: list[StalePhone] = Field(description="the first of them, most recently seen first")
    failed_since: int = Field(description="an hour before at")
    failed_total: int = Field(
        description="seen records (a client and path) whose latest request since "
        "failed_since was refused"
    )
    failed: list[Seen] = Field(description="the first of them, newest first")
    pending: int = Field(description="unknown devices waiting to be claimed or rejected")


class SummaryQuery(BaseModel):
    """How stale is stale, and how many phones and records to list."""

    model_config = ConfigDict(extra="forbid", strict=False)
    days: int = Field(7, ge=1, le=3650, description="phones not seen for this many days")
    first: int = Field(20, ge=0, le=1000, description="how many stale phones and failed fetches")


async def fleet_summary(call: Call) -> Reply:
    """The fleet at a glance: by model and reported firmware, stale phones, failures."""
    q: SummaryQuery = call.query
    now = int(time.time())
    found = await call.run(
        lambda: call.services.store.summary.fleet(
            tenant=call.key.tenant,
            stale_before=now - q.days * 86400,
            failed_since=now - FAILED_WINDOW,
            first=q.first,
        )
    )
    return Reply(
        Summary(
            at=now,
            phones=found.phones,
            by_model=[ModelCount(tenant=t, model=m, phones=n) for t, m, n in found.by_model],
            reported=[
                ReportedCount(vendor=v, model=m, firmware=f, phones=n)
                for v, m, f, n in found.reported
            ],
            stale_days=q.days,
            stale_total=found.stale_total,
            stale=[
                StalePhone(
                    mac=p.mac,
                    tenant=p.tenant,
                    model=p.model,
                    description=p.description,
                    last_seen=p.last_seen,
                )
                for p in found.stale
            ],
            failed_since=now - FAILED_WINDOW,
            failed_total=found.failed_total,
            failed=[seen_out(r) for r in found.failed],
            pending=found.pending,
        )
    )


ROUTES = [
    Route("GET", "/summary", fleet_summary, "The fleet at a glance", "fleet", VIEWER,
          query=SummaryQuery, answer=Summary),
]  # fmt: skip

"""Banned addresses: the bans every node holds, and those of the last hour.

A ban is per client address, not per tenant (the address may be a phone of
any tenant, or an attacker's), so the route is refused to keys limited to a
tenant; any other key may read it, as any may read the seen records with their
addresses. Lifting a ban stays ``provisioner ban rm``.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from provisioner.api._call import Call, Reply
from provisioner.api._fleet import VIEWER, page
from provisioner.api._models import ListQuery, page_of
from provisioner.api._routing import Route
from provisioner.audit import parse_since
from provisioner.errors import InputError
from provisioner.store import Ban

__all__ = ["ROUTES"]

RECENT = "1h"  # the bans listed besides the active ones, by default


class BanOut(BaseModel):
    """One banned address."""

    model_config = ConfigDict(extra="forbid")
    address: str
    reason: str = Field(
        description="the failure that completed the count: lookup_failed (a phone's "
        "file asked for in vain), api_key_failed, ui_login_failed, ftp_login_failed, "
        "malformed_request"
    )
    since: int = Field(description="when the ban began (Unix time)")
    until: int = Field(description="when it ends (Unix time)")
    active: bool = Field(description="whether it holds now")


class BanQuery(ListQuery):
    """Which bans: those in force, and those made since a time (newest first)."""

    since: str | None = Field(
        None,
        max_length=32,
        description="also the bans made since: 30m, 12h, 7d or a UTC date/time "
        f"(default {RECENT}; an ended ban is kept an hour after its end)",
    )
    active: bool = Field(False, description="only the bans in force now")


BanPage = page_of(BanOut, "BanPage")


def _ban(ban: Ban, now: float) -> BanOut:
    return BanOut(
        address=ban.address,
        reason=ban.reason,
        since=int(ban.created_at),
        until=int(ban.until),
        active=ban.until > now,
    )


async def list_bans(call: Call) -> Reply:
    """Addresses banned now or lately, newest ban first."""
    q: BanQuery = call.query
    if q.sort not in (None, "-since"):
        raise InputError("sort: bans are listed newest first only (-since)")
    now = time.time()
    since = None if q.active else parse_since(q.since or RECENT, now)
    bans, total = await call.run(
        lambda: call.services.store.bans.recent(now, since, limit=q.limit, offset=q.offset)
    )
    return page([_ban(b, now) for b in bans], total, q, BanPage)


ROUTES = [
    Route("GET", "/bans", list_bans, "List banned addresses", "bans", VIEWER, query=BanQuery,
          answer=BanPage, unscoped=True),
]  # fmt: skip

"""Unknown devices: seen records, pending (quarantined) devices, claim, reject and forget.

Claim, reject and forget are :mod:`provisioner.devices`, as ``provisioner
claim``, ``reject`` and ``forget`` call them. A pending (or rejected) device
belongs to the tenant whose policy held it; a key limited to a tenant sees
only its tenant's pending devices and the seen records of its tenant's phones
(an unknown device belongs to no tenant).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from provisioner.api._call import Call, Reply
from provisioner.api._fleet import MAC_PARAMS, OPERATOR, VIEWER, body_entry, page, sort_key
from provisioner.api._models import LineIn, ListQuery, Phone, page_of
from provisioner.api._phones import phone_reply
from provisioner.api._routing import Route
from provisioner.devices import claim_device, forget_device, pending_device, reject_device
from provisioner.errors import InputError, NotFoundError
from provisioner.fleet import parse_line_entry
from provisioner.mac import parse_mac
from provisioner.store import PendingDevice, SeenRow

__all__ = ["ROUTES", "Seen", "seen_out"]


class Pending(BaseModel):
    """A device held back by its tenant's unknown-device policy."""

    model_config = ConfigDict(extra="forbid")
    mac: str
    tenant: str
    vendor: str
    model: str = Field(description="as detected ('' when not)")
    firmware: str
    address: str
    user_agent: str
    first_seen: int
    last_seen: int
    state: Literal["pending", "rejected"] = Field(
        description="rejected: neither held again nor auto-registered when it asks again"
    )
    rejected_by: str | None = Field(description="who rejected it (as the audit log names it)")
    rejected_at: int | None = Field(description="when it was rejected (Unix time)")


class Seen(BaseModel):
    """The latest request of one client for one path over one protocol."""

    model_config = ConfigDict(extra="forbid")
    mac: str | None
    address: str
    protocol: str
    path: str
    user_agent: str
    vendor: str
    model: str
    firmware: str
    status: str
    known: bool = Field(description="whether the device is a managed phone")
    count: int
    first_seen: int
    last_seen: int


class ClaimIn(BaseModel):
    """Where a claimed device goes (defaults: where it is held, as what it was detected)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    tenant: str | None = Field(None, max_length=100)
    model: str | None = Field(None, max_length=100, description="model id or alias")
    groups: list[str] | None = Field(None, max_length=100, description="group names")
    description: str | None = Field(None, max_length=255)
    lines: list[LineIn] | None = Field(
        None, max_length=64, description="lines created with the phone (as POST …/lines takes)"
    )


class PendingQuery(ListQuery):
    """Paging and filters of pending devices (newest first)."""

    tenant: str | None = Field(None, max_length=100)
    state: Literal["pending", "rejected"] | None = Field(None, description="only these")


class SeenQuery(ListQuery):
    """Paging and filters of seen records (newest first)."""

    unknown: bool = Field(False, description="only devices that are not managed phones")
    mac: str | None = Field(None, max_length=32, description="one device's (any spelling)")


PendingPage = page_of(Pending, "PendingPage")
SeenPage = page_of(Seen, "SeenPage")


def _pending(p: PendingDevice) -> Pending:
    shown = {name: getattr(p, name) for name in Pending.model_fields}
    return Pending(**shown | {"rejected_by": p.rejected_by or None})


def seen_out(row: SeenRow) -> Seen:
    """A seen record as the API answers it."""
    return Seen(**{name: getattr(row, name) for name in Seen.model_fields})


async def list_pending(call: Call) -> Reply:
    """Devices held in quarantine, waiting to be claimed or rejected, and the rejected ones."""
    q: PendingQuery = call.query
    devices = await call.run(call.services.store.seen.pending)
    rows = [
        _pending(p)
        for p in devices
        if call.sees(p.tenant)
        and (q.tenant is None or p.tenant == q.tenant)
        and (q.state is None or p.state == q.state)
    ]
    field, descending = sort_key(q, ("last_seen", "mac", "tenant"))
    if q.sort is None:
        descending = True  # newest first
    rows.sort(key=lambda r: (getattr(r, field), r.mac), reverse=descending)
    return page(rows[q.offset : q.offset + q.limit], len(rows), q, PendingPage)


async def _held(call: Call) -> tuple[str, PendingDevice]:
    mac = parse_mac(call.params["mac"])
    found = await call.run(lambda: pending_device(call.services.store, mac))
    if found is None or not call.sees(found.tenant):
        raise NotFoundError(f"no pending or rejected device {mac}")
    return mac, found


async def claim(call: Call) -> Reply:
    """Turn a pending device into a managed phone, as ``provisioner claim`` does."""
    mac, held = await _held(call)
    body: ClaimIn = call.body
    tenant = body.tenant or held.tenant
    call.own(tenant, f"no tenant named {tenant!r}")
    store, catalog = call.services.store, call.services.catalog
    entries = body_entry(call).get("lines", [])
    # Numbered in order unless they say (POST …/lines takes the first free one).
    lines = [parse_line_entry(e, f"lines[{n}]", n + 1) for n, e in enumerate(entries)]
    await call.run(
        lambda: claim_device(
            store,
            catalog,
            call.edits,
            mac,
            tenant=tenant,
            model=body.model,
            groups=body.groups or [],
            description=body.description or "",
            lines=lines,
        )
    )
    return await phone_reply(call, mac, 201)


claim.__name__ = "claim_device"


async def reject(call: Call) -> Reply:
    """Reject a pending device, as ``provisioner reject`` does: it is not held again."""
    mac, _ = await _held(call)
    done = await call.run(lambda: reject_device(call.services.store, mac, call.actor))
    return Reply(_pending(done))


reject.__name__ = "reject_device"


async def forget(call: Call) -> Reply:
    """Drop a pending or rejected device's record, as ``provisioner forget`` does."""
    mac, _ = await _held(call)
    await call.run(lambda: forget_device(call.services.store, mac, call.actor))
    return Reply()


forget.__name__ = "forget_device"


async def list_seen(call: Call) -> Reply:
    """What devices asked for, newest first."""
    q: SeenQuery = call.query
    if q.sort not in (None, "-last_seen"):
        raise InputError("sort: seen records are listed newest first only (-last_seen)")
    mac = parse_mac(q.mac) if q.mac else None
    rows, total = await call.run(
        lambda: call.services.store.seen.page(
            unknown=q.unknown, tenant=call.key.tenant, mac=mac, limit=q.limit, offset=q.offset
        )
    )
    if call.key.tenant is not None and q.unknown:
        rows, total = [], 0  # an unknown device belongs to no tenant
    return page([seen_out(r) for r in rows], total, q, SeenPage)


ROUTES = [
    Route("GET", "/devices/pending", list_pending, "List pending devices", "devices", VIEWER,
          query=PendingQuery, answer=PendingPage),
    Route("POST", "/devices/pending/{mac}/claim", claim, "Claim a pending device", "devices",
          OPERATOR, body=ClaimIn, answer=Phone, status=201, params=MAC_PARAMS),
    Route("POST", "/devices/pending/{mac}/reject", reject, "Reject a pending device", "devices",
          OPERATOR, answer=Pending, params=MAC_PARAMS),
    Route("DELETE", "/devices/pending/{mac}", forget, "Forget a pending or rejected device",
          "devices", OPERATOR, params=MAC_PARAMS),
    Route("GET", "/devices/seen", list_seen, "List seen records", "devices", VIEWER,
          query=SeenQuery, answer=SeenPage),
]  # fmt: skip

"""Staged firmware rollouts: start, list, status with waves, halt, resume, roll back.

The same service functions as ``provisioner rollout`` (:mod:`provisioner.rollouts`);
``provisioner serve`` advances running rollouts wave by wave.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from provisioner.api._call import Call, Reply
from provisioner.api._fleet import ADMIN, VIEWER, page, sort_key
from provisioner.api._jobs import Selector
from provisioner.api._models import ListQuery, page_of
from provisioner.api._routing import PREFIX, Route
from provisioner.api._tenancy import key_tenant_id, scoped_selection, visible
from provisioner.errors import InputError, NotFoundError
from provisioner.firmware import Plan
from provisioner.mac import parse_mac
from provisioner.rollouts import halt_rollout, resume_rollout, rollback, start_rollout
from provisioner.store import RolloutRecord

__all__ = ["ROUTES"]


class RolloutIn(Selector):
    """A rollout of an active firmware set to the selected phones of its vendor."""

    vendor: str = Field(max_length=64)
    label: str = Field(max_length=64)
    canary: int = Field(1, ge=1, le=100_000, description="phones in the first wave")
    growth: float = Field(2.0, ge=1, le=1000, description="each wave this many times the last")
    threshold: float = Field(
        90.0, gt=0, le=100, description="percent of a wave that must come back upgraded"
    )
    wave_minutes: float = Field(15.0, gt=0, le=10_080, description="deadline of each wave")
    first: list[str] | None = Field(
        None, max_length=1000, description="MACs to take first (the canaries)"
    )


class PlanOut(BaseModel):
    """How the rollout proceeds."""

    model_config = ConfigDict(extra="forbid")
    canary: int
    growth: float
    threshold: float = Field(description="share of a wave, 0–1")
    wave_seconds: float


class Wave(BaseModel):
    """One wave: its phones counted by state."""

    model_config = ConfigDict(extra="forbid")
    wave: int = Field(description="from 1")
    phones: int
    counts: dict[str, int]


class RolloutPhoneOut(BaseModel):
    """One phone's progress."""

    model_config = ConfigDict(extra="forbid")
    mac: str
    wave: int | None = Field(description="from 1; null before its wave")
    state: str = Field(description="pending, waiting, upgraded, failed, skipped or restored")
    previous: str | None = Field(description="its phone-scope label before the rollout")
    reported: str = Field(description="the firmware it last reported")
    reason: str


class Rollout(BaseModel):
    """A rollout with its phones counted by state."""

    model_config = ConfigDict(extra="forbid")
    id: int
    vendor: str
    label: str
    selector: str
    state: str = Field(description="running, halted, done or rolled_back")
    reason: str
    wave: int = Field(description="the current wave, from 1 (0: not started)")
    plan: PlanOut
    created_at: float
    finished_at: float | None
    counts: dict[str, int]


class RolloutStatus(Rollout):
    """A rollout with its waves and every phone."""

    waves: list[Wave]
    phones: list[RolloutPhoneOut]


class RolloutQuery(ListQuery):
    """Paging and filters of the rollout list (newest first)."""

    state: Literal["running", "halted", "done", "rolled_back"] | None = None
    vendor: str | None = Field(None, max_length=64)


RolloutPage = page_of(Rollout, "RolloutPage")


def _rollout(record: RolloutRecord) -> Rollout:
    return Rollout(
        id=record.id,
        vendor=record.vendor,
        label=record.label,
        selector=record.selector,
        state=record.state,
        reason=record.reason,
        wave=record.wave + 1,
        plan=PlanOut(
            canary=record.plan.canary,
            growth=record.plan.growth,
            threshold=record.plan.threshold,
            wave_seconds=record.plan.wave_seconds,
        ),
        created_at=record.created_at,
        finished_at=record.finished_at,
        counts=dict(sorted(Counter(p.state for p in record.phones).items())),
    )


def _status(record: RolloutRecord) -> RolloutStatus:
    waves: dict[int, Counter[str]] = {}
    for phone in record.phones:
        if phone.wave is not None:
            waves.setdefault(phone.wave, Counter())[phone.state] += 1
    return RolloutStatus(
        **_rollout(record).model_dump(),
        waves=[
            Wave(wave=n + 1, phones=sum(c.values()), counts=dict(sorted(c.items())))
            for n, c in sorted(waves.items())
        ],
        phones=[
            RolloutPhoneOut(
                mac=p.mac,
                wave=None if p.wave is None else p.wave + 1,
                state=p.state,
                previous=p.previous,
                reported=p.reported,
                reason=p.reason,
            )
            for p in record.phones
        ],
    )


def _rollout_id(call: Call) -> int:
    text = call.params["id"]
    if not text.isdigit() or len(text) > 12:
        raise NotFoundError(f"no rollout {text!r}")
    return int(text)


async def _record(call: Call, number: int) -> RolloutRecord:
    found = await call.run(lambda: call.services.store.rollouts.records(number))
    if not found:
        raise NotFoundError(f"no rollout {number}")
    await visible(call, {p.tenant_id for p in found[0].phones}, f"no rollout {number}")
    return found[0]


async def list_rollouts(call: Call) -> Reply:
    """Rollouts, newest first, with their phones counted by state."""
    q: RolloutQuery = call.query
    _, descending = sort_key(q, ("id",))
    records = await call.run(lambda: call.services.store.rollouts.records(state=q.state))
    own = await key_tenant_id(call)
    rows = [
        _rollout(r)
        for r in records
        if (q.vendor is None or r.vendor == q.vendor)
        and (own is None or {p.tenant_id for p in r.phones} == {own})
    ]
    if q.sort is not None and not descending:
        rows.reverse()
    return page(rows[q.offset : q.offset + q.limit], len(rows), q, RolloutPage)


async def start(call: Call) -> Reply:
    """Roll an active firmware set out in waves (canaries first)."""
    body: RolloutIn = call.body
    try:
        plan = Plan(body.canary, body.growth, body.threshold / 100, body.wave_minutes * 60)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    phones, selector = await scoped_selection(
        call, phones=body.phones, group=body.group, tenant=body.tenant, model=body.model
    )
    first = [parse_mac(m) for m in body.first or []]
    store, catalog = call.services.store, call.services.catalog
    number = await call.run(
        lambda: start_rollout(
            store,
            catalog,
            vendor=body.vendor,
            label=body.label,
            selector=selector,
            phones=phones,
            plan=plan,
            first=first,
            actor=call.actor,
        )
    )
    record = await _record(call, number)
    return Reply(_status(record), 201, location=f"{PREFIX}/rollouts/{number}")


start.__name__ = "start_rollout"


async def get_rollout(call: Call) -> Reply:
    """A rollout's status: its waves and every phone's progress."""
    return Reply(_status(await _record(call, _rollout_id(call))))


async def halt(call: Call) -> Reply:
    """Stop a running rollout; phones already pinned keep the new label."""
    number = _rollout_id(call)
    await _record(call, number)
    await call.run(lambda: halt_rollout(call.services.store, number, call.actor))
    return Reply(_status(await _record(call, number)))


halt.__name__ = "halt_rollout"


async def resume(call: Call) -> Reply:
    """Run a halted rollout again; its current wave's failed phones get a new deadline."""
    number = _rollout_id(call)
    await _record(call, number)
    await call.run(lambda: resume_rollout(call.services.store, number, call.actor))
    return Reply(_status(await _record(call, number)))


resume.__name__ = "resume_rollout"


async def roll_back(call: Call) -> Reply:
    """Put the rollout's phones back on their previous label and reboot them."""
    number = _rollout_id(call)
    await _record(call, number)
    store, catalog = call.services.store, call.services.catalog
    await call.run(lambda: rollback(store, catalog, number, actor=call.actor))
    return Reply(_status(await _record(call, number)))


roll_back.__name__ = "rollback_rollout"
_ID = {"id": "rollout id"}
ROUTES = [
    Route("GET", "/rollouts", list_rollouts, "List rollouts", "rollouts", VIEWER,
          query=RolloutQuery, answer=RolloutPage),
    Route("POST", "/rollouts", start, "Start a rollout", "rollouts", ADMIN,
          body=RolloutIn, answer=RolloutStatus, status=201,
          description="Exactly one of `phones`, `group`, `tenant`, `model`; phones of other "
          "vendors are left out. The set must be active and have a version."),
    Route("GET", "/rollouts/{id}", get_rollout, "A rollout's status with waves", "rollouts",
          VIEWER, answer=RolloutStatus, params=_ID),
    Route("POST", "/rollouts/{id}/halt", halt, "Halt a running rollout", "rollouts", ADMIN,
          answer=RolloutStatus, params=_ID),
    Route("POST", "/rollouts/{id}/resume", resume, "Resume a halted rollout", "rollouts", ADMIN,
          answer=RolloutStatus, params=_ID),
    Route("POST", "/rollouts/{id}/rollback", roll_back, "Roll a rollout back", "rollouts",
          ADMIN, answer=RolloutStatus, params=_ID),
]  # fmt: skip

"""The send-profiles job runner: paced, persistent, resumable check-sync NOTIFYs.

Theory of operation
-------------------
Jobs and their per-phone targets live in the database
(:mod:`provisioner.store._jobs`); the runner holds no state that a restart
would lose. Every round it asks which tenants have due targets, and for each
takes as many as the tenant's token bucket (``notify.rate`` per second) and
in-flight limit (``notify.max_in_flight``) allow. Both are the cluster's, not
this node's: the bucket is a row in the database and the targets in flight
are counted there, both in the claim's transaction
(:meth:`~provisioner.store.JobRepository.claim_paced`), so three nodes send
a tenant's NOTIFYs at its rate, not three times it. Taking a target counts an
attempt and sets a lease; each send waits a random 0..``notify.jitter_ms``
first. The outcome is written back as a :class:`~provisioner.notify.TargetOutcome`
(outcomes that arrive while a write is under way go together in the next
one, so a high rate is not one transaction per NOTIFY):
``ok`` (2xx), queued again with exponential backoff (timeouts, 408, 5xx,
while attempts remain), or ``failed`` with the SIP status and reason. Once
a second the runner expires stale leases (a runner that was killed
mid-send), moves ``ok`` targets to ``confirmed`` when the phone fetched its
files again within ``notify.confirm_seconds``, and closes finished jobs.
Every move follows the one table in :mod:`provisioner.notify._states`.

Before taking targets of a job it has not seen, the runner waits until the
served state has caught up (:meth:`ServedState.caught_up`), so every change
committed before a job was queued is in place when its NOTIFYs go out; it
then takes targets only of the jobs it caught up for (job ids only grow), so
a job queued meanwhile waits for the next round. Jobs also start
``notify.delay_seconds`` after they were queued. Rounds are at least
:data:`_MIN_ROUND` apart: a round follows every finished send (room for
another), and at thousands of NOTIFYs a second a round per send would keep
the database thread busy with rounds that find no token. A round costs about
the same whatever it takes (two trips to the database thread, a transaction
per due tenant, one more for the outcomes), so 25 ms rather than 10 ms
between rounds — 50 NOTIFYs a round at 2,000/s rather than 20 — cut the
runner's CPU per NOTIFY by about a quarter; the bucket keeps a second of
tokens, so the rate is the same, sent in bursts of 25 ms' worth.

The runner reads the store and the served state through Protocols of just
what it uses; it writes nothing but its own jobs' rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol, TypeVar

from provisioner.notify import NotifyTargetError, TargetEvent, TargetOutcome, request_for
from provisioner.serve._cache import PhoneEntry, TenantEntry
from provisioner.serve._db import Db
from provisioner.serve._model import TenantPolicy
from provisioner.sip import NotifyOutcome, NotifyRequest
from provisioner.store import TargetRow

__all__ = ["AddressLookup", "JobQueue", "JobRunner", "Sender", "ServedState", "retryable"]

log = logging.getLogger("provisioner.notify")
_BACKOFF = 5.0  # seconds before the first retry; doubled for each further one
_MIN_ROUND = 0.025  # seconds between the starts of two rounds, at least
_T = TypeVar("_T")


def retryable(outcome: NotifyOutcome) -> bool:
    """Worth another attempt: no answer, 408 Request Timeout, or a server error."""
    return outcome.status is None or outcome.status == 408 or outcome.status >= 500


class JobQueue(Protocol):
    """The jobs' rows as the runner moves them (:class:`provisioner.store.JobRepository`)."""

    def expired(self, now: float) -> list[TargetRow]: ...

    def reap(self, now: float, verdicts: Mapping[int, bool]) -> None: ...

    def release(self, now: float, verdicts: Mapping[int, bool]) -> None: ...

    def due_tenants(self, now: float) -> list[int]: ...

    def next_due(self) -> float | None: ...

    def newest_job(self) -> int: ...

    def claim_paced(
        self,
        tenant_id: int,
        rate: float,
        max_in_flight: int,
        now: float,
        lease: float,
        up_to_job: int | None = None,
    ) -> list[TargetRow]: ...

    def finish_many(self, outcomes: Sequence[tuple[int, TargetOutcome, float]]) -> None: ...


class AddressLookup(Protocol):
    """Where phones were last admitted from, on any node (the ``phone_addresses`` table)."""

    def last(self, macs: Collection[str]) -> dict[str, str]: ...


class Sender(Protocol):
    """What sends one NOTIFY and reports its outcome (:class:`provisioner.sip.Notifier`)."""

    async def send(self, request: NotifyRequest) -> NotifyOutcome: ...


class ServedState(Protocol):
    """The served state as the runner reads it (:class:`ConfigCache`)."""

    @property
    def macs(self) -> Mapping[str, PhoneEntry]: ...

    @property
    def tenants(self) -> Mapping[int, TenantEntry]: ...

    async def caught_up(self) -> None: ...


class JobRunner:
    """Sends the NOTIFYs of every running job, paced per tenant."""

    def __init__(
        self,
        *,
        jobs: JobQueue,
        addresses: AddressLookup,
        served: ServedState,
        notifier: Sender,
        db: Db,
        address_of: Callable[[str], str | None],
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        tick: float = 0.05,
        idle: float = 2.0,
        lease: float = 120.0,
    ) -> None:
        self.jobs = jobs
        self.addresses = addresses
        self.served = served
        self.notifier = notifier
        self.address_of = address_of
        self._database = db
        self._clock = clock
        self._jitter = jitter
        self._tick = tick
        self._idle = idle
        self._wake = asyncio.Event()
        self._lease = lease
        # Outcomes waiting for the write under way (``_finishing``) to end.
        self._outcomes: list[tuple[int, TargetOutcome, float, asyncio.Future[None]]] = []
        self._finishing: asyncio.Task[None] | None = None
        self._tasks: dict[asyncio.Task[None], TargetRow] = {}  # sends in flight
        self._housekept = 0.0
        self._draining = False
        self._caught_up_to = 0  # the newest job whose changes are served

    async def _db(self, call: Callable[[], _T]) -> _T:
        """``call`` (a store method) on the database thread, off the event loop."""
        return await self._database.run(call)

    def wake(self) -> None:
        """Look for due targets now (a job was just created in this process)."""
        self._wake.set()

    async def run(self) -> None:
        """Run until cancelled; sends in flight are finished or left to their lease.

        Between rounds it sleeps until :meth:`wake`, a send finishing, the
        next target's due time, or ``idle`` seconds (jobs queued by another
        process, the ``send-profiles`` command, are found then) — whichever
        comes first; ``tick`` apart only while targets are due or in flight.
        """
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                wait = await self.step()
                if not self._wake.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
                self._wake.clear()
                early = started + _MIN_ROUND - loop.time()
                if early > 0:
                    await asyncio.sleep(early)
        finally:
            for task in self._tasks:
                task.cancel()

    async def step(self) -> float:
        """One round: housekeeping (once a second), then take and start due targets.

        Returns how long the runner may sleep before the next round.
        """
        now = self._clock()
        if now - self._housekept >= 1.0:
            self._housekept = now
            expired = await self._db(lambda: self.jobs.expired(now))
            verdicts = {e.id: e.attempts < self._max_attempts(e.mac) for e in expired}
            await self._db(lambda: self.jobs.reap(now, verdicts))
        jobs = self.jobs
        due: list[int] = []
        newest = 0
        if not self._draining:  # both in one trip to the database thread
            due, newest = await self._db(lambda: (jobs.due_tenants(now), jobs.newest_job()))
        if not due:
            if self._tasks:
                return self._tick  # sends in flight: a retry may come due soon
            upcoming = await self._db(self.jobs.next_due)
            if upcoming is None:
                return self._idle
            return min(self._idle, max(upcoming - self._clock(), self._tick))
        if newest > self._caught_up_to:
            await self.served.caught_up()  # files in place before any phone fetches them
            self._caught_up_to = newest
        await self._start(due, self._clock())
        return self._tick

    def _max_attempts(self, mac: str) -> int:
        """Sends a phone's target may take: the first and ``notify.retries`` more,
        as in :meth:`_send_now`. A phone gone from the cache gets no second one."""
        # retries is in the part phones alike share: no whole NotifyInfo built for it
        phone = self.served.macs.get(mac)
        return 1 if phone is None else phone.notify_base.retries + 1

    async def _start(self, due: list[int], now: float) -> None:
        """Claim for every due tenant in one trip to the database thread, then send."""
        policies: dict[int, TenantPolicy] = {}
        for tenant_id in due:
            tenant = self.served.tenants.get(tenant_id)
            if tenant is not None:  # else deleted; its targets stay queued, listed by `jobs`
                policies[tenant_id] = tenant.policy
        up_to_job = self._caught_up_to

        def claim() -> list[tuple[TenantPolicy, list[TargetRow]]]:
            return [
                (
                    policy,
                    self.jobs.claim_paced(
                        tenant_id,
                        policy.notify_rate,
                        policy.notify_max_in_flight,
                        now,
                        self._lease,
                        up_to_job,
                    ),
                )
                for tenant_id, policy in policies.items()
            ]

        for policy, claimed in await self._db(claim) if policies else []:
            for target in claimed:
                task = asyncio.create_task(self._send(target, policy.notify_jitter_ms / 1000))
                self._tasks[task] = target
                task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        """A send finished: room for another, so look again without waiting for the tick."""
        self._tasks.pop(task, None)
        self._wake.set()

    async def drain(self, grace: float) -> None:
        """Stop taking targets, let sends in flight finish for ``grace`` s, give the rest back.

        A send still under way then is cancelled and its target's lease ended
        at once (``Store.release_targets``), judged as an expired lease is:
        queued again while attempts remain. Call it before cancelling :meth:`run`.
        """
        self._draining = True
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        left = dict(self._tasks)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        if left:
            verdicts = {t.id: t.attempts < self._max_attempts(t.mac) for t in left.values()}
            await self._db(lambda: self.jobs.release(self._clock(), verdicts))
            log.info("event=notify_released targets=%d", len(verdicts))

    async def _send(self, target: TargetRow, jitter: float) -> None:
        try:
            if jitter:
                await asyncio.sleep(self._jitter() * jitter)
            await self._send_now(target)
        except Exception:  # one phone's failure must not stop the runner
            log.exception("event=notify_error mac=%s", target.mac)
            await self._finish(target, _gave_up(None, "internal error"))

    async def _send_now(self, target: TargetRow) -> None:
        phone = self.served.macs.get(target.mac)
        if phone is None:
            await self._finish(target, _gave_up(None, "phone unknown or disabled"))
            return
        info = phone.notify
        address = self.address_of(target.mac)
        if address is None and info.target == "direct":
            found = await self._db(lambda: self.addresses.last([target.mac]))
            address = found.get(target.mac)
        try:
            request = request_for(info, target.event, address)
        except NotifyTargetError as exc:
            await self._finish(target, _gave_up(None, str(exc)))
            return
        outcome = await self.notifier.send(request)
        now = self._clock()
        log.info(
            "event=notify mac=%s attempt=%d status=%s reason=%s",
            target.mac,
            target.attempts,
            outcome.status,
            outcome.reason.replace(" ", "_"),
        )
        if outcome.ok:
            until = now + info.confirm_seconds if info.confirm_seconds else None
            result = TargetOutcome(TargetEvent.ANSWERED, outcome.status, confirm_until=until)
        elif retryable(outcome) and target.attempts <= info.retries:
            retry_at = now + _BACKOFF * 2 ** (target.attempts - 1)
            result = TargetOutcome(TargetEvent.RETRY, outcome.status, outcome.reason, retry_at)
        else:
            result = _gave_up(outcome.status, outcome.reason)
        await self._finish(target, result)

    async def _finish(self, target: TargetRow, outcome: TargetOutcome) -> None:
        """Record an outcome; returns once it is written (with others arriving meanwhile)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outcomes.append((target.id, outcome, self._clock(), future))
        if self._finishing is None:
            self._finishing = asyncio.create_task(self._write_outcomes())
        await future

    async def _write_outcomes(self) -> None:
        try:
            while self._outcomes:
                batch, self._outcomes = self._outcomes, []
                rows = [(target, outcome, now) for target, outcome, now, _ in batch]
                try:
                    await self._db(functools.partial(self.jobs.finish_many, rows))
                except Exception as exc:  # each send's task sees the failure
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for *_, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._finishing = None


def _gave_up(status: int | None, reason: str) -> TargetOutcome:
    return TargetOutcome(TargetEvent.GAVE_UP, status, reason)

"""The send-profiles job runner: paced, persistent, resumable check-sync NOTIFYs.

Theory of operation
-------------------
Jobs and their per-phone targets live in the database
(:mod:`provisioner.store._jobs`); the runner holds no state that a restart
would lose. Every round it asks which tenants have due targets, and for each
takes as many as the tenant's token bucket (``notify.rate`` per second) and
in-flight limit (``notify.max_in_flight``) allow. Taking a target counts an
attempt and sets a lease; each send waits a random 0..``notify.jitter_ms``
first. The outcome is written back as a :class:`~provisioner.notify.TargetOutcome`:
``ok`` (2xx), queued again with exponential backoff (timeouts, 408, 5xx,
while attempts remain), or ``failed`` with the SIP status and reason. Once
a second the runner expires stale leases (a runner that was killed
mid-send), moves ``ok`` targets to ``confirmed`` when the phone fetched its
files again within ``notify.confirm_seconds``, and closes finished jobs.
Every move follows the one table in :mod:`provisioner.notify._states`.

Before taking targets the runner waits until the served state has caught up
(:meth:`ServedState.caught_up`), so every change committed before a job was
queued is in place when its NOTIFYs go out; jobs also start
``notify.delay_seconds`` after they were queued.

The runner reads the store and the served state through Protocols of just
what it uses; it writes nothing but its own jobs' rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from typing import Protocol, TypeVar

from provisioner.notify import (
    NotifyTargetError,
    TargetEvent,
    TargetOutcome,
    TokenBucket,
    request_for,
)
from provisioner.serve._cache import PhoneEntry, TenantEntry
from provisioner.serve._db import Db
from provisioner.sip import NotifyOutcome, NotifyRequest
from provisioner.store import TargetRow

__all__ = ["AddressLookup", "JobQueue", "JobRunner", "Sender", "ServedState", "retryable"]

log = logging.getLogger("provisioner.notify")
_BACKOFF = 5.0  # seconds before the first retry; doubled for each further one
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

    def claim(self, tenant_id: int, limit: int, now: float, lease: float) -> list[TargetRow]: ...

    def finish(self, target_id: int, outcome: TargetOutcome, now: float) -> None: ...


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
        self._buckets: dict[int, TokenBucket] = {}
        self._in_flight: defaultdict[int, int] = defaultdict(int)
        self._tasks: dict[asyncio.Task[None], TargetRow] = {}  # sends in flight
        self._housekept = 0.0
        self._draining = False

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
        try:
            while True:
                wait = await self.step()
                if not self._wake.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
                self._wake.clear()
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
        due = [] if self._draining else await self._db(lambda: self.jobs.due_tenants(now))
        if not due:
            if self._tasks:
                return self._tick  # sends in flight: a retry may come due soon
            upcoming = await self._db(self.jobs.next_due)
            if upcoming is None:
                return self._idle
            return min(self._idle, max(upcoming - self._clock(), self._tick))
        await self.served.caught_up()  # files in place before any phone fetches them
        for tenant_id in due:
            await self._start(tenant_id, self._clock())
        return self._tick

    def _max_attempts(self, mac: str) -> int:
        """Sends a phone's target may take: the first and ``notify.retries`` more,
        as in :meth:`_send_now`. A phone gone from the cache gets no second one."""
        phone = self.served.macs.get(mac)
        return 1 if phone is None else phone.notify.retries + 1

    async def _start(self, tenant_id: int, now: float) -> None:
        tenant = self.served.tenants.get(tenant_id)
        if tenant is None:
            return  # deleted; its targets stay queued and are listed by `jobs`
        policy = tenant.policy
        bucket = self._buckets.get(tenant_id)
        if bucket is None:
            bucket = self._buckets[tenant_id] = TokenBucket(policy.notify_rate, now)
        bucket.rate = policy.notify_rate
        room = policy.notify_max_in_flight - self._in_flight[tenant_id]
        count = min(bucket.available(now), room)
        if count <= 0:
            return
        claimed = await self._db(lambda: self.jobs.claim(tenant_id, count, now, self._lease))
        bucket.take(len(claimed))
        for target in claimed:
            self._in_flight[tenant_id] += 1
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
        finally:
            self._in_flight[target.tenant_id] -= 1

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
        now = self._clock()
        await self._db(lambda: self.jobs.finish(target.id, outcome, now))


def _gave_up(status: int | None, reason: str) -> TargetOutcome:
    return TargetOutcome(TargetEvent.GAVE_UP, status, reason)

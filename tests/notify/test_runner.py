"""The job runner with a fake notifier and a fake clock: pacing, retries, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.scope import parse_scope
from provisioner.serve import JobRunner
from provisioner.sip import NotifyOutcome, NotifyRequest
from provisioner.store import JobRequest
from tests.serve.harness import Harness, harness

TENANT_SIZE = 40


class FakeNotifier:
    """Answers NOTIFYs with scripted outcomes and records what was sent, and when."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.sent: list[tuple[float, NotifyRequest]] = []
        self.script: dict[str, list[NotifyOutcome]] = {}
        self.hang: set[str] = set()  # users whose sends never end, as if the runner died

    async def send(self, request: NotifyRequest) -> NotifyOutcome:
        self.sent.append((self.clock[0], request))
        user = request.request_uri.split(":")[1].split("@")[0]
        if user in self.hang:
            await asyncio.Event().wait()
        scripted = self.script.get(user)
        if scripted:
            return scripted.pop(0)
        return NotifyOutcome(ok=True, status=200, reason="OK", transactions=1, elapsed=0.01)


def fleet() -> dict[str, object]:
    return {
        "tenants": [
            {
                "name": "acme",
                "sip_domain": "acme.example.com",
                "outbound_proxy": {"host": "127.0.0.1", "port": 5099},
                "settings": {
                    "notify.target": "proxy",
                    "notify.rate": 10,
                    "notify.max_in_flight": 5,
                    "notify.jitter_ms": 0,
                    "notify.delay_seconds": 1,
                    "notify.retries": 1,
                },
            }
        ],
        "phones": [
            {
                "tenant": "acme",
                "mac": f"0004f2{n:06x}",
                "model": "vvx410" if n % 2 else "t46s",
                "lines": [{"user": f"u{n}", "password": f"pw-{n}"}],
            }
            for n in range(TENANT_SIZE)
        ],
    }


@pytest.fixture
def setup(tmp_path: Path, catalog: Catalog) -> Iterator[tuple[Harness, FakeNotifier, JobRunner]]:
    with harness(tmp_path, catalog, fleet()) as h:
        notifier = FakeNotifier(h.clock)
        runner = JobRunner(
            jobs=h.store.jobs,
            addresses=h.store.addresses,
            served=h.cache,
            notifier=notifier,
            db=h.db,
            address_of=h.gateway.learned.current.get,
            clock=lambda: h.clock[0],
            jitter=lambda: 0.0,
        )
        yield h, notifier, runner


def advance(h: Harness, runner: JobRunner, seconds: float, step: float = 0.05) -> None:
    async def go() -> None:
        end = h.clock[0] + seconds
        while h.clock[0] < end:
            h.clock[0] += step
            await runner.step()
            await asyncio.sleep(0)  # let sends finish
            await asyncio.sleep(0)

    h.run(go())


def test_paced_at_the_tenant_rate(setup: tuple[Harness, FakeNotifier, JobRunner]) -> None:
    h, notifier, runner = setup
    phones = h.store.tenants.phones_for(tenant="acme")
    job = h.store.jobs.create(JobRequest("tenant acme", "resync", 1.0), phones, h.clock[0])
    advance(h, runner, 1.0)
    assert notifier.sent == []  # the regeneration delay
    advance(h, runner, 3.0)
    # 10 per second: about 30 in 3 s (a tenth of a second of burst allowed).
    assert 29 <= len(notifier.sent) <= 31
    advance(h, runner, 3.0)
    assert len(notifier.sent) == TENANT_SIZE
    first = notifier.sent[0][1]
    assert (first.host, first.port, first.request_uri) == (
        "127.0.0.1",
        5099,
        "sip:u0@acme.example.com",
    )
    assert first.event in ("check-sync", "check-sync;reboot=false")
    assert first.password == "pw-0"
    advance(h, runner, 1.5)
    (summary,) = h.store.jobs.summaries(job)
    assert summary.state == "done"
    assert summary.counts == {"ok": TENANT_SIZE}


def test_retry_then_fail_with_reason(setup: tuple[Harness, FakeNotifier, JobRunner]) -> None:
    h, notifier, runner = setup
    timeout = NotifyOutcome(ok=False, status=None, reason="timeout", transactions=1, elapsed=32.0)
    gone = NotifyOutcome(
        ok=False, status=481, reason="Call/Transaction Does Not Exist", transactions=1, elapsed=0.01
    )
    notifier.script["u0"] = [timeout, timeout]
    notifier.script["u2"] = [gone]
    phones = h.store.tenants.phones_for(macs=["0004f2000000", "0004f2000002", "0004f2000004"])
    job = h.store.jobs.create(JobRequest("three", "reboot", 0.0), phones, h.clock[0])
    advance(h, runner, 8.0)
    targets = {t.mac: t for t in h.store.jobs.targets(job)}
    assert (targets["0004f2000000"].state, targets["0004f2000000"].attempts) == ("failed", 2)
    assert targets["0004f2000000"].reason == "timeout"
    assert (targets["0004f2000002"].state, targets["0004f2000002"].status) == ("failed", 481)
    assert targets["0004f2000004"].state == "ok"
    reboots = {r.event for _, r in notifier.sent}
    assert "check-sync;reboot=true" in reboots  # the Yealink's reboot flavour


def test_direct_needs_a_known_address(setup: tuple[Harness, FakeNotifier, JobRunner]) -> None:
    h, notifier, runner = setup
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "notify.target", "direct")
    h.run(h.cache.refresh())
    phones = h.store.tenants.phones_for(macs=["0004f2000001", "0004f2000003"])
    h.gateway.learned.learn("0004f2000001", "10.0.0.7", "http", h.clock[0])
    job = h.store.jobs.create(JobRequest("two", "resync", 0), phones, h.clock[0])
    advance(h, runner, 1.0)
    targets = {t.mac: t for t in h.store.jobs.targets(job)}
    assert targets["0004f2000001"].state == "ok"
    assert "address is unknown" in targets["0004f2000003"].reason
    ((_, request),) = notifier.sent
    assert (request.host, request.port, request.request_uri) == (
        "10.0.0.7",
        5060,
        "sip:u1@10.0.0.7:5060",
    )


def test_interrupted_sends_count_against_the_phones_own_retries(
    setup: tuple[Harness, FakeNotifier, JobRunner],
) -> None:
    h, notifier, runner = setup
    # The tenant allows 1 retry; one phone is set to 3 of its own.
    Edits.of(h.store).settings.set(parse_scope("phone:0004f2000001"), "notify.retries", 3)
    h.run(h.cache.refresh())
    phones = h.store.tenants.phones_for(macs=["0004f2000001", "0004f2000003"])
    job = h.store.jobs.create(JobRequest("two", "resync", 0), phones, h.clock[0])
    notifier.hang = {"u1", "u3"}
    # Each stage runs 0.5 s, room for both at 10 per second.
    advance(h, runner, 0.5)  # both claimed, both sends stuck: their leases run out
    h.clock[0] += 121.0
    advance(h, runner, 0.5)  # reaped after 1 attempt: both sent again, both stuck again
    assert [t.attempts for t in h.store.jobs.targets(job)] == [2, 2]
    h.clock[0] += 121.0
    notifier.hang.clear()
    advance(h, runner, 0.5)  # after 2 attempts: the tenant's limit, not the phone's
    targets = {t.mac: t for t in h.store.jobs.targets(job)}
    assert (targets["0004f2000001"].state, targets["0004f2000001"].attempts) == ("ok", 3)
    assert (targets["0004f2000003"].state, targets["0004f2000003"].reason) == (
        "failed",
        "interrupted",
    )
    for task in asyncio.all_tasks(h.loop):  # the stuck sends
        task.cancel()
    h.run(asyncio.sleep(0))


def test_the_runner_sleeps_until_the_next_due_time(
    setup: tuple[Harness, FakeNotifier, JobRunner],
) -> None:
    """No 50 ms poll when nothing is due: until the next due time, or ``idle`` (2 s)."""
    h, _, runner = setup
    assert h.run(runner.step()) == 2.0  # nothing queued: the idle interval
    phones = h.store.tenants.phones_for(tenant="acme")[:1]
    h.store.jobs.create(JobRequest("one phone", "resync", 1.5), phones, h.clock[0])
    assert h.run(runner.step()) == pytest.approx(1.5)  # until the job's delay is over
    h.clock[0] += 1.5
    assert h.run(runner.step()) == 0.05  # due now: the tick, while it is worked on


def test_wake_starts_a_round_at_once(setup: tuple[Harness, FakeNotifier, JobRunner]) -> None:
    h, _, runner = setup
    rounds: list[float] = []
    round_done = asyncio.Event()
    step = runner.step

    async def counted() -> float:
        rounds.append(h.clock[0])
        round_done.set()
        return 60.0  # as if nothing were due for a minute

    runner.step = counted  # type: ignore[method-assign]

    async def go() -> None:
        task = asyncio.create_task(runner.run())
        await round_done.wait()
        round_done.clear()
        runner.wake()
        await round_done.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    h.run(asyncio.wait_for(go(), 10))
    assert len(rounds) == 2  # the second round came from wake(), not a timer
    runner.step = step  # type: ignore[method-assign]

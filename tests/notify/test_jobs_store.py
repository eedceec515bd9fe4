"""Send-profiles jobs in the store (SQLite and PostgreSQL): coalescing, claims, leases."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from provisioner.edits import Edits
from provisioner.errors import InputError
from provisioner.notify import TargetEvent, TargetOutcome
from provisioner.state import LineState
from provisioner.store import JobRequest, Store

MACS = ["0004f2000001", "0004f2000002", "0004f2000003"]


def reap(store: Store, now: float, allowed: Callable[[str], int]) -> None:
    """Housekeeping as the runner does it: expired targets judged by ``allowed(mac)``."""
    verdicts = {e.id: e.attempts < allowed(e.mac) for e in store.jobs.expired(now)}
    store.jobs.reap(now, verdicts)


@pytest.fixture
def fleet(store: Store) -> tuple[Store, int]:
    Edits.of(store).tenants.add("acme", "acme.example.com")
    for mac in MACS:
        Edits.of(store).phones.add("acme", mac, "vvx410")
        Edits.of(store).lines.add(mac, LineState(0, mac[-3:], password="pw"))
    (tenant_id,) = {tid for _, tid in store.tenants.phones_for(tenant="acme")}
    return store, tenant_id


def test_selectors(fleet: tuple[Store, int]) -> None:
    store, tid = fleet
    Edits.of(store).groups.add("acme", "g")
    Edits.of(store).phones.update(MACS[1], groups=["g"])
    Edits.of(store).phones.update(MACS[2], enabled=False)
    assert store.tenants.phones_for(tenant="acme") == [(MACS[0], tid), (MACS[1], tid)]
    assert store.tenants.phones_for(group=("acme", "g")) == [(MACS[1], tid)]
    with pytest.raises(InputError, match="unknown model"):
        store.tenants.phones_for(model="vvx9999")
    assert store.tenants.phones_for(model="vvx410") == [(MACS[0], tid), (MACS[1], tid)]
    assert store.tenants.phones_for(macs=[MACS[0], "0004f2999999"]) == [(MACS[0], tid)]


def test_claims_are_paced_by_the_caller_and_leased(fleet: tuple[Store, int]) -> None:
    store, tid = fleet
    job = store.jobs.create(
        JobRequest("tenant acme", "resync", 2.0), [(m, tid) for m in MACS], 100.0
    )
    assert store.jobs.due_tenants(101.0) == []  # not before the delay
    assert store.jobs.due_tenants(102.0) == [tid]
    first = store.jobs.claim(tid, 2, 102.0, lease=60.0)
    assert [(t.mac, t.state, t.attempts) for t in first] == [
        (MACS[0], "sending", 1),
        (MACS[1], "sending", 1),
    ]
    assert [t.mac for t in store.jobs.claim(tid, 5, 102.0, lease=60.0)] == [MACS[2]]
    assert store.jobs.claim(tid, 5, 102.0, lease=60.0) == []
    store.jobs.finish(first[0].id, TargetOutcome(TargetEvent.ANSWERED, 200), now=103.0)
    store.jobs.finish(first[1].id, TargetOutcome(TargetEvent.GAVE_UP, 481, "gone"), now=103.0)
    # The third one's runner died: after its lease the target is queued again
    # (2 attempts allowed), then, when that attempt dies too, failed.
    reap(store, 200.0, lambda mac: 2)
    (again,) = store.jobs.claim(tid, 5, 200.0, lease=60.0)
    assert (again.mac, again.attempts) == (MACS[2], 2)
    reap(store, 300.0, lambda mac: 2)
    (summary,) = store.jobs.summaries(job)
    assert summary.state == "done"
    assert summary.counts == {"ok": 1, "failed": 2}
    states = {t.mac: (t.state, t.reason) for t in store.jobs.targets(job)}
    assert states[MACS[2]] == ("failed", "interrupted")


def test_expired_leases_are_judged_by_each_phones_attempts(fleet: tuple[Store, int]) -> None:
    store, tid = fleet
    job = store.jobs.create(JobRequest("all", "resync", 0.0), [(m, tid) for m in MACS], 100.0)
    claimed = store.jobs.claim(tid, 3, 100.0, lease=60.0)
    store.jobs.finish(claimed[2].id, TargetOutcome(TargetEvent.ANSWERED, 200), now=101.0)
    # Both remaining runners died. The first phone may be sent to twice, the
    # second only once; the finished third one is left as it was.
    allowed = {MACS[0]: 2, MACS[1]: 1, MACS[2]: 1}
    reap(store, 200.0, allowed.__getitem__)
    states = {t.mac: (t.state, t.reason) for t in store.jobs.targets(job)}
    assert states == {
        MACS[0]: ("queued", "interrupted; sending again"),
        MACS[1]: ("failed", "interrupted"),
        MACS[2]: ("ok", ""),
    }


def test_coalescing_and_upgrade_to_reboot(fleet: tuple[Store, int]) -> None:
    store, tid = fleet
    first = store.jobs.create(JobRequest("a", "resync", 0.0), [(MACS[0], tid)], 1.0)
    second = store.jobs.create(
        JobRequest("b", "reboot", 0.0), [(MACS[0], tid), (MACS[1], tid)], 2.0
    )
    one = {t.mac: t for t in store.jobs.targets(first)}
    two = {t.mac: t for t in store.jobs.targets(second)}
    assert (one[MACS[0]].state, one[MACS[0]].event) == ("queued", "reboot")
    assert two[MACS[0]].state == "coalesced"
    assert two[MACS[1]].state == "queued"


def test_cancel(fleet: tuple[Store, int]) -> None:
    store, tid = fleet
    job = store.jobs.create(JobRequest("a", "resync", 0.0), [(m, tid) for m in MACS], 1.0)
    store.jobs.claim(tid, 1, 1.0, lease=60.0)
    store.jobs.cancel(job, 2.0)
    assert sorted(t.state for t in store.jobs.targets(job)) == ["cancelled", "cancelled", "sending"]
    assert store.jobs.due_tenants(3.0) == []
    assert store.jobs.summaries(job)[0].state == "cancelled"


def test_confirmation_from_seen_records(fleet: tuple[Store, int]) -> None:
    from provisioner.store import SeenRow

    store, tid = fleet
    job = store.jobs.create(JobRequest("a", "resync", 0.0), [(m, tid) for m in MACS[:2]], 1000.0)
    a, b = store.jobs.claim(tid, 2, 1000.0, lease=60.0)
    answered = TargetOutcome(TargetEvent.ANSWERED, 200, confirm_until=1060.0)
    store.jobs.finish(a.id, answered, now=1000.0)
    store.jobs.finish(b.id, answered, now=1000.0)
    store.seen.record(
        [
            SeenRow(
                a.mac,
                a.mac,
                "10.0.0.1",
                "http",
                f"{a.mac}.cfg",
                "",
                "",
                "",
                "",
                "ok",
                True,
                1,
                1005,
                1005,
            )
        ],
        max_rows=100,
    )
    reap(store, 1010.0, lambda mac: 3)
    assert store.jobs.summaries(job)[0].state == "running"  # b still inside its window
    reap(store, 1061.0, lambda mac: 3)
    states = {t.mac: t.state for t in store.jobs.targets(job)}
    assert states == {a.mac: "confirmed", b.mac: "unconfirmed"}
    assert store.jobs.summaries(job)[0].state == "done"


def test_a_target_left_queued_in_a_cancelled_job_is_not_coalesced_into(
    fleet: tuple[Store, int],
) -> None:
    """A target being sent when its job was cancelled may be queued again
    (retry, or its lease expired) but is never sent: a new job must not
    coalesce its phone into it."""
    store, tid = fleet
    old = store.jobs.create(JobRequest("a", "resync", 0.0), [(MACS[0], tid)], 1.0)
    (sending,) = store.jobs.claim(tid, 1, 1.0, lease=60.0)
    store.jobs.cancel(old, 2.0)
    store.jobs.finish(sending.id, TargetOutcome(TargetEvent.RETRY, 503, "busy", 10.0), now=3.0)
    new = store.jobs.create(JobRequest("b", "resync", 0.0), [(MACS[0], tid)], 4.0)
    (target,) = store.jobs.targets(new)
    assert target.state == "queued"
    assert [t.id for t in store.jobs.claim(tid, 5, 4.0, lease=60.0)] == [target.id]


def _outcome() -> TargetOutcome:
    return TargetOutcome(TargetEvent.ANSWERED, 200)


def test_paced_claims_share_one_bucket_per_tenant(fleet: tuple[Store, int]) -> None:
    """Two runners (nodes) claiming with the same store take one rate between them."""
    store, tid = fleet
    many = [(f"0004f21{n:05x}", tid) for n in range(40)]
    store.jobs.create(JobRequest("many", "resync", 0.0), many, 100.0)
    # A new bucket starts empty: nothing at once, then 10 per second.
    assert store.jobs.claim_paced(tid, 10.0, 100, 100.0, lease=60.0) == []
    node1 = store.jobs.claim_paced(tid, 10.0, 100, 100.5, lease=60.0)
    node2 = store.jobs.claim_paced(tid, 10.0, 100, 100.5, lease=60.0)
    assert (len(node1), len(node2)) == (5, 0)
    node2 = store.jobs.claim_paced(tid, 10.0, 100, 100.8, lease=60.0)
    assert len(node2) == 3
    # Idle for a long time: a second's worth at most (the burst).
    assert len(store.jobs.claim_paced(tid, 10.0, 100, 200.0, lease=60.0)) == 10


def test_paced_claims_count_targets_in_flight_on_every_node(fleet: tuple[Store, int]) -> None:
    store, tid = fleet
    many = [(f"0004f21{n:05x}", tid) for n in range(20)]
    store.jobs.create(JobRequest("many", "resync", 0.0), many, 100.0)
    assert store.jobs.claim_paced(tid, 100.0, 4, 100.0, lease=60.0) == []  # the bucket starts
    taken = store.jobs.claim_paced(tid, 100.0, 4, 101.0, lease=60.0)
    assert len(taken) == 4  # the in-flight limit, not the 100 tokens
    assert store.jobs.claim_paced(tid, 100.0, 4, 101.5, lease=60.0) == []
    store.jobs.finish_many([(taken[0].id, _outcome(), 101.6), (taken[1].id, _outcome(), 101.6)])
    assert len(store.jobs.claim_paced(tid, 100.0, 4, 101.7, lease=60.0)) == 2
    # A dead node's targets stop counting once their lease ran out.
    assert len(store.jobs.claim_paced(tid, 100.0, 4, 162.0, lease=60.0)) == 4

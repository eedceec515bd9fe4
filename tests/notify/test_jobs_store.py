"""Send-profiles jobs in the store (SQLite and PostgreSQL): coalescing, claims, leases."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from provisioner.errors import InputError
from provisioner.notify import TargetEvent, TargetOutcome
from provisioner.state import LineState
from provisioner.store import Store

MACS = ["0004f2000001", "0004f2000002", "0004f2000003"]


def reap(store: Store, now: float, allowed: Callable[[str], int]) -> None:
    """Housekeeping as the runner does it: expired targets judged by ``allowed(mac)``."""
    verdicts = {e.id: e.attempts < allowed(e.mac) for e in store.expired_targets(now)}
    store.reap_jobs(now, verdicts)


@pytest.fixture
def fleet(store: Store) -> tuple[Store, int]:
    store.add_tenant("acme", "acme.example.com")
    for mac in MACS:
        store.add_phone("acme", mac, "vvx410")
        store.add_line(mac, LineState(0, mac[-3:], password="pw"))
    (tenant_id,) = {tid for _, tid in store.phones_for(tenant="acme")}
    return store, tenant_id


def test_selectors(fleet: tuple[Store, int]) -> None:
    store, tid = fleet
    store.add_group("acme", "g")
    store.update_phone(MACS[1], groups=["g"])
    store.update_phone(MACS[2], enabled=False)
    assert store.phones_for(tenant="acme") == [(MACS[0], tid), (MACS[1], tid)]
    assert store.phones_for(group=("acme", "g")) == [(MACS[1], tid)]
    with pytest.raises(InputError, match="unknown model"):
        store.phones_for(model="polycomvvx410")
    assert store.phones_for(model="vvx410") == [(MACS[0], tid), (MACS[1], tid)]
    assert store.phones_for(macs=[MACS[0], "0004f2999999"]) == [(MACS[0], tid)]


def test_claims_are_paced_by_the_caller_and_leased(fleet: tuple[Store, int]) -> None:
    store, tid = fleet
    job = store.create_job(
        selector="tenant acme",
        event="resync",
        phones=[(m, tid) for m in MACS],
        now=100.0,
        delay=2.0,
    )
    assert store.due_tenants(101.0) == []  # not before the delay
    assert store.due_tenants(102.0) == [tid]
    first = store.claim_targets(tid, 2, 102.0, lease=60.0)
    assert [(t.mac, t.state, t.attempts) for t in first] == [
        (MACS[0], "sending", 1),
        (MACS[1], "sending", 1),
    ]
    assert [t.mac for t in store.claim_targets(tid, 5, 102.0, lease=60.0)] == [MACS[2]]
    assert store.claim_targets(tid, 5, 102.0, lease=60.0) == []
    store.finish_target(first[0].id, TargetOutcome(TargetEvent.ANSWERED, 200), now=103.0)
    store.finish_target(first[1].id, TargetOutcome(TargetEvent.GAVE_UP, 481, "gone"), now=103.0)
    # The third one's runner died: after its lease the target is queued again
    # (2 attempts allowed), then, when that attempt dies too, failed.
    reap(store, 200.0, lambda mac: 2)
    (again,) = store.claim_targets(tid, 5, 200.0, lease=60.0)
    assert (again.mac, again.attempts) == (MACS[2], 2)
    reap(store, 300.0, lambda mac: 2)
    (summary,) = store.jobs(job)
    assert summary.state == "done"
    assert summary.counts == {"ok": 1, "failed": 2}
    states = {t.mac: (t.state, t.reason) for t in store.job_targets(job)}
    assert states[MACS[2]] == ("failed", "interrupted")


def test_expired_leases_are_judged_by_each_phones_attempts(fleet: tuple[Store, int]) -> None:
    store, tid = fleet
    job = store.create_job(
        selector="all", event="resync", phones=[(m, tid) for m in MACS], now=100.0, delay=0.0
    )
    claimed = store.claim_targets(tid, 3, 100.0, lease=60.0)
    store.finish_target(claimed[2].id, TargetOutcome(TargetEvent.ANSWERED, 200), now=101.0)
    # Both remaining runners died. The first phone may be sent to twice, the
    # second only once; the finished third one is left as it was.
    allowed = {MACS[0]: 2, MACS[1]: 1, MACS[2]: 1}
    reap(store, 200.0, allowed.__getitem__)
    states = {t.mac: (t.state, t.reason) for t in store.job_targets(job)}
    assert states == {
        MACS[0]: ("queued", "interrupted; sending again"),
        MACS[1]: ("failed", "interrupted"),
        MACS[2]: ("ok", ""),
    }


def test_coalescing_and_upgrade_to_reboot(fleet: tuple[Store, int]) -> None:
    store, tid = fleet
    first = store.create_job(
        selector="a", event="resync", phones=[(MACS[0], tid)], now=1.0, delay=0.0
    )
    second = store.create_job(
        selector="b", event="reboot", phones=[(MACS[0], tid), (MACS[1], tid)], now=2.0, delay=0.0
    )
    one = {t.mac: t for t in store.job_targets(first)}
    two = {t.mac: t for t in store.job_targets(second)}
    assert (one[MACS[0]].state, one[MACS[0]].event) == ("queued", "reboot")
    assert two[MACS[0]].state == "coalesced"
    assert two[MACS[1]].state == "queued"


def test_cancel(fleet: tuple[Store, int]) -> None:
    store, tid = fleet
    job = store.create_job(
        selector="a", event="resync", phones=[(m, tid) for m in MACS], now=1.0, delay=0.0
    )
    store.claim_targets(tid, 1, 1.0, lease=60.0)
    store.cancel_job(job, 2.0)
    assert sorted(t.state for t in store.job_targets(job)) == ["cancelled", "cancelled", "sending"]
    assert store.due_tenants(3.0) == []
    assert store.jobs(job)[0].state == "cancelled"


def test_confirmation_from_seen_records(fleet: tuple[Store, int]) -> None:
    from provisioner.store import SeenRow

    store, tid = fleet
    job = store.create_job(
        selector="a", event="resync", phones=[(m, tid) for m in MACS[:2]], now=1000.0, delay=0.0
    )
    a, b = store.claim_targets(tid, 2, 1000.0, lease=60.0)
    answered = TargetOutcome(TargetEvent.ANSWERED, 200, confirm_until=1060.0)
    store.finish_target(a.id, answered, now=1000.0)
    store.finish_target(b.id, answered, now=1000.0)
    store.record_seen(
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
    assert store.jobs(job)[0].state == "running"  # b still inside its window
    reap(store, 1061.0, lambda mac: 3)
    states = {t.mac: t.state for t in store.job_targets(job)}
    assert states == {a.mac: "confirmed", b.mac: "unconfirmed"}
    assert store.jobs(job)[0].state == "done"


def test_a_target_left_queued_in_a_cancelled_job_is_not_coalesced_into(
    fleet: tuple[Store, int],
) -> None:
    """A target being sent when its job was cancelled may be queued again
    (retry, or its lease expired) but is never sent: a new job must not
    coalesce its phone into it."""
    store, tid = fleet
    old = store.create_job(
        selector="a", event="resync", phones=[(MACS[0], tid)], now=1.0, delay=0.0
    )
    (sending,) = store.claim_targets(tid, 1, 1.0, lease=60.0)
    store.cancel_job(old, 2.0)
    store.finish_target(sending.id, TargetOutcome(TargetEvent.RETRY, 503, "busy", 10.0), now=3.0)
    new = store.create_job(
        selector="b", event="resync", phones=[(MACS[0], tid)], now=4.0, delay=0.0
    )
    (target,) = store.job_targets(new)
    assert target.state == "queued"
    assert [t.id for t in store.claim_targets(tid, 5, 4.0, lease=60.0)] == [target.id]

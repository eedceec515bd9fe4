"""Rollouts in the store (SQLite and PostgreSQL): start, waves pinned atomically, halt, rollback."""

from __future__ import annotations

import pytest

from provisioner.catalog import Catalog
from provisioner.domain import FirmwareFile, FirmwareSet
from provisioner.edits import Edits
from provisioner.errors import InputError, NotFoundError
from provisioner.firmware import Decision, Plan, RolloutPhoneState
from provisioner.resolve import Resolver
from provisioner.rollouts import keep_rollout_pins, rollback, start_rollout, wave_reboot
from provisioner.scope import parse_scope
from provisioner.state import GroupState, PhoneState, TenantState
from provisioner.store import SeenRow, Store

MACS = [f"805ec000000{i}" for i in range(5)]
POLY = "0004f2000009"


def record_set(store: Store, label: str, version: str = "66.86.0.20", active: bool = True) -> None:
    files = (FirmwareFile("T46S(T48S,T42S,T41S)-66.86.0.20.rom", 1, "0" * 64),)
    store.firmware.add(
        FirmwareSet(
            0,
            "yealink",
            label,
            "firmware",
            "",
            version,
            False,
            label * 4,
            "x.zip",
            "0" * 64,
            1,
            0.0,
            files,
        )
    )
    if active:
        store.firmware.set_active("yealink", label, True)


@pytest.fixture
def fleet(store: Store) -> Store:
    tenant = TenantState("acme", "acme.example.com", settings={"firmware.label": "old"})
    tenant.groups["pilot"] = GroupState("pilot")
    for i, mac in enumerate(MACS):
        model = "t54w" if i == 4 else "t46s"  # the set has no T54W image
        tenant.phones[mac] = PhoneState(mac, model, groups=["pilot"])
    tenant.phones[MACS[1]].settings["firmware.label"] = "mine"  # a phone-scope pin before
    tenant.phones[POLY] = PhoneState(POLY, "vvx410", groups=["pilot"])  # another vendor
    store.tenants.apply([tenant])
    record_set(store, "new")
    return store


def start(store: Store, catalog: Catalog, **kwargs: object) -> int:
    args: dict[str, object] = {
        "vendor": "yealink",
        "label": "new",
        "selector": "group acme/pilot",
        "phones": store.tenants.phones_for(group=("acme", "pilot")),
        "plan": Plan(1, 2.0, 1.0, 60.0),
        "now": 100.0,
    }
    args.update(kwargs)
    return start_rollout(store, catalog, **args)  # type: ignore[arg-type]


def labels(store: Store, catalog: Catalog) -> dict[str, object]:
    snapshot = store.tenants.snapshot()
    resolver = Resolver(catalog, snapshot)
    return {
        p.mac: resolver.phone(p).settings["firmware.label"].value for p in snapshot.phones.values()
    }


def test_start_orders_skips_and_leaves_other_vendors_out(fleet: Store, catalog: Catalog) -> None:
    rollout = start(fleet, catalog, first=[MACS[3]])
    (record,) = fleet.rollouts.records(rollout)
    assert (record.state, record.wave, record.wave_started_at) == ("running", -1, None)
    assert [(p.mac, p.state) for p in record.phones] == [
        (MACS[3], "pending"),
        (MACS[0], "pending"),
        (MACS[1], "pending"),
        (MACS[2], "pending"),
        (MACS[4], "skipped"),
    ]
    assert record.phones[-1].reason == "the set has no image for t54w"
    # Nothing is pinned before the runner starts the first wave.
    assert labels(fleet, catalog)[MACS[3]] == "old"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no yealink firmware set labelled 'nope'"),
        ("inactive", "is not active"),
        ("versionless", "has no version"),
    ],
)
def test_start_refusals(fleet: Store, catalog: Catalog, setup: str, message: str) -> None:
    label = {"missing": "nope", "inactive": "idle", "versionless": "nover"}[setup]
    if setup == "inactive":
        record_set(fleet, "idle", active=False)
    if setup == "versionless":
        record_set(fleet, "nover", version="")
    with pytest.raises((InputError, NotFoundError), match=message):
        start(fleet, catalog, label=label)


def test_a_phone_is_in_one_running_rollout_at_most(fleet: Store, catalog: Catalog) -> None:
    first = start(fleet, catalog)
    with pytest.raises(InputError, match=f"is in running rollout {first}"):
        start(fleet, catalog)
    fleet.rollouts.halt(first, "by hand")
    start(fleet, catalog)


def test_a_locked_label_is_skipped(store: Store, catalog: Catalog) -> None:
    tenant = TenantState(
        "acme", "acme.example.com", settings={"firmware.label": "old"}, locked={"firmware.label"}
    )
    tenant.phones[MACS[0]] = PhoneState(MACS[0], "t46s")
    store.tenants.apply([tenant])
    record_set(store, "new")
    rollout = start(
        store, catalog, phones=store.tenants.phones_for(tenant="acme"), selector="tenant acme"
    )
    (record,) = store.rollouts.records(rollout)
    assert record.phones[0].state == "skipped"
    assert record.phones[0].reason == "firmware.label is locked at tenant acme (locked)"


def wave(macs: list[str], number: int) -> Decision:
    return Decision(
        updates=dict.fromkeys(macs, (RolloutPhoneState.WAITING, "", "")),
        start_wave=number,
        wave_macs=tuple(macs),
    )


def test_a_wave_pins_and_queues_reboots_in_one_transaction(fleet: Store, catalog: Catalog) -> None:
    rollout = start(fleet, catalog)
    revisions = fleet.tenants.revisions()
    pinned = fleet.rollouts.apply_decision(
        rollout, "new", wave([MACS[0], MACS[1]], 0), 200.0, wave_reboot(rollout, 0, 5.0)
    )
    assert pinned is not None
    assert sorted(m for m, _ in pinned) == [MACS[0], MACS[1]]
    assert labels(fleet, catalog)[MACS[0]] == "new"
    assert labels(fleet, catalog)[MACS[2]] == "old"
    assert all(fleet.tenants.revisions()[t] > r for t, r in revisions.items())
    (record,) = fleet.rollouts.records(rollout)
    assert (record.wave, record.wave_started_at) == (0, 200.0)
    by_mac = {p.mac: p for p in record.phones}
    assert (by_mac[MACS[0]].previous, by_mac[MACS[1]].previous) == (None, "mine")
    (job,) = fleet.jobs.summaries()
    assert (job.selector, job.event, job.total) == (f"rollout {rollout} wave 1", "reboot", 2)
    targets = fleet.jobs.targets(job.id)
    assert all(t.state == "queued" for t in targets)


def test_nothing_is_written_once_halted(fleet: Store, catalog: Catalog) -> None:
    rollout = start(fleet, catalog)
    fleet.rollouts.halt(rollout, "by hand")
    assert (
        fleet.rollouts.apply_decision(
            rollout, "new", wave([MACS[0]], 0), 200.0, wave_reboot(rollout, 0, 0.0)
        )
        is None
    )
    assert labels(fleet, catalog)[MACS[0]] == "old"
    assert fleet.jobs.summaries() == []
    with pytest.raises(NotFoundError, match=f"no running rollout {rollout}"):
        fleet.rollouts.halt(rollout, "again")


def test_rollback_restores_previous_labels(fleet: Store, catalog: Catalog) -> None:
    rollout = start(fleet, catalog)
    fleet.rollouts.apply_decision(
        rollout, "new", wave([MACS[0], MACS[1], MACS[2]], 0), 200.0, wave_reboot(rollout, 0, 0.0)
    )
    # An admin moves one pinned phone elsewhere afterwards: rollback leaves it alone.
    Edits.of(fleet).settings.set(parse_scope(f"phone:{MACS[2]}"), "firmware.label", "elsewhere")
    reboot = rollback(fleet, catalog, rollout, now=300.0)
    assert sorted(m for m, _ in reboot) == [MACS[0], MACS[1]]
    assert labels(fleet, catalog) == {
        MACS[0]: "old",  # inherited again from the tenant
        MACS[1]: "mine",  # its own pin from before
        MACS[2]: "elsewhere",
        MACS[3]: "old",
        MACS[4]: "old",
        POLY: "old",
    }
    (record,) = fleet.rollouts.records(rollout)
    assert record.state == "rolled_back"
    states = {p.mac: (p.state, p.reason) for p in record.phones}
    assert states[MACS[0]] == ("restored", "back on its inherited label")
    assert states[MACS[1]] == ("restored", "back on mine")
    assert states[MACS[2]][1] == "left alone: its label was changed after its wave"
    jobs = fleet.jobs.summaries()
    assert jobs[0].selector == f"rollback of rollout {rollout}"
    assert jobs[0].total == 2
    with pytest.raises(InputError, match="already rolled back"):
        rollback(fleet, catalog, rollout)


def test_reports_are_the_newest_firmware_per_phone(fleet: Store) -> None:
    def row(path: str, firmware: str, at: int) -> SeenRow:
        return SeenRow(
            MACS[0],
            MACS[0],
            "10.0.0.5",
            "http",
            path,
            "ua",
            "yealink",
            "t46s",
            firmware,
            "ok",
            True,
            1,
            at,
            at,
        )

    fleet.seen.record(
        [row("a.cfg", "66.85.0.5", 10), row("b.cfg", "66.86.0.20", 20), row("c", "", 30)], 1000
    )
    assert fleet.rollouts.firmware_reports([MACS[0], MACS[1]]) == {MACS[0]: ("66.86.0.20", 20)}


def test_reapplying_a_fleet_file_keeps_the_pins_of_a_rollout(
    fleet: Store, catalog: Catalog
) -> None:
    # The case: the file the fleet came from, applied again mid-rollout,
    # used to remove the wave's phone-scope pins without a word.
    file = fleet.tenants.all_states()  # as the admin's file has it: no pins yet
    rollout = start(fleet, catalog)
    fleet.rollouts.apply_decision(
        rollout, "new", wave([MACS[0], MACS[1], MACS[2]], 0), 200.0, wave_reboot(rollout, 0, 0.0)
    )
    Edits.of(fleet).settings.set(parse_scope(f"phone:{MACS[2]}"), "firmware.label", "by-hand")
    (acme,) = file
    acme.phones[MACS[1]].settings["firmware.label"] = "mine"  # the file's own label for it
    notes = keep_rollout_pins(fleet, file)
    fleet.tenants.apply(file)
    assert notes == [
        f"phone {MACS[0]}: firmware.label new kept, pinned by rollout {rollout} (the file does "
        f"not set it; `provisioner rollout rollback {rollout}` or a label in the file changes it)",
        f"phone {MACS[1]}: firmware.label mine from the file replaces new, pinned by rollout "
        f"{rollout}",
    ]
    current = labels(fleet, catalog)
    assert (current[MACS[0]], current[MACS[1]], current[MACS[2]]) == ("new", "mine", "old")
    assert current[MACS[3]] == "old"  # not in a wave yet: nothing to keep
    # The kept pin is still the rollout's: a rollback restores it.
    assert [m for m, _ in rollback(fleet, catalog, rollout, now=300.0)] == [MACS[0]]
    assert labels(fleet, catalog)[MACS[0]] == "old"
    assert keep_rollout_pins(fleet, fleet.tenants.all_states()) == []  # rolled back: no pins


def test_a_lock_the_file_puts_above_a_pin_wins_and_says_so(fleet: Store, catalog: Catalog) -> None:
    file = fleet.tenants.all_states()
    rollout = start(fleet, catalog)
    fleet.rollouts.apply_decision(
        rollout, "new", wave([MACS[0]], 0), 200.0, wave_reboot(rollout, 0, 0.0)
    )
    (acme,) = file
    acme.groups["pilot"].settings["firmware.label"] = "frozen"
    acme.groups["pilot"].locked.add("firmware.label")
    acme.phones[MACS[1]].settings.pop("firmware.label")  # its own pin would break the lock
    assert keep_rollout_pins(fleet, file) == [
        f"phone {MACS[0]}: firmware.label new, pinned by rollout {rollout}, removed: the file "
        "locks firmware.label at group acme/pilot"
    ]
    fleet.tenants.apply(file)
    assert labels(fleet, catalog)[MACS[0]] == "frozen"

"""Single writes check what they touch (issue 12): the same refusals, with the same messages.

A single edit validates only the entities it changed (and those a
tenant-wide rule reaches: the tenant's locks, a group's locks or
existence); ``apply`` validates the whole tenant. Each bad edit here is
refused by the edit path, and the same resulting state given to ``apply``
is refused with the same problems, on SQLite and PostgreSQL. A property
test holds :func:`check_change` to the whole-tenant difference it replaces.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.catalog import Catalog
from provisioner.check import check_change, check_tenant
from provisioner.edits import Edits
from provisioner.errors import Problem, ValidationFailed
from provisioner.scope import parse_scope
from provisioner.settings import Value, parse_keys
from provisioner.state import GroupState, LineState, PhoneState, TenantState, copy_tenant
from provisioner.store import Store

MACS = [f"0004f2aabb{i:02x}" for i in range(6)]
PHONE = MACS[0]
OTHER = MACS[3]


@pytest.fixture
def acme(store: Store) -> Store:
    """A tenant of six phones in two groups, each with a line; nothing wrong in it."""
    edits = Edits.of(store)
    edits.tenants.add("acme", "acme.example.com")
    edits.groups.add("acme", "sales", weight=5)
    edits.groups.add("acme", "support", weight=1)
    for i, mac in enumerate(MACS):
        edits.phones.add("acme", mac, "polycom335", groups=["sales" if i % 2 else "support"])
        edits.lines.add(mac, LineState(0, f"20{i}", password="pw"))
    edits.settings.set(parse_scope("tenant:acme"), "time.zone", "Europe/Berlin", lock=True)
    edits.settings.set(parse_scope("group:acme/support"), "mwi.subscribe", True, lock=True)
    edits.settings.set(parse_scope(f"phone:{OTHER}"), "language", "de")
    edits.settings.set(parse_scope(f"phone:{OTHER}"), "mwi.subscribe", False)
    edits.settings.set(parse_scope(f"phone:{OTHER}"), "codecs", ["g722", "pcmu"])
    return store


Edit = Callable[[Edits], object]
Mutation = Callable[[TenantState], None]


def _lock(holder: Callable[[TenantState], TenantState | GroupState]) -> Mutation:
    def mutate(state: TenantState) -> None:
        target = holder(state)
        target.settings["language"] = "fr"
        target.locked.add("language")

    return mutate


CASES: list[tuple[str, Edit, Mutation, list[str]]] = [
    (
        "a value locked at the tenant, set on a phone",
        lambda e: e.settings.set(parse_scope(f"phone:{PHONE}"), "time.zone", "UTC"),
        lambda s: s.phones[PHONE].settings.update({"time.zone": "UTC"}),
        [
            f"phone:{PHONE}: setting time.zone is locked at tenant:acme; unlock it there or remove "
            "this value"
        ],
    ),
    (
        "locking at the tenant a value an untouched phone sets (tenant-wide)",
        lambda e: e.settings.set(parse_scope("tenant:acme"), "language", "fr", lock=True),
        _lock(lambda s: s),
        [
            f"phone:{OTHER}: setting language is locked at tenant:acme; unlock it there or remove "
            "this value"
        ],
    ),
    (
        "locking at a group a value a member sets",
        lambda e: e.settings.set(parse_scope("group:acme/sales"), "language", "fr", lock=True),
        _lock(lambda s: s.groups["sales"]),
        [
            f"phone:{OTHER}: setting language is locked at group:acme/sales; unlock it there or "
            "remove this value"
        ],
    ),
    (
        "a phone joining a group whose lock hides its value",
        lambda e: e.phones.update(OTHER, groups=["sales", "support"]),
        lambda s: setattr(s.phones[OTHER], "groups", ["sales", "support"]),
        [
            f"phone:{OTHER}: setting mwi.subscribe is locked at group:acme/support; unlock it "
            "there or remove this value"
        ],
    ),
    (
        "a phone in an unknown group",
        lambda e: e.phones.update(PHONE, groups=["nosuch"]),
        lambda s: setattr(s.phones[PHONE], "groups", ["nosuch"]),
        [f"phone:{PHONE}: unknown group 'nosuch' in tenant acme"],
    ),
    (
        "a new phone in an unknown group",
        lambda e: e.phones.add("acme", "0004f2ccddee", "polycom335", groups=["nosuch"]),
        lambda s: s.phones.update(
            {"0004f2ccddee": PhoneState("0004f2ccddee", "polycom335", groups=["nosuch"])}
        ),
        ["phone:0004f2ccddee: unknown group 'nosuch' in tenant acme"],
    ),
    (
        "a codec the phones' model lacks, set on the tenant (phones with their own list pass)",
        lambda e: e.settings.set(parse_scope("tenant:acme"), "codecs", ["opus", "pcmu"]),
        lambda s: s.settings.update({"codecs": ("opus", "pcmu")}),
        [
            f"phone:{mac}: setting codecs from tenant:acme: opus is not available on a Polycom "
            "SoundPoint IP 335; it takes pcmu, pcma, g722, g729"
            for mac in MACS
            if mac != OTHER
        ],
    ),
    (
        "codecs the phones' model lacks, set on a group",
        lambda e: e.settings.set(parse_scope("group:acme/sales"), "codecs", ["ilbc", "g726"]),
        lambda s: s.groups["sales"].settings.update({"codecs": ("ilbc", "g726")}),
        [
            f"phone:{mac}: setting codecs from group:acme/sales: ilbc, g726 are not available on "
            "a Polycom SoundPoint IP 335; it takes pcmu, pcma, g722, g729"
            for mac in MACS[1::2]
            if mac != OTHER
        ],
    ),
    (
        "a phone with codecs changed to a model that cannot express them",
        lambda e: e.phones.update(OTHER, model="cp7960"),
        lambda s: setattr(s.phones[OTHER], "model", "cp7960"),
        [
            f"phone:{OTHER}: setting codecs from phone:{OTHER}: g722, pcmu are not available on "
            "a Cisco IP Phone 7960G (SIP) (the firmware takes one preferred codec "
            "(preferred_codec), not an ordered list, and cannot turn codecs off; set "
            "raw.cisco79xx.preferred_codec instead)"
        ],
    ),
    (
        "a line setting that is per phone only",
        lambda e: e.settings.set(parse_scope(f"line:{PHONE}/1"), "language", "de"),
        lambda s: s.phones[PHONE].lines[0].settings.update({"language": "de"}),
        [f"line:{PHONE}/1: setting language cannot be set per line (set it on the phone)"],
    ),
]


@pytest.mark.parametrize(("edit", "mutate", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_a_bad_edit_is_refused_as_apply_refuses_it(
    acme: Store, edit: Edit, mutate: Mutation, expected: list[str]
) -> None:
    before = acme.tenants.state("acme")
    with pytest.raises(ValidationFailed) as by_edit:
        edit(Edits.of(acme))
    assert acme.tenants.state("acme") == before  # nothing was written
    state = copy.deepcopy(before)
    mutate(state)
    with pytest.raises(ValidationFailed) as by_apply:
        Edits.of(acme).tenants.apply([state])
    assert [str(p) for p in by_edit.value.problems] == expected
    assert [str(p) for p in by_apply.value.problems] == expected


def test_an_edit_next_to_an_old_problem_is_not_blocked(acme: Store, catalog: Catalog) -> None:
    # A problem already stored (as a catalog change could leave) blocks only writes touching it.
    state = acme.tenants.state("acme")
    state.phones[OTHER].settings["time.zone"] = "UTC"
    state.locked.add("time.zone")
    state.settings["time.zone"] = "Europe/Berlin"
    problems = check_tenant(catalog, state)
    assert [str(p) for p in problems] == [
        f"phone:{OTHER}: setting time.zone is locked at tenant:acme; unlock it there or remove "
        "this value"
    ]
    after = copy.deepcopy(state)
    after.phones[PHONE].settings["language"] = "fr"
    assert check_change(catalog, state, after) == []
    after.phones[OTHER].description = "touched"
    assert check_change(catalog, state, after) == []  # still only the old problem
    after.phones[OTHER].settings["network.vlan.id"] = 99999
    assert [p.message for p in check_change(catalog, state, after)] == [
        "setting network.vlan.id at phone:0004f2aabb03: 99999 is above the maximum 4094; "
        "allowed: an integer in [0, 4094]"
    ]


@pytest.mark.parametrize("scope", ["tenant", "group"])
def test_a_codec_list_above_a_phone_is_checked_on_the_phone(catalog: Catalog, scope: str) -> None:
    # The phone is untouched: only the tenant's or the group's value changes.
    before = TenantState("t", "t.example.com", groups={"g": GroupState("g")})
    before.phones["001565000001"] = PhoneState("001565000001", "t46s", groups=["g"])
    after = copy_tenant(before)
    holder = after if scope == "tenant" else after.groups["g"]
    holder.settings["codecs"] = ("pcmu", "opus")
    where = "tenant:t" if scope == "tenant" else "group:t/g"
    expected = [
        f"phone:001565000001: setting codecs from {where}: opus is not available on a Yealink "
        "SIP-T46S; it takes pcmu, pcma, g722, g729, g726"
    ]
    assert [str(p) for p in check_change(catalog, before, after)] == expected
    assert [str(p) for p in check_tenant(catalog, after)] == expected


@pytest.mark.parametrize(
    ("hi_weight", "locked", "expected"),
    [
        (5, set(), "group:t/hi"),  # the higher weight wins
        (0, set(), None),  # now "lo" (weight 1) wins, and the T46S takes its list
        (0, {"codecs"}, "group:t/hi"),  # a group lock beats a higher-weight unlocked group
    ],
)
def test_the_codec_list_checked_is_the_one_the_phone_resolves(
    catalog: Catalog, hi_weight: int, locked: set[str], expected: str | None
) -> None:
    state = TenantState("t", "t.example.com", settings={"codecs": ("g722", "pcmu")})
    state.groups["lo"] = GroupState("lo", weight=1, settings={"codecs": ("pcma",)})
    state.groups["hi"] = GroupState(
        "hi", weight=hi_weight, settings={"codecs": ("opus",)}, locked=locked
    )
    state.phones["001565000001"] = PhoneState("001565000001", "t46s", groups=["lo", "hi"])
    problems = [str(p) for p in check_tenant(catalog, state)]
    if expected is None:
        assert problems == []
    else:
        assert problems == [
            f"phone:001565000001: setting codecs from {expected}: opus is not available on a "
            "Yealink SIP-T46S; it takes pcmu, pcma, g722, g729, g726"
        ]


# --- check_change against the whole-tenant difference it replaces -----------

_GROUPS = ["a", "b", "c"]
_SETTINGS = ["language", "time.zone", "codecs", "keys"]
_VALUES: dict[str, list[Value]] = {
    "language": ["en", "de", "xx"],
    "time.zone": ["UTC", "Europe/Berlin"],
    # opus: only some models take it (t23p does, polycom335 and t46s do not).
    "codecs": [(), ("pcmu",), ("opus", "pcmu")],
    # Keys reach across phones: a BLF watches another phone's line user.
    "keys": [
        (),
        parse_keys([{"type": "blf", "value": "100"}]),
        parse_keys([{"type": "blf", "value": "101"}]),
    ],
}


def _tenant(draw: st.DrawFn) -> TenantState:
    state = TenantState("t", "t.example.com")
    for name in _SETTINGS:
        if draw(st.booleans()):
            state.settings[name] = draw(st.sampled_from(_VALUES[name]))
            if draw(st.booleans()):
                state.locked.add(name)
    for name in draw(st.lists(st.sampled_from(_GROUPS), unique=True)):
        group = GroupState(name)
        for setting in _SETTINGS:
            if draw(st.booleans()):
                group.settings[setting] = draw(st.sampled_from(_VALUES[setting]))
                if draw(st.booleans()):
                    group.locked.add(setting)
        state.groups[name] = group
    for i in range(draw(st.integers(0, 5))):
        mac = f"0004f2000{i:03x}"
        phone = PhoneState(mac, draw(st.sampled_from(["polycom335", "t23p", "t46s", "nosuch"])))
        phone.groups = draw(st.lists(st.sampled_from([*_GROUPS, "zz"]), max_size=3))
        for setting in _SETTINGS:
            if draw(st.booleans()):
                phone.settings[setting] = draw(st.sampled_from(_VALUES[setting]))
        for position in draw(st.lists(st.integers(1, 4), max_size=3)):
            line = LineState(position, draw(st.sampled_from(["100", "101"])))
            if draw(st.booleans()):
                line.settings["language"] = "de"
            phone.lines.append(line)
        state.phones[mac] = phone
    return state


@st.composite
def _change(draw: st.DrawFn) -> tuple[TenantState, TenantState]:
    """A tenant and a second one that shares some entities with it, as an edit leaves them."""
    before = _tenant(draw)
    other = _tenant(draw)
    after = copy.deepcopy(before)
    if draw(st.booleans()):
        after.settings, after.locked = other.settings, other.locked
    for name in _GROUPS:
        if draw(st.booleans()):
            if name in other.groups:
                after.groups[name] = other.groups[name]
            else:
                after.groups.pop(name, None)
    for mac in set(before.phones) | set(other.phones):
        if draw(st.booleans()):
            if mac in other.phones:
                after.phones[mac] = other.phones[mac]
            else:
                after.phones.pop(mac, None)
    return before, after


@given(_change())
def test_check_change_reports_what_the_whole_tenant_check_adds(
    change: tuple[TenantState, TenantState],
) -> None:
    catalog = _CATALOG
    before, after = change
    known = set(check_tenant(catalog, before))
    whole: list[Problem] = [p for p in check_tenant(catalog, after) if p not in known]
    assert check_change(catalog, before, after) == whole
    assert check_change(catalog, None, after) == check_tenant(catalog, after)


@given(st.builds(lambda c: c[0], _change()))
def test_copy_tenant_is_equal_and_shares_nothing_mutable(state: TenantState) -> None:
    copied = copy_tenant(state)
    assert copied == state
    copied.settings["x"] = 1
    copied.locked.add("x")
    for group in copied.groups.values():
        group.settings["x"] = 1
        group.locked.add("x")
    for phone in copied.phones.values():
        phone.groups.append("x")
        phone.settings["x"] = 1
        for line in phone.lines:
            line.settings["x"] = 1
    assert "x" not in state.settings
    assert "x" not in state.locked
    assert all("x" not in g.settings and "x" not in g.locked for g in state.groups.values())
    for phone in state.phones.values():
        assert "x" not in phone.groups
        assert "x" not in phone.settings
        assert all("x" not in line.settings for line in phone.lines)


_CATALOG = Catalog.load()

"""Key layouts by policy: the rule resolved per phone, placed after the fixed keys."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.catalog import Catalog
from provisioner.check import check_tenant
from provisioner.domain import DirectoryEntry, Line, Phone, ScopeKind, Snapshot, StoredValue, Tenant
from provisioner.explain import explain_phone
from provisioner.keylayout import phone_layout
from provisioner.resolve import PhoneView, Resolver
from provisioner.settings import KeyType, parse_keys
from provisioner.state import GroupState, LineState, PhoneState, TenantState

MAC = "001565000001"


def _snapshot(
    directory: list[tuple[str, str]] | list[DirectoryEntry],
    own: list[str],
    *,
    model: str = "t46s",
    values: dict[str, object] | None = None,
) -> Snapshot:
    snap = Snapshot(device_key=b"k" * 32)
    snap.tenants[1] = Tenant(1, "t", "t.example.com", "generic", "")
    snap.phones[100] = Phone(100, 1, MAC, model, "", True, ())
    snap.lines[100] = [
        Line(1000 + n, 100, n, user, "", "p", "", "") for n, user in enumerate(own, start=1)
    ]
    snap.directory = {
        1: tuple(e if isinstance(e, DirectoryEntry) else DirectoryEntry(*e) for e in directory)
    }
    stored = {"keys.policy": "blf", **(values or {})}
    snap.settings[(ScopeKind.TENANT, 1)] = {n: StoredValue(v) for n, v in stored.items()}  # type: ignore[arg-type]
    return snap


def _view(
    catalog: Catalog,
    directory: list[tuple[str, str]] | list[DirectoryEntry],
    own: list[str],
    *,
    model: str = "t46s",
    values: dict[str, object] | None = None,
) -> PhoneView:
    snap = _snapshot(directory, own, model=model, values=values)
    return Resolver(catalog, snap).phone(snap.phones[100])


def test_explain_lists_the_policy_keys_and_what_did_not_fit(catalog: Catalog) -> None:
    directory = [(f"U{n}", str(200 + n)) for n in range(30)]
    shown = explain_phone(catalog, _snapshot(directory, ["100"]), MAC)["keys"]
    placed = shown["placed"]
    assert placed[0] == {"module": 0, "slot": 1, "number": 0, "line": 1, "type": "line"}
    assert placed[1] == {
        "module": 0,
        "slot": 2,
        "number": 1,
        "line": 1,
        "type": "blf",
        "value": "200",
        "label": "U0",
        "policy": True,
    }
    assert len(placed) == catalog.model("t46s").keys
    assert shown["policy_dropped"] == 30 - (catalog.model("t46s").keys - 1)


def test_policy_gives_blf_for_other_lines_sorted_with_display_names(catalog: Catalog) -> None:
    directory = [("Zoe <&>", "110"), ("ann", "20"), ("Me", "30"), ("Bob", "9")]
    view = _view(catalog, directory, ["30"])
    assert [(k.value, k.label) for k in view.policy_keys] == [
        ("9", "Bob"),
        ("20", "ann"),
        ("110", "Zoe <&>"),
    ]
    by_label = _view(catalog, directory, ["30"], values={"keys.policy.sort": "label"})
    assert [k.value for k in by_label.policy_keys] == ["20", "9", "110"]
    users = _view(catalog, directory, ["30"], values={"keys.policy.label": "user"})
    assert [k.label for k in users.policy_keys] == ["9", "20", "110"]
    own = _view(catalog, directory, ["30"], values={"keys.policy.exclude_own": False})
    assert [k.value for k in own.policy_keys] == ["9", "20", "30", "110"]


def test_policy_follows_fixed_keys_and_overflows_onto_modules(catalog: Catalog) -> None:
    directory = [(f"U{n}", str(200 + n)) for n in range(40)]
    fixed = parse_keys([{"type": "speed_dial", "value": "999"}])
    view = _view(
        catalog,
        directory,
        ["100"],
        values={"keys": fixed, "modules.count": 1, "keys.policy.after": 3},
    )
    layout, problems = phone_layout(view)
    assert problems == []
    phone = {p.slot: p for p in layout.phone}
    assert phone[1].key.type is KeyType.LINE
    assert phone[2].key.value == "999"
    assert 3 not in phone  # after = 3: the policy starts at key 4
    assert phone[4].key.value == "200"
    assert phone[4].policy
    assert layout.modules
    assert layout.modules[0][0].key.value == str(200 + len(phone) - 2)
    assert layout.dropped == 0


def test_policy_keys_that_fit_nowhere_are_counted_not_refused(catalog: Catalog) -> None:
    directory = [(f"U{n}", str(200 + n)) for n in range(40)]
    layout, problems = phone_layout(_view(catalog, directory, ["100"]))
    assert problems == []
    assert len(layout.phone) == catalog.model("t46s").keys
    assert layout.dropped == 40 - (catalog.model("t46s").keys - 1)


@settings(max_examples=60, deadline=None)
@given(
    users=st.lists(st.integers(100, 160).map(str), max_size=60),
    names=st.lists(st.text(max_size=70), min_size=60, max_size=60),
    own=st.lists(st.integers(100, 170).map(str), min_size=1, max_size=3, unique=True),
    model=st.sampled_from(["t46s", "t54w", "t21p_e2", "vvx410", "spa504g", "cp7961g"]),
    modules=st.integers(0, 3),
    fixed=st.integers(0, 4),
    after=st.integers(0, 10),
    sort=st.sampled_from(["extension", "label"]),
    label=st.sampled_from(["display_name", "user"]),
    in_sales=st.lists(st.booleans(), min_size=60, max_size=60),
    scope=st.sampled_from(["", "sales"]),
)
def test_policy_property(
    catalog: Catalog,
    users: list[str],
    names: list[str],
    own: list[str],
    model: str,
    modules: int,
    fixed: int,
    after: int,
    sort: str,
    label: str,
    in_sales: list[bool],
    scope: str,
) -> None:
    """Never a BLF for an own line, never more keys than slots, each other line of the
    policy's scope (the tenant, or group sales) once."""
    definition = catalog.model(model)
    family = catalog.family_of(definition)
    count = min(modules, definition.max_modules) if definition.modules else 0
    directory = [
        DirectoryEntry(name, user, frozenset({"sales"} if sales else ()))
        for user, name, sales in zip(users, names, in_sales, strict=False)
    ]
    keys = parse_keys([{"type": "speed_dial", "value": str(900 + n)} for n in range(fixed)])
    view = _view(
        catalog,
        directory,
        own[: definition.max_lines],
        model=model,
        values={
            "keys": keys if KeyType.SPEED_DIAL in family.keys.types else (),
            "modules.count": count,
            "keys.policy.after": after,
            "keys.policy.sort": sort,
            "keys.policy.label": label,
            "keys.policy.scope": scope,
        },
    )
    layout, problems = phone_layout(view)
    without = _view(
        catalog,
        directory,
        own[: definition.max_lines],
        model=model,
        values={
            **{n: v.value for n, v in view.settings.items() if n.startswith(("keys", "modules"))},
            "keys.policy": "none",
        },
    )
    # The policy never adds a problem (a write elsewhere could not make this phone invalid).
    assert problems == phone_layout(without)[1]
    if problems:  # the fixed keys alone do not fit: validation refuses the phone
        return
    placed = [*layout.phone, *(p for m in layout.modules for p in m)]
    policy = [p.key for p in placed if p.policy]
    mine = {line.line.user for line in view.lines}
    assert not any(k.value in mine for k in policy)
    capacity = definition.keys + (layout.module.keys if layout.module else 0) * len(layout.modules)
    assert len(placed) <= capacity
    assert len({(p.module, p.slot) for p in placed}) == len(placed)
    others = {e.user for e in directory if not scope or scope in e.groups} - mine
    assert len(policy) + layout.dropped == len(others)
    if layout.dropped == 0:
        assert sorted(k.value for k in policy) == sorted(others)
    assert all(k.type is KeyType.BLF for k in policy)


def test_policy_scoped_to_a_group_shows_only_its_phones_lines(catalog: Catalog) -> None:
    sales = frozenset({"sales"})
    directory = [
        DirectoryEntry("A", "201", sales),
        DirectoryEntry("B", "202", frozenset({"sales", "floor"})),
        DirectoryEntry("C", "203", frozenset({"floor"})),
        DirectoryEntry("D", "204"),
    ]
    view = _view(catalog, directory, ["201"], values={"keys.policy.scope": "sales"})
    assert [k.value for k in view.policy_keys] == ["202"]
    tenant_wide = _view(catalog, directory, ["201"])
    assert [k.value for k in tenant_wide.policy_keys] == ["202", "203", "204"]


def test_a_policy_scope_must_name_a_group_of_the_tenant(catalog: Catalog) -> None:
    phone = PhoneState(
        mac=MAC,
        model="t46s",
        groups=["sales"],
        lines=[LineState(position=1, user="201")],
    )
    tenant = TenantState(
        name="acme",
        sip_domain="acme.example.com",
        groups={
            "sales": GroupState(
                name="sales", settings={"keys.policy": "blf", "keys.policy.scope": "sale"}
            )
        },
        phones={MAC: phone},
    )
    problems = [p.message for p in check_tenant(catalog, tenant)]
    assert problems == ["keys.policy.scope: tenant acme has no group 'sale'"]
    tenant.groups["sales"].settings["keys.policy.scope"] = "sales"
    assert check_tenant(catalog, tenant) == []

"""What apply says it changed, entity by entity, agrees with what the store writes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.catalog import Catalog
from provisioner.fleet import load_fleet, parse_fleet
from provisioner.fleet_changes import describe_changes
from provisioner.state import GroupState, LineState, PhoneState, TenantState
from provisioner.store import Store

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo-fleet.toml"
POLYCOM, YEALINK = "0004f2123456", "805ec0123456"

Edit = Callable[[TenantState], None]


def _line_password(state: TenantState) -> None:
    state.phones[POLYCOM].lines[0].password = "new-secret"


def _add_line(state: TenantState) -> None:
    state.phones[YEALINK].lines.append(LineState(2, "299"))


def _drop_line(state: TenantState) -> None:
    state.phones[POLYCOM].lines.pop()


def _line_setting(state: TenantState) -> None:
    state.phones[POLYCOM].lines[1].settings.pop("voicemail.number")


def _add_phone(state: TenantState) -> None:
    state.phones["0004f2000009"] = PhoneState("0004f2000009", "vvx410")


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda s: None, []),
        (lambda s: setattr(s, "description", "Demo"), ["tenant demo: description changed"]),
        (
            lambda s: s.settings.update({"language": "fr"}),
            ["tenant demo: setting language set"],
        ),
        (lambda s: s.locked.discard("time.zone"), ["tenant demo: setting time.zone unlocked"]),
        (
            lambda s: setattr(s.groups["office"], "weight", 11),
            ["group demo/office: weight changed"],
        ),
        (
            lambda s: s.groups["lobby"].settings.update({"network.vlan.id": 21}),
            ["group demo/lobby: setting network.vlan.id changed"],
        ),
        (
            lambda s: s.groups.update({"new": GroupState("new")}),
            ["group demo/new: created"],
        ),
        (lambda s: setattr(s.phones[POLYCOM], "enabled", False), [f"phone {POLYCOM}: disabled"]),
        (
            lambda s: setattr(s.phones[POLYCOM], "groups", ["office"]),
            [f"phone {POLYCOM}: groups now office"],
        ),
        (
            lambda s: s.phones[YEALINK].settings.update({"language": "de"}),
            [f"phone {YEALINK}: setting language set"],
        ),
        (_line_password, [f"phone {POLYCOM}: line 1 changed (password)"]),
        (_add_line, [f"phone {YEALINK}: line 2 created (299)"]),
        (_drop_line, [f"phone {POLYCOM}: line 2 removed"]),
        (_line_setting, [f"phone {POLYCOM}: line 2 changed (setting voicemail.number)"]),
        (_add_phone, ["phone 0004f2000009: created (vvx410)"]),
        (lambda s: s.phones.pop(YEALINK), [f"phone {YEALINK}: removed"]),
    ],
)
def test_each_change_is_named_and_the_store_writes_it(
    store: Store, catalog: Catalog, edit: Edit, said: list[str]
) -> None:
    store.tenants.apply(parse_fleet(load_fleet(DEMO), catalog))
    before = store.tenants.all_states()
    after = copy.deepcopy(before)
    edit(after[0])
    assert describe_changes(before, after) == said
    assert bool(store.tenants.apply(after)) == bool(
        said
    )  # the store agrees something changed, or not
    assert (
        describe_changes(store.tenants.all_states(), after) == []
    )  # and now nothing is left to do


def test_an_equal_value_of_another_type_is_a_change_as_for_the_store() -> None:
    before = TenantState("t", "t.example", settings={"x": 1})
    after = TenantState("t", "t.example", settings={"x": True})
    assert describe_changes([before], [after]) == ["tenant t: setting x changed"]


def test_tenants_created_moved_and_pruned() -> None:
    a = TenantState("a", "a.example", phones={POLYCOM: PhoneState(POLYCOM, "vvx410")})
    b = TenantState("b", "b.example", groups={"g": GroupState("g")})
    moved = TenantState("b", "b.example", phones={POLYCOM: PhoneState(POLYCOM, "vvx410")})
    assert describe_changes([a], [a, b]) == ["tenant b: created", "group b/g: created"]
    assert describe_changes([a, b], [TenantState("a", "a.example"), moved]) == [
        "group b/g: removed",
        f"phone {POLYCOM}: moved from tenant a to b",
    ]
    assert describe_changes([a, b], [moved]) == [  # a is not listed: only its phone moves
        "group b/g: removed",
        f"phone {POLYCOM}: moved from tenant a to b",
    ]
    assert describe_changes([a, b], [b], prune=True) == ["tenant a: removed, with its 1 phone(s)"]
    assert describe_changes([a, b], [b]) == []  # unlisted tenants are left alone

"""Keys: the value type, placement, and the validation rules (table tests)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from provisioner.catalog import Catalog
from provisioner.check import check_change, check_tenant
from provisioner.errors import InputError
from provisioner.settings import Key, parse_keys
from provisioner.state import GroupState, LineState, PhoneState, TenantState
from provisioner.store._read import decode_value, encode_value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("blf", "expected a list of keys"),
        (["blf"], "key 1: expected an object"),
        ([{"type": "fax"}], "key 1: type 'fax' is not one of line, blf"),
        ([{"type": "blf"}], "key 1: a blf key needs a value"),
        ([{"type": "line"}], "key 1: a line key names the phone's line"),
        ([{"type": "line", "line": 1, "value": "1"}], "key 1: a line key takes no value"),
        ([{"type": "none", "colour": "red"}], "key 1: unknown field(s) colour"),
        ([{"type": "blf", "value": "a b"}], "neither an extension nor a SIP URI"),
        ([{"type": "dtmf", "value": "12x"}], "is not DTMF digits"),
        ([{"type": "url", "value": "ftp://x"}], "is not an http or https URL"),
        ([{"type": "blf", "value": "1", "label": "a\nb"}], "key 1 label: control character"),
        ([{"type": "blf", "value": "1", "label": "x" * 65}], "longer than 64"),
        ([{"type": "blf", "value": "1", "line": True}], "line must be an integer"),
        ([{"type": "blf", "value": "1", "module": 65}], "module must be an integer in [0, 64]"),
        ([{"type": "none"}, {"type": "blf", "value": 201}], "key 2: value must be text"),
    ],
)
def test_parse_keys_refuses(raw: object, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_keys(raw)
    assert message in str(info.value)


def test_parse_keys_keeps_given_fields_and_round_trips_through_the_store() -> None:
    keys = parse_keys([{"type": "blf", "value": "201", "label": "Alice", "page": 0}])
    assert keys == ({"type": "blf", "value": "201", "label": "Alice"},)
    assert decode_value(encode_value(keys)) == keys
    decoded = decode_value(encode_value(keys))
    assert isinstance(decoded, tuple)
    assert isinstance(decoded[0], Key)
    assert parse_keys('[{"type": "none"}]', from_text=True) == ({"type": "none"},)
    with pytest.raises(TypeError):
        keys[0]["value"] = "202"
    assert copy.deepcopy(keys) == keys
    assert isinstance(copy.deepcopy(keys)[0], Key)


def _tenant(keys: list[dict[str, Any]], model: str = "t46s", **settings: Any) -> TenantState:
    phone = PhoneState(
        mac="001565000001",
        model=model,
        settings={"keys": parse_keys(keys), **settings},
        lines=[LineState(position=1, user="1001")],
    )
    other = PhoneState(mac="001565000002", model="t46s", lines=[LineState(position=1, user="1002")])
    return TenantState(
        name="acme",
        sip_domain="acme.example.com",
        phones={phone.mac: phone, other.mac: other},
    )


def _problems(catalog: Catalog, tenant: TenantState) -> list[str]:
    return [p.message for p in check_tenant(catalog, tenant)]


@pytest.mark.parametrize(
    ("keys", "extra", "message"),
    [
        ([{"type": "line", "line": 2}], {}, "key 1: line 2 is not a line of this phone (lines: 1)"),
        ([{"type": "blf", "value": "1009"}], {}, "blf target '1009' is neither a line user"),
        ([{"type": "park", "value": "777"}], {}, "park target '777' is neither a line user"),
        ([{"type": "blf", "value": "1002", "module": 1}], {}, "module 1, but the phone has 0"),
        (
            [{"type": "blf", "value": "1002", "module": 1, "page": 3}],
            {"modules.count": 1},
            "page 3, but module 1 (Yealink EXP40, 40 keys) has 2 pages",
        ),
        ([{"type": "blf", "value": "1002", "page": 2}], {}, "page 2, but the Yealink SIP-T46S"),
        ([{"type": "none"}] * 27, {}, "key 27: no free key left on the Yealink SIP-T46S (27 keys)"),
        ([], {"modules.count": 7}, "above the maximum 6"),
        ([], {"modules.count": 1, "modules.kind": "exp50"}, "takes no 'exp50' modules"),
    ],
)
def test_key_rules(
    catalog: Catalog, keys: list[dict[str, Any]], extra: dict[str, Any], message: str
) -> None:
    problems = _problems(catalog, _tenant(keys, "t46s", **extra))
    assert any(message in p for p in problems), problems


def test_a_model_without_keys_refuses_them(catalog: Catalog) -> None:
    problems = _problems(catalog, _tenant([{"type": "blf", "value": "1002"}], model="t19p_e2"))
    assert "key 1: no free key left on the Yealink SIP-T19P E2 (0 keys)" in problems, problems


def test_valid_keys_on_phone_and_module(catalog: Catalog) -> None:
    keys: list[dict[str, Any]] = [
        {"type": "blf", "value": "1002", "label": "Bob & <Co>"},
        {"type": "blf", "value": "sip:x@elsewhere.example"},
        {"type": "speed_dial", "value": "1002", "module": 1, "page": 2},
    ]
    assert _problems(catalog, _tenant(keys, "t46s", **{"modules.count": 1})) == []


def test_tenant_keys_reach_phones_and_a_removed_target_is_caught(catalog: Catalog) -> None:
    before = _tenant([])
    before.phones["001565000001"].settings.clear()
    before.settings["keys"] = parse_keys([{"type": "blf", "value": "1002"}])
    assert _problems(catalog, before) == []
    after = _tenant([])
    after.phones["001565000001"].settings.clear()
    after.settings["keys"] = before.settings["keys"]
    after.phones["001565000002"].lines[0].user = "2002"  # 1002 is gone
    found = [p.message for p in check_change(catalog, before, after)]
    assert any("blf target '1002'" in p for p in found), found


def test_group_keys_replace_tenant_keys_by_weight(catalog: Catalog) -> None:
    tenant = _tenant([])
    phone = tenant.phones["001565000001"]
    phone.settings.clear()
    phone.groups = ["low", "high"]
    tenant.settings["keys"] = parse_keys([{"type": "blf", "value": "nobody"}])
    tenant.groups = {
        "low": GroupState("low", weight=1, settings={"keys": parse_keys([{"type": "none"}])}),
        "high": GroupState(
            "high", weight=2, settings={"keys": parse_keys([{"type": "line", "line": 3}])}
        ),
    }
    problems = _problems(catalog, tenant)
    # The phone sees the heavier group's list; the other phone sees the tenant's.
    assert any(p.startswith("key 1: line 3") for p in problems), problems
    assert any("'nobody'" in p for p in problems), problems


@pytest.mark.parametrize(
    ("model", "keys", "message"),
    [
        ("spa509g", [{"type": "intercom", "value": "1002"}], "a Cisco SPA509G (cisco/spa5xx)"),
        ("spa509g", [{"type": "park", "value": "1002"}], "cannot have park keys"),
        ("cp8851-3pcc", [{"type": "dtmf", "value": "1"}], "cannot have dtmf keys"),
        ("spa509g", [{"type": "line", "line": 1, "module": 1}], "SPA500S module cannot have line"),
    ],
)
def test_a_type_a_family_cannot_express_names_the_model(
    catalog: Catalog, model: str, keys: list[dict[str, Any]], message: str
) -> None:
    problems = _problems(catalog, _tenant(keys, model, **{"modules.count": 1}))
    assert any(message in p for p in problems), problems


def _polycom(keys: list[dict[str, Any]], **settings: Any) -> TenantState:
    tenant = _tenant(keys, "vvx300", **settings)
    tenant.phones["001565000001"].lines.append(LineState(position=2, user="1003"))
    return tenant


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            [{"type": "blf", "value": "1002", "module": 1}],
            "key position 3 is empty before a later key",
        ),
        (
            [{"type": "blf", "value": "1002"}, {"type": "line", "line": 1}],
            "shows line keys first, in line order",
        ),
        ([{"type": "line", "line": 2}, {"type": "line", "line": 1}], "in line order"),
        ([{"type": "line", "line": 1}], "needs a line key for every line; none for line(s) 2"),
        ([{"type": "none"}], "cannot have none keys"),
    ],
)
def test_sequential_family_rules(
    catalog: Catalog, keys: list[dict[str, Any]], message: str
) -> None:
    problems = _problems(catalog, _polycom(keys, **{"modules.count": 1}))
    assert any(message in p for p in problems), problems


def test_sequential_family_accepts_a_full_phone_then_a_module(catalog: Catalog) -> None:
    keys = [{"type": "blf", "value": "1002"}] * 4 + [{"type": "park", "value": "1002", "module": 1}]
    assert _problems(catalog, _polycom(keys, **{"modules.count": 1})) == []


def test_79x1_shows_a_line_on_one_button_only(catalog: Catalog) -> None:
    keys = [{"type": "line", "line": 1}, {"type": "line", "line": 1}]
    problems = _problems(catalog, _tenant(keys, "cp7961g"))
    assert "a Cisco" in " ".join(problems)
    assert any("shows each line on one key only" in p for p in problems), problems


def test_a_family_without_keys_refuses_a_tenant_list_naming_the_model(catalog: Catalog) -> None:
    tenant = _tenant([], "cp7960")
    tenant.phones["001565000001"].settings.clear()
    tenant.settings["keys"] = parse_keys([{"type": "blf", "value": "1002"}])
    problems = _problems(catalog, tenant)
    expected = "key 1: a Cisco IP Phone 7960G (SIP) (cisco/sip79xx) cannot have blf keys: the"
    assert any(p.startswith(expected) for p in problems), problems

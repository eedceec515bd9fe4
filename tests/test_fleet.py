"""Fleet files: parsing with located problems, all-or-nothing apply, round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from provisioner.catalog import Catalog
from provisioner.errors import InputError, ValidationFailed
from provisioner.fleet import export_fleet, load_fleet, parse_fleet
from provisioner.store import Store

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "demo-fleet.toml"


def doc() -> dict[str, Any]:
    return {
        "tenants": [
            {
                "name": "acme",
                "sip_domain": "acme.example.com",
                "platform": "generic",
                "registrar": {"host": "pbx.acme.example.com", "port": 5061, "transport": "tls"},
                "outbound_proxy": {"host": "sbc.acme.example.com", "port": 5060},
                "ntp_servers": ["ntp1.example.com", "ntp2.example.com"],
                "time_zone": "Europe/Paris",
                "settings": {"language": "fr"},
                "locked": ["time.zone"],
            }
        ],
        "groups": [
            {"tenant": "acme", "name": "sales", "weight": 10, "settings": {"mwi.subscribe": True}}
        ],
        "phones": [
            {
                "tenant": "acme",
                "mac": "00:04:F2:AA:BB:CC",
                "model": "polycom335",
                "description": "desk",
                "groups": ["sales"],
                "settings": {"network.vlan.id": 7},
                "lines": [
                    {
                        "user": "201",
                        "auth_user": "a201",
                        "password": "pw",
                        "display_name": "Al",
                        "label": "A",
                        "settings": {"polycom.line_keys": 2},
                    },
                    {"user": "202", "voicemail_number": "*97", "registrar": {"port": 5070}},
                ],
            }
        ],
    }


def test_parse_shorthands_into_settings(catalog: Catalog) -> None:
    (tenant,) = parse_fleet(doc(), catalog)
    assert tenant.settings == {
        "language": "fr",
        "sip.registrar.host": "pbx.acme.example.com",
        "sip.registrar.port": 5061,
        "sip.registrar.transport": "tls",
        "sip.outbound_proxy.host": "sbc.acme.example.com",
        "sip.outbound_proxy.port": 5060,
        "time.ntp_server": "ntp1.example.com",
        "time.ntp_server_secondary": "ntp2.example.com",
        "time.zone": "Europe/Paris",
    }
    phone = tenant.phones["0004f2aabbcc"]
    assert phone.model == "spip335"
    assert [line.position for line in phone.lines] == [1, 2]
    assert phone.lines[1].settings == {"voicemail.number": "*97", "sip.registrar.port": 5070}


def test_every_structural_problem_is_reported_with_its_location(catalog: Catalog) -> None:
    bad = doc()
    bad["tenants"][0]["sip_domian"] = "typo"
    bad["groups"][0]["tenant"] = "nobody"
    bad["phones"][0]["mac"] = "00:04:f2"
    bad["phones"][0]["lines"][0]["password"] = 1234
    bad["phones"].append({"tenant": "acme", "mac": "0004f2aabbcd", "model": "nope"})
    bad["phones"].append({"tenant": "acme", "mac": "0004f2aabbcd", "model": "vvx410"})
    bad["extra"] = []
    with pytest.raises(ValidationFailed) as info:
        parse_fleet(bad, catalog)
    found = [(p.location, p.message) for p in info.value.problems]

    def reported(location: str, start: str) -> bool:
        return any(loc == location and msg.startswith(start) for loc, msg in found)

    assert reported("tenants[0].sip_domian", "unknown key")
    assert reported("groups[0].tenant", "tenant 'nobody' is not listed under tenants")
    assert reported("phones[0].mac", "invalid MAC address '00:04:f2'")
    assert reported("phones[0].lines[0].password", "expected str, got an integer")
    assert reported("phones[1].model", "unknown model 'nope'")
    assert reported("phones[2].mac", "MAC 0004f2aabbcd is also used by phones[1]")
    assert reported("fleet.extra", "unknown key")
    assert len(found) == 7


def test_shorthand_and_setting_conflict(catalog: Catalog) -> None:
    bad = doc()
    bad["tenants"][0]["settings"]["time.zone"] = "UTC"
    with pytest.raises(
        ValidationFailed, match=r"tenants\[0\].time_zone: sets time.zone, which settings also sets"
    ):
        parse_fleet(bad, catalog)


def test_semantic_problems_are_all_reported_and_nothing_is_stored(
    store: Store, catalog: Catalog
) -> None:
    bad = doc()
    bad["phones"][0]["settings"]["time.zone"] = "UTC"  # locked at the tenant
    bad["phones"][0]["lines"][0]["settings"]["language"] = "de"  # not a line setting
    bad["phones"][0]["lines"].append({"user": "203"})  # spip335 has 2 lines
    bad["groups"][0]["settings"]["network.vlan.id"] = 9999
    with pytest.raises(ValidationFailed) as info:
        store.tenants.apply(parse_fleet(bad, catalog))
    text = str(info.value)
    assert "phones[0]: setting time.zone is locked at tenant:acme" in text
    assert "phones[0].lines[0]: setting language cannot be set per line" in text
    assert "phones[0]: 3 lines, but a Polycom SoundPoint IP 335 has at most 2" in text
    assert "phones[0].lines[2]: line position 3 is outside 1..2" in text
    assert "groups[0]: setting network.vlan.id at groups[0]: 9999 is above the maximum 4094" in text
    assert store.tenants.names() == []


def test_a_codec_list_is_refused_for_the_models_that_lack_a_codec(
    store: Store, catalog: Catalog
) -> None:
    bad = doc()
    bad["tenants"][0]["settings"]["codecs"] = ["g722", "opus", "pcmu"]
    bad["phones"].append({"tenant": "acme", "mac": "0004f2000099", "model": "cp7960"})
    with pytest.raises(ValidationFailed) as info:
        store.tenants.apply(parse_fleet(bad, catalog))
    assert [str(p) for p in info.value.problems] == [
        "phones[0]: setting codecs from tenant:acme: opus is not available on a Polycom "
        "SoundPoint IP 335; it takes pcmu, pcma, g722, g729",
        "phones[1]: setting codecs from tenant:acme: g722, opus, pcmu are not available on a "
        "Cisco IP Phone 7960G (SIP) (the firmware takes one preferred codec (preferred_codec), "
        "not an ordered list, and cannot turn codecs off; set raw.cisco79xx.preferred_codec "
        "instead)",
    ]
    assert store.tenants.names() == []
    # An empty list (the phone's own codecs) suits every model; the phones' own lists win.
    good = doc()
    good["tenants"][0]["settings"]["codecs"] = ["g722", "opus", "pcmu"]
    good["phones"][0]["settings"]["codecs"] = ["pcma", "g722"]
    good["phones"].append(
        {"tenant": "acme", "mac": "0004f2000099", "model": "cp7960", "settings": {"codecs": []}}
    )
    store.tenants.apply(parse_fleet(good, catalog))
    exported = export_fleet(store.tenants.all_states())
    assert list(exported["tenants"][0]["settings"]["codecs"]) == ["g722", "opus", "pcmu"]


def test_apply_is_idempotent_and_export_round_trips(store: Store, catalog: Catalog) -> None:
    changes = store.tenants.apply(parse_fleet(doc(), catalog))
    assert changes["phone created"] == 1
    assert not store.tenants.apply(parse_fleet(doc(), catalog))
    exported = export_fleet(store.tenants.all_states())
    assert not store.tenants.apply(parse_fleet(json.loads(json.dumps(exported)), catalog))
    assert export_fleet(store.tenants.all_states()) == exported
    assert exported["tenants"][0]["registrar"] == {
        "host": "pbx.acme.example.com",
        "port": 5061,
        "transport": "tls",
    }
    assert exported["phones"][0]["lines"][1]["voicemail_number"] == "*97"


def test_apply_updates_and_removes(store: Store, catalog: Catalog) -> None:
    store.tenants.apply(parse_fleet(doc(), catalog))
    changed = doc()
    changed["phones"][0]["lines"].pop()
    changed["phones"][0]["groups"] = []
    changed["groups"] = []
    changed["tenants"][0]["settings"] = {"language": "de"}
    changes = store.tenants.apply(parse_fleet(changed, catalog))
    assert changes["line removed"] == 1
    assert changes["group removed"] == 1
    assert changes["setting changed"] == 1
    state = store.tenants.state("acme")
    assert state.groups == {}
    assert len(state.phones["0004f2aabbcc"].lines) == 1


def test_phone_moves_between_listed_tenants(store: Store, catalog: Catalog) -> None:
    store.tenants.apply(parse_fleet(doc(), catalog))
    moved = doc()
    moved["tenants"].append({"name": "other", "sip_domain": "other.example.com"})
    moved["phones"][0]["tenant"] = "other"
    moved["phones"][0]["groups"] = []
    store.tenants.apply(parse_fleet(moved, catalog))
    assert "0004f2aabbcc" in store.tenants.state("other").phones
    assert store.tenants.state("acme").phones == {}


def test_unlisted_tenants_are_kept_unless_pruned(store: Store, catalog: Catalog) -> None:
    store.tenants.apply(parse_fleet(doc(), catalog))
    other = {"tenants": [{"name": "other", "sip_domain": "other.example.com"}]}
    store.tenants.apply(parse_fleet(other, catalog))
    assert store.tenants.names() == ["acme", "other"]
    steal = {
        "tenants": [{"name": "other", "sip_domain": "other.example.com"}],
        "phones": [{"tenant": "other", "mac": "0004f2aabbcc", "model": "vvx410"}],
    }
    with pytest.raises(
        ValidationFailed, match="belongs to tenant acme, which this file does not list"
    ):
        store.tenants.apply(parse_fleet(steal, catalog))
    store.tenants.apply(parse_fleet(steal, catalog), prune=True)
    assert store.tenants.names() == ["other"]


def test_load_json_and_toml(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(doc()))
    assert parse_fleet(load_fleet(path), catalog)[0].name == "acme"
    assert parse_fleet(load_fleet(EXAMPLE), catalog)[0].name == "demo"
    broken = tmp_path / "broken.toml"
    broken.write_text("[[tenants]\n")
    with pytest.raises(InputError, match="broken.toml"):
        load_fleet(broken)
    with pytest.raises(InputError, match="cannot read"):
        load_fleet(tmp_path / "missing.json")


def test_keys_list_on_each_scope_round_trips(store: Store, catalog: Catalog) -> None:
    keyed = doc()
    keyed["tenants"][0]["keys"] = [{"type": "blf", "value": "202", "label": "Bo & <b>"}]
    keyed["groups"][0]["keys"] = []
    keyed["phones"][0]["keys"] = [{"type": "line", "line": 1}, {"type": "line", "line": 2}]
    (tenant,) = parse_fleet(keyed, catalog)
    assert tenant.settings["keys"] == ({"type": "blf", "value": "202", "label": "Bo & <b>"},)
    assert tenant.groups["sales"].settings["keys"] == ()
    store.tenants.apply([tenant])
    exported = export_fleet(store.tenants.all_states())
    as_json = json.loads(json.dumps(exported))
    assert as_json["tenants"][0]["keys"] == keyed["tenants"][0]["keys"]
    assert as_json["phones"][0]["keys"] == keyed["phones"][0]["keys"]
    assert not store.tenants.apply(parse_fleet(as_json, catalog))


def test_a_bad_key_is_reported_at_its_entry(catalog: Catalog) -> None:
    bad = doc()
    bad["phones"][0]["keys"] = [{"type": "blf", "value": "201"}, {"type": "blf"}]
    bad["tenants"][0]["settings"]["keys"] = [{"type": "teleport", "value": "1"}]
    with pytest.raises(ValidationFailed) as info:
        parse_fleet(bad, catalog)
    found = [(p.location, p.message) for p in info.value.problems]
    assert ("phones[0].keys", "key 2: a blf key needs a value") in found
    assert any(
        loc == "tenants[0].settings.keys" and "type 'teleport'" in msg for loc, msg in found
    ), found

"""Rendering: format-aware escaping, error isolation, gating, site overrides."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from provisioner.catalog import Catalog
from provisioner.chars import CONTROL_CHARS, clean_text
from provisioner.domain import Line, Phone, ScopeKind, Snapshot, StoredValue, Tenant
from provisioner.pipeline import render_snapshot
from provisioner.render import Renderer, RenderError, RenderFailed
from provisioner.resolve import Resolver
from provisioner.settings import Value, parse_keys

SITE = Path(__file__).resolve().parent / "site"
MAC = "0004f2aabbcc"


@pytest.fixture(scope="module")
def site_catalog() -> Catalog:
    return Catalog.load(SITE)


def one_phone(
    model: str, display_name: str = "Plain Name", label: str = "L", **phone_values: Value
) -> Snapshot:
    snap = Snapshot(device_key=b"k" * 32)
    snap.tenants[1] = Tenant(1, "t", "t.example.com", "generic", "")
    snap.phones[1] = Phone(1, 1, MAC, model, "", True, ())
    snap.lines[1] = [
        Line(10, 1, 1, "100", "", "pw", display_name, label),
        Line(11, 1, 2, "101", "", "pw", "Second", "S"),
    ]
    snap.settings[(ScopeKind.PHONE, 1)] = {k: StoredValue(v) for k, v in phone_values.items()}
    return snap


def render_one(
    catalog: Catalog, snap: Snapshot, renderer: Renderer | None = None
) -> dict[str, bytes]:
    view = Resolver(catalog, snap).phone(snap.phones[1])
    return {f.path: f.data for f in (renderer or Renderer(catalog)).phone_files(view)}


def key_lines(data: bytes) -> list[str]:
    """Each line's key (what is left of ' = '), the part a value must never change."""
    return [line.split(" = ", 1)[0] for line in data.decode().split("\n")]


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=300), label=st.text(max_size=50))
def test_kv_values_never_add_lines(site_catalog: Catalog, name: str, label: str) -> None:
    plain = render_one(site_catalog, one_phone("tc100"))[f"{MAC}.txt"]
    hostile = render_one(site_catalog, one_phone("tc100", name, label))[f"{MAC}.txt"]
    assert key_lines(hostile) == key_lines(plain)
    assert hostile.count(b"\n") == plain.count(b"\n")
    assert f"line1.name = {clean_text(name)}\n".encode() in hostile


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=300))
def test_xml_values_round_trip_as_text(catalog: Catalog, name: str) -> None:
    files = render_one(catalog, one_phone("vvx410", name))
    root = etree.fromstring(files[f"{MAC}-settings.cfg"])
    line = root.find("line1")
    assert line is not None
    # XML attribute-value normalisation turns tabs etc. into spaces too, and
    # control characters were already replaced, so the text survives exactly.
    assert line.get("reg.1.displayName") == clean_text(name)
    second = root.find("line2")
    assert second is not None
    assert len(line.attrib) == len(second.attrib)


def test_isprintable_fast_path_covers_every_control_character() -> None:
    # finalize() skips the regex for printable text; that is only sound if no
    # character the regex replaces counts as printable.
    assert not [
        c for c in map(chr, range(sys.maxunicode + 1)) if CONTROL_CHARS.match(c) and c.isprintable()
    ]


def test_output_is_deterministic(catalog: Catalog) -> None:
    snap = one_phone("vvx410", "Zoë")
    assert render_one(catalog, snap) == render_one(catalog, snap)
    assert all(not data.startswith(b"\xef\xbb\xbf") for data in render_one(catalog, snap).values())


def test_firmware_gating(site_catalog: Catalog) -> None:
    old = render_one(site_catalog, one_phone("tc100", **{"firmware.version": "1.9"}))
    new = render_one(site_catalog, one_phone("tc100", **{"firmware.version": "2.0.1"}))
    unknown = render_one(site_catalog, one_phone("tc100"))
    assert b"newfeature" not in old[f"{MAC}.txt"]
    assert b"newfeature = 1" in new[f"{MAC}.txt"]
    assert b"newfeature = 1" in unknown[f"{MAC}.txt"]


def test_shared_files_are_rendered_once_for_models_sharing_a_path(site_catalog: Catalog) -> None:
    files, errors = Renderer(site_catalog).shared_files()
    assert errors == []
    paths = [f.path for f in files]
    assert paths.count("testco-100.txt") == 1
    assert "000000000000.cfg" in paths


def make_site(tmp_path: Path, template: str) -> Catalog:
    site = tmp_path / "site"
    shutil.copytree(SITE, site)
    (site / "testco" / "kv" / "phone.txt.j2").write_text(template)
    return Catalog.load(site)


@pytest.mark.parametrize(
    ("template", "line", "message"),
    [
        ("ok\nvalue = {{ s['time.zone'] == 'UTC' }}\n", 2, "template printed True"),
        ("ok\n\nvalue = {{ s['no.such'] }}\n", 3, "no.such"),
        ("{% for x in %}\n", 1, "Expected an expression"),
        ("v = {{ lines[0] }}\n", 1, "template printed a dict"),
        ("v = {{ s['time.zone'] | vmap('nomap') }}\n", 1, "no [maps.nomap] table"),
    ],
)
def test_template_errors_name_mac_template_and_line(
    tmp_path: Path, template: str, line: int, message: str
) -> None:
    catalog = make_site(tmp_path, template)
    with pytest.raises(RenderFailed) as info:
        render_one(catalog, one_phone("tc100"))
    error = info.value.error
    assert error.mac == MAC
    assert error.template == "testco/kv/phone.txt.j2"
    assert error.line == line
    assert message in error.message


def test_malformed_xml_is_refused(tmp_path: Path, catalog: Catalog) -> None:
    site = tmp_path / "site"
    (site / "polycom" / "ucs").mkdir(parents=True)
    (site / "polycom" / "ucs" / "master.cfg.j2").write_text("<APPLICATION>{{ phone.mac }}\n")
    site_catalog = Catalog.load(site)
    with pytest.raises(RenderFailed, match="not well-formed XML"):
        render_one(site_catalog, one_phone("vvx410"))


def test_site_template_overrides_builtin(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "polycom" / "ucs").mkdir(parents=True)
    (site / "polycom" / "ucs" / "master.cfg.j2").write_text(
        '<APPLICATION SITE="{{ phone.mac }}"/>\n'
    )
    files = render_one(Catalog.load(site), one_phone("vvx410"))
    assert files[f"{MAC}.cfg"] == f'<APPLICATION SITE="{MAC}"/>\n'.encode()


def test_one_failing_phone_does_not_stop_the_others(tmp_path: Path) -> None:
    catalog = make_site(tmp_path, "u = {{ lines[2].user }}\n")  # only phones with 3 lines render
    snap = one_phone("tc100")
    snap.phones[2] = Phone(2, 1, "0004f2aabbcd", "tc100", "", True, ())
    snap.lines[2] = [Line(20 + i, 2, i, f"2{i}", "", "", "", "") for i in (1, 2, 3)]
    result = render_snapshot(catalog, snap)
    assert list(result.phones) == ["0004f2aabbcd"]
    assert [e.mac for e in result.errors] == [MAC]
    assert result.failed == {MAC: [f"{MAC}.txt"]}
    assert isinstance(result.errors[0], RenderError)


def test_disabled_phones_are_not_rendered(catalog: Catalog) -> None:
    snap = one_phone("vvx410")
    snap.phones[1] = Phone(1, 1, MAC, "vvx410", "", False, ())
    assert render_snapshot(catalog, snap).phones == {}


def test_keys_that_do_not_fit_fail_the_phone_naming_the_key(catalog: Catalog) -> None:
    # Validation refuses such a list when written; a catalog change can still leave one.
    keys = parse_keys([{"type": "blf", "value": "101"}] * 26)
    assert render_one(catalog, one_phone("t46s", keys=keys[:25]))  # 2 line keys + 25 = 27
    with pytest.raises(RenderFailed) as info:
        render_one(catalog, one_phone("t46s", keys=keys))
    assert info.value.error.template == "keys"
    assert "key 26: no free key left on the Yealink SIP-T46S (27 keys)" in info.value.error.message

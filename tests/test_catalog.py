"""The catalog: every family is complete, consistent and strictly read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from provisioner.catalog import Catalog, FilePer, builtin_template_dir
from provisioner.errors import CatalogError, InputError
from provisioner.settings import SettingType

SITE = Path(__file__).resolve().parent / "site"
# sipXconfig model ids from seed 003 §13.6.1 that our families must accept.
SIPX_ALIASES = {
    "polycom335": "polycom/ucs",
    "polycomVVX1500": "polycom/ucs",
    "polycom6000": "polycom/ucs",
    "cisco7960": "cisco/sip79xx",
    "cisco7940": "cisco/sip79xx",
    "ciscoplus7961G": "cisco/sip79x1",
    "ciscoplus7975G": "cisco/sip79x1",
    "SPA504G": "cisco/spa5xx",
    "SPA525G": "cisco/spa5xx",
    # Bean ids of sipXcom's sipXpolycom and sipXyealink plugins.
    "polycomVVX101": "polycom/ucs",
    "polycomVVX411": "polycom/ucs",
    "polycomVVX601": "polycom/ucs",
    "yealinkPhoneSIPT19P": "yealink/tseries",
    "yealinkPhoneSIPT46G": "yealink/tseries",
    "yealinkPhoneSIPT48S": "yealink/tseries",
}


# Settings that reach templates through derived context rather than `s[...]`
# (provisioner/render/_context.py), with the text that shows a template uses them.
DERIVED = {
    "time.zone": ("tz.",),
    "sip.registrar.host": ("registrar.host",),
    "sip.registrar.port": ("registrar.port",),
    "sip.registrar.transport": ("registrar.transport",),
    "directory.tenant_lines": ("in directory",),
    "phonebooks": ("in phonebooks", "in contacts", "if phonebooks"),
    "firmware.label": ("firmware.",),
    "firmware.unmanaged": ("unmanaged",),
    "keys": ("{% if keys",),
    "modules.count": (" in modules ", "modules |"),
    "modules.kind": (" in modules ", "modules |"),
}
# Consumed by resolution itself (firmware gating; the key layout policy, which
# provisioner.keylayout turns into the placed keys templates print as `keys`),
# never by templates.
RESOLVER_ONLY = {
    "firmware.version",
    "keys.policy",
    "keys.policy.scope",
    "keys.policy.exclude_own",
    "keys.policy.sort",
    "keys.policy.label",
    "keys.policy.after",
}


def family_sources(catalog: Catalog, key: str) -> str:
    family = catalog.families[key]
    directory = builtin_template_dir() / key
    return "\n".join((directory / f.template).read_text() for f in family.files)


def test_builtin_catalog_loads(catalog: Catalog) -> None:
    assert catalog.families
    for family in catalog.families.values():
        assert family.models
        assert any(f.per is FilePer.PHONE for f in family.files), family.key


@pytest.mark.parametrize("key", sorted(Catalog.load().families))
def test_every_common_setting_is_mapped_or_declared_unsupported(catalog: Catalog, key: str) -> None:
    family = catalog.families[key]
    source = family_sources(catalog, key)
    for name, spec in catalog.common.items():
        if name in RESOLVER_ONLY or spec.server:
            continue
        used = f"'{name}'" in source or f'"{name}"' in source
        used = used or any(marker in source for marker in DERIVED.get(name, ()))
        if name in family.unsupported:
            assert not used, f"{key}: {name} is declared unsupported but its templates use it"
            assert family.unsupported[name].strip(), f"{key}: {name} needs a reason"
        else:
            assert used, f"{key}: templates never use {name} and [unsupported] does not list it"
        if spec.type is SettingType.ENUM and used and name in family.maps:
            assert set(spec.choices) <= set(family.maps[name])


@pytest.mark.parametrize("key", sorted(Catalog.load().families))
def test_family_settings_are_used(catalog: Catalog, key: str) -> None:
    source = family_sources(catalog, key)
    for spec in catalog.families[key].settings:
        assert f"'{spec.name}'" in source or f'"{spec.name}"' in source, spec.name


def test_sipxconfig_aliases(catalog: Catalog) -> None:
    for alias, key in SIPX_ALIASES.items():
        assert catalog.model(alias).family == key
        assert catalog.model(alias.upper()).family == key  # case-insensitive


def test_unknown_model_suggests(catalog: Catalog) -> None:
    with pytest.raises(InputError, match="did you mean"):
        catalog.model("vvx41")


def test_site_family_is_added(catalog: Catalog) -> None:
    site = Catalog.load(SITE)
    assert "testco/kv" in site.families
    assert set(catalog.families) < set(site.families)
    assert site.model("TESTCO100").id == "tc100"


def broken_site(tmp_path: Path, old: str, new: str) -> Path:
    site = tmp_path / "site"
    shutil.copytree(SITE, site)
    path = site / "testco" / "kv" / "family.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return site


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('label = "Test key=value phone"', 'label = "x"\nlabl = "typo"', "unknown key(s) labl"),
        ('path = "{mac}.txt"', 'path = "../{mac}.txt"', "unsafe path pattern"),
        ('path = "{mac}.txt"', 'path = "fixed.txt"', "must appear in exactly the per-phone paths"),
        ('template = "phone.txt.j2"', 'template = "missing.j2"', "template missing.j2 not found"),
        ('type = "bool"', 'type = "float"', "type must be one of"),
        ('id = "tc100"', 'id = "vvx410"', "already used by polycom/ucs model vvx410"),
        ('name = "testco.newfeature"', 'name = "other.newfeature"', "must start with 'testco.'"),
        ("default = true", "default = 3", "expected a boolean"),
        (
            '"language" = "test family"',
            '"nosuch.setting" = "x"',
            "unsupported names unknown setting",
        ),
        ("max_lines = 3", "max_lines = 0", "max_lines must be 1..64"),
        (
            '"mwi.subscribe" = "test family"',
            '"mwi.subscribe" = "test family"\n\n[supports]\ncodecs = ["pcmu", "amr"]',
            "supports.codecs has amr, not among the choices of codecs",
        ),
        (
            '"mwi.subscribe" = "test family"',
            '"mwi.subscribe" = "test family"\n\n[supports]\ncodecs = ["pcmu", "pcmu"]',
            "supports.codecs: an item is listed twice",
        ),
        (
            '"mwi.subscribe" = "test family"',
            '"mwi.subscribe" = "test family"\n\n[supports]\nlanguage = ["en"]',
            "supports.language must name a common list setting with choices",
        ),
        (
            '"mwi.subscribe" = "test family"',
            '"mwi.subscribe" = "test family"\n"codecs" = "x"\n\n[supports]\ncodecs = ["pcmu"]',
            "supports.codecs contradicts [unsupported]",
        ),
        (
            'aliases = ["testco100"]',
            'aliases = ["testco100"]\nsupports = { codecs = ["pcmu"] }',
            "model tc100: supports.codecs needs the family's own [supports] codecs",
        ),
        (
            'vars = { code = "100" }',
            'vars = { code = "100" }\nua_tokens = [100]',
            "ua_tokens: expected a list of strings",
        ),
        (
            'vars = { code = "100" }\n\n[[models]]\nid = "tc101"',
            'vars = { code = "100", ua = "TC-1" }\n\n[[models]]\nid = "tc101"\n'
            'ua_tokens = ["tc-1"]',
            "User-Agent token 'tc-1' names both tc100 and tc101",
        ),
        ('min_firmware = "2.0"', 'min_firmware = "2.0 beta"', "invalid version '2.0 beta'"),
        (
            '[[models]]\nid = "tc100"',
            '[[warnings]]\nsetting = "no.such"\nmatches = "x"\ntext = "t"\n\n'
            '[[models]]\nid = "tc100"',
            "warning names unknown setting no.such",
        ),
        (
            '[[models]]\nid = "tc100"',
            '[[warnings]]\nsetting = "language"\nmatches = "x"\nunless = "language"\n'
            'text = "t"\n\n[[models]]\nid = "tc100"',
            "warning's unless language is no bool setting",
        ),
        (
            '[[models]]\nid = "tc100"',
            '[[warnings]]\nsetting = "language"\nmatches = "("\ntext = "t"\n\n'
            '[[models]]\nid = "tc100"',
            "bad regular expression",
        ),
        ("secrets = true", 'secrets = true\nuses = ["phone"]', "expected distinct names among"),
        ('per = "model"', 'per = "model"\nuses = ["directory"]', "for per-phone files only"),
    ],
)
def test_catalog_errors_name_file_and_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    site = broken_site(tmp_path, old, new)
    with pytest.raises(CatalogError) as info:
        Catalog.load(site)
    assert message in str(info.value)
    assert "testco" in str(info.value)


def test_shared_file_clash_between_families(tmp_path: Path) -> None:
    site = broken_site(tmp_path, 'path = "testco-{code}.txt"', 'path = "000000000000.cfg"')
    (site / "testco" / "kv" / "family.toml").write_text(
        (site / "testco" / "kv" / "family.toml")
        .read_text()
        .replace('per = "model"', 'per = "family"')
    )
    with pytest.raises(CatalogError, match="declared by both"):
        Catalog.load(site)


def test_missing_site_dir(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        Catalog.load(tmp_path / "nope")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("SEP001122334455.cnf.xml", "text/xml; charset=utf-8"),
        ("Dir/CALLS.XML", "text/xml; charset=utf-8"),
        ("sip.ver", "text/plain; charset=utf-8"),
        ("0004f2123456-phone.cfg", "text/plain; charset=utf-8"),
        ("OS79XX.TXT", "text/plain; charset=utf-8"),
        ("sip.ld", "application/octet-stream"),
        ("P0S3-8-12-00.loads", "application/octet-stream"),
        ("a.v1/sip", "application/octet-stream"),
        ("noext", "application/octet-stream"),
    ],
)
def test_content_type_of_a_file_without_a_format(name: str, expected: str) -> None:
    from provisioner.catalog import content_type_of

    assert content_type_of(name) == expected
    assert content_type_of(name, default="x/y") == (expected if "text/" in expected else "x/y")


def test_rendered_files_take_their_format_s_content_type() -> None:
    # One map: a family file with no content_type of its own gets its format's.
    from provisioner.catalog import FORMAT_CONTENT_TYPES

    for family in Catalog.load().families.values():
        for file in family.files:
            assert file.content_type == FORMAT_CONTENT_TYPES[file.format], file


def test_firmware_file_suffixes_are_the_families() -> None:
    # Moved from Python (firmware/_ingest.py IMAGE_SUFFIXES) to each family's
    # [firmware] file_suffixes: together they accept what was accepted before.
    before = ".ld .rom .loads .sbn .sb2 .bin .img .ver .sgn .cfg .txt .xml .wav .png .jpg .bmp"
    suffixes = Catalog.load().firmware_suffixes
    assert sorted(suffixes) == sorted(before.split())
    assert len(set(suffixes)) == len(suffixes)


def test_dhcp_options_come_from_common_toml() -> None:
    options = Catalog.load().dhcp_options
    assert [(o.code, o.name, o.value.value) for o in options] == [
        (66, "tftp-server-name", "url_or_address"),
        (160, "polycom-provisioning", "url"),
        (150, "cisco-tftp-servers", "tftp_address"),
    ]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('value = "url"\n', 'value = "link"\n', "value must be one of url_or_address, url"),
        ("code = 160\n", "code = 66\n", "a DHCP option code is given twice"),
        ('kea_type = "string"\n', "", "give both isc_type and kea_type, or neither"),
    ],
)
def test_dhcp_option_errors(tmp_path: Path, old: str, new: str, message: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    text = (builtin_template_dir() / "common.toml").read_text()
    assert old in text
    (site / "common.toml").write_text(text.replace(old, new, 1))
    with pytest.raises(CatalogError, match=message):
        Catalog.load(site)


def test_a_bad_file_suffix_is_a_catalog_error(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(builtin_template_dir() / "yealink", site / "yealink")
    path = site / "yealink" / "tseries" / "family.toml"
    path.write_text(path.read_text().replace('file_suffixes = [".rom"]', 'file_suffixes = ["rom"]'))
    with pytest.raises(CatalogError, match="'rom' must be a dot and lower-case letters or digits"):
        Catalog.load(site)


@pytest.mark.parametrize(
    ("magic", "message"),
    [
        ('{ ".rom" = "ad24ec0" }', r"1 to 64 bytes in hexadecimal, not 'ad24ec0'"),
        ('{ ".rom" = "" }', r"1 to 64 bytes in hexadecimal, not ''"),
        ('{ ".rom" = 7 }', r"1 to 64 bytes in hexadecimal, not 7"),
        ('{ "rom" = "ad" }', r"'rom' must be a dot and lower-case letters or digits"),
    ],
)
def test_a_bad_firmware_magic_is_a_catalog_error(tmp_path: Path, magic: str, message: str) -> None:
    site = tmp_path / "site"
    shutil.copytree(builtin_template_dir() / "yealink", site / "yealink")
    path = site / "yealink" / "tseries" / "family.toml"
    text = path.read_text()
    assert 'magic = { ".rom" = "ad24ec0b" }' in text
    path.write_text(text.replace('{ ".rom" = "ad24ec0b" }', magic))
    with pytest.raises(CatalogError, match=message):
        Catalog.load(site)


def test_yealink_images_are_checked_by_their_rom_header() -> None:
    (family,) = [f for f in Catalog.load().families.values() if f.vendor == "yealink"]
    assert family.firmware.magic == ((".rom", bytes.fromhex("ad24ec0b")),)


@pytest.mark.parametrize("key", sorted(Catalog.load().families))
def test_every_supported_item_has_a_vendor_name(catalog: Catalog, key: str) -> None:
    """A list item a model takes is in the family's [maps.<setting>], so it always renders."""
    family = catalog.families[key]
    for model in family.models:
        for name in family.supports:
            items = catalog.supported_items(name, model)
            assert items, f"{key} {model.id}: supports.{name} is empty; use [unsupported]"
            assert set(items) <= set(family.maps.get(name, {})), f"{key} {model.id}: {name}"


def test_supported_codecs_per_model(catalog: Catalog) -> None:
    assert catalog.restricted_lists == {"codecs"}
    assert "opus" in (catalog.supported_items("codecs", catalog.model("t54w")) or ())
    assert "opus" not in (catalog.supported_items("codecs", catalog.model("t46s")) or ())
    assert "g722" not in (catalog.supported_items("codecs", catalog.model("spip331")) or ())
    # A family that cannot express a codec list takes no codec at all.
    assert catalog.supported_items("codecs", catalog.model("cp7960")) == ()
    assert catalog.supported_items("codecs", catalog.model("cp7961g")) == ()
    assert catalog.supported_items("language", catalog.model("t46s")) is None

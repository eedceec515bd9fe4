"""Image choice per model, versions from sets, and matching what phones report."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.catalog import Catalog, FirmwareDef, ImageRule
from provisioner.firmware import choose_image, derive_version, served_path, version_matches

CATALOG = Catalog.load()


@pytest.mark.parametrize("key", sorted(CATALOG.families))
def test_every_example_image_is_chosen_for_some_model(key: str) -> None:
    """The names a family documents as real are recognised by its image rules."""
    family = CATALOG.families[key]
    assert family.firmware.images, f"{key} has no image rules"
    for example in family.firmware.examples:
        chosen = {choose_image(family.firmware, m.vars, [example]) for m in family.models}
        assert chosen - {None}, f"{key}: no model takes {example}"


@pytest.mark.parametrize(
    ("model", "files", "expected"),
    [
        # Polycom: the part-number macro when the release is split, else sip.ld.
        ("vvx410", ["sip.ld", "sip.ver"], "sip.ld"),
        ("vvx410", ["3111-46161-001.sip.ld", "sip.ver"], "[PHONE_PART_NUMBER].sip.ld"),
        ("vvx410", ["6.4.6/3111-46161-001.sip.ld"], "6.4.6/[PHONE_PART_NUMBER].sip.ld"),
        ("vvx410", ["sip.ver", "readme.txt"], None),
        # Yealink: by the firmware number of the model's hardware (vars.fw).
        (
            "t46s",
            ["T54W(T57W,T53W,T53)-96.85.0.5.rom", "T46S(T48S)-66.85.0.5.rom"],
            "T46S(T48S)-66.85.0.5.rom",
        ),
        (
            "t54w",
            ["T54W(T57W,T53W,T53)-96.85.0.5.rom", "T46S(T48S)-66.85.0.5.rom"],
            "T54W(T57W,T53W,T53)-96.85.0.5.rom",
        ),
        ("t46s", ["t46s-166.85.0.5.rom"], None),
        ("t46s", ["66.85.0.5.rom"], "66.85.0.5.rom"),
        # Cisco MPP: load prefix per series; 8845/8865 have their own.
        (
            "cp8841-3pcc",
            ["sip8845_65.12-0-7.loads", "sip88xx.12-0-7.loads"],
            "sip88xx.12-0-7.loads",
        ),
        (
            "cp8845-3pcc",
            ["sip8845_65.12-0-7.loads", "sip88xx.12-0-7.loads"],
            "sip8845_65.12-0-7.loads",
        ),
        ("cp7841-3pcc", ["sip88xx.12-0-7.loads"], None),
        # Cisco SPA: one image for the 50x, one for the 525G.
        ("spa504g", ["spa525g-7-5-5.bin", "spa50x-30x-7-5-5.bin"], "spa50x-30x-7-5-5.bin"),
        ("spa525g", ["spa525g-7-5-5.bin", "spa50x-30x-7-5-5.bin"], "spa525g-7-5-5.bin"),
        # Cisco 79x1: by load series; 79xx: the SIP load, never the SCCP one.
        ("cp7961g", ["SIP45.9-4-2.loads", "SIP41.9-4-2.loads"], "SIP41.9-4-2.loads"),
        ("cp7960", ["P003-8-12-00.sbn", "P0S3-8-12-00.loads"], "P0S3-8-12-00.loads"),
        ("cp7960", ["sub/P0S3-8-12-00.loads"], None),  # fetched from the root: top level only
    ],
)
def test_choose_image(model: str, files: list[str], expected: str | None) -> None:
    definition = CATALOG.model(model)
    family = CATALOG.family_of(definition)
    assert choose_image(family.firmware, definition.vars, files) == expected


def test_a_rule_needing_a_variable_the_model_lacks_is_skipped() -> None:
    firmware = FirmwareDef(images=(ImageRule(match="{nope}.bin"), ImageRule(match="any.bin")))
    assert choose_image(firmware, {}, ["x.bin", "any.bin"]) == "any.bin"


def test_placeholders_are_escaped() -> None:
    firmware = FirmwareDef(images=(ImageRule(match="{name}"),))
    assert choose_image(firmware, {"name": "a.b"}, ["axb"]) is None
    assert choose_image(firmware, {"name": "a.b"}, ["a.b"]) == "a.b"


def _reader(files: dict[str, bytes]) -> Callable[[str], bytes]:
    return lambda path: files[path]


@pytest.mark.parametrize(
    ("vendor", "files", "expected"),
    [
        ("polycom", {"sip.ver": b"6.4.6.2222\r\n", "sip.ld": b""}, "6.4.6.2222"),
        ("polycom", {"sip.ver": b"not a version\n", "sip.ld": b""}, ""),
        ("polycom", {"sip.ld": b""}, ""),
        ("yealink", {"T46S(T48S)-66.85.0.5.rom": b""}, "66.85.0.5"),
        ("yealink", {"T46S-66.85.0.5.rom": b"", "T54W-96.85.0.5.rom": b""}, "85.0.5"),
        ("yealink", {"T46S-66.85.0.5.rom": b"", "T54W-96.86.0.5.rom": b""}, "0.5"),
        ("cisco", {"sip88xx.12-0-7MPP0201-66.loads": b""}, ""),
    ],
)
def test_derive_version(vendor: str, files: dict[str, bytes], expected: str) -> None:
    definitions = [f.firmware for f in CATALOG.families.values() if f.vendor == vendor]
    assert derive_version(definitions, files, _reader(files)) == expected


@pytest.mark.parametrize(
    ("version", "reported", "expected"),
    [
        ("5.9.1.0615", "5.9.1.0615", True),
        ("5.9.1.0615", "5.9.1.0614", False),
        ("85.0.5", "66.85.0.5", True),
        ("85.0.5", "66.84.0.5", False),
        ("66.85.0.5", "85.0.5", False),
        ("", "5.9.1", False),
        ("12.0.7", "", False),
        # Yealink: a multi-platform set names the tail, the phone its platform first.
        ("86.0.20", "66.86.0.20", True),
        ("86.0.20", "96.86.0.20", True),
        ("66.86.0.20", "96.86.0.20", False),
        # A shortened prefix names no one image: not a match.
        ("5.9", "5.9.1.0615", False),
        ("12", "12.0.7", False),
        # Components compare whole, not as text tails.
        ("6.0.20", "66.86.0.20", False),
        ("1.0615", "5.9.1.0615", True),
        # Cisco SPA: the letter is a release of its own (User-Agent Cisco/SPA504G-7.4.9c).
        ("7.4.9c", "7.4.9c", True),
        ("7.4.9c", "7.4.9C", True),
        ("7.4.9", "7.4.9c", False),
        ("7.4.9c", "7.4.9", False),
        ("7.4.9a", "7.4.9c", False),
    ],
)
def test_version_matches(version: str, reported: str, expected: bool) -> None:
    assert version_matches(version, reported) is expected


versions = st.lists(st.integers(0, 999).map(str), min_size=1, max_size=5).map(".".join)


@given(versions, versions)
def test_a_version_matches_itself_behind_any_prefix(version: str, prefix: str) -> None:
    assert version_matches(version, version)
    assert version_matches(version, f"{prefix}.{version}")


def test_served_path() -> None:
    assert served_path("polycom", "6.4.6", "sip.ld") == "fw/polycom/6.4.6/sip.ld"

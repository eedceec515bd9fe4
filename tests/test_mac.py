"""MAC parsing: the four accepted notations, refusals, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.errors import InputError
from provisioner.mac import format_mac, is_mac, parse_mac

CASES = [
    ("00:04:f2:aa:bb:cc", "0004f2aabbcc"),
    ("00-04-F2-AA-BB-CC", "0004f2aabbcc"),
    ("0004.f2aa.bbcc", "0004f2aabbcc"),
    ("0004F2AABBCC", "0004f2aabbcc"),
    ("  0004f2aabbcc\n", "0004f2aabbcc"),
]

BAD = [
    "",
    "0004f2aabbc",  # 11 digits
    "0004f2aabbccd",  # 13 digits
    "00:04:f2:aa:bb",  # 5 groups
    "00:04-f2:aa:bb:cc",  # mixed separators
    "0004.f2aa.bbcc.dd",
    "00:04:f2:aa:bb:cg",  # not hex
    "00 04 f2 aa bb cc",
    "0004f2aabbcc/../x",
]


@pytest.mark.parametrize(("text", "canonical"), CASES)
def test_accepted_forms(text: str, canonical: str) -> None:
    assert parse_mac(text) == canonical


@pytest.mark.parametrize("text", BAD)
def test_refused_forms_name_the_accepted_ones(text: str) -> None:
    with pytest.raises(InputError, match="expected aa:bb:cc:dd:ee:ff"):
        parse_mac(text)


def test_format_styles() -> None:
    mac = "0004f2aabbcc"
    assert format_mac(mac, "upper") == "0004F2AABBCC"
    assert format_mac(mac, "colon") == "00:04:f2:aa:bb:cc"
    assert format_mac(mac, "dash") == "00-04-F2-AA-BB-CC"
    assert format_mac(mac, "dot") == "0004.f2aa.bbcc"
    with pytest.raises(ValueError, match="unknown MAC style"):
        format_mac(mac, "weird")
    with pytest.raises(ValueError, match="not a canonical MAC"):
        format_mac("0004F2AABBCC")


macs = st.text(alphabet="0123456789abcdef", min_size=12, max_size=12)


@given(macs, st.sampled_from(["bare", "upper", "colon", "dash", "dot"]), st.booleans())
def test_round_trip(mac: str, style: str, upper: bool) -> None:
    text = format_mac(mac, style)
    text = text.upper() if upper else text.lower()
    assert parse_mac(text) == mac
    assert is_mac(parse_mac(text))


@given(st.text(max_size=20))
def test_anything_else_is_refused_or_canonical(text: str) -> None:
    try:
        result = parse_mac(text)
    except InputError:
        return
    assert is_mac(result)

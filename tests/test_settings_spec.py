"""Setting types: what each accepts, what it refuses, and how errors read."""

from __future__ import annotations

import re
from typing import Any

import pytest

from provisioner.errors import InputError
from provisioner.settings import SettingSpec, SettingType, Value, parse_version
from provisioner.store._read import decode_value, encode_value


def spec(kind: SettingType, **extra: Any) -> SettingSpec:
    return SettingSpec(name="x.y", type=kind, default="", label="X", **extra)


ACCEPT: list[tuple[SettingSpec, object, bool, Value]] = [
    (spec(SettingType.BOOL), True, False, True),
    (spec(SettingType.BOOL), "yes", True, True),
    (spec(SettingType.BOOL), "off", True, False),
    (spec(SettingType.INT, minimum=0, maximum=10), 10, False, 10),
    (spec(SettingType.INT, minimum=0, maximum=10), " 7", True, 7),
    (spec(SettingType.ENUM, choices=("a", "b")), "b", False, "b"),
    (spec(SettingType.STRING, pattern=re.compile(r"\d+")), "123", False, "123"),
    (spec(SettingType.STRING, pattern=re.compile(r"\d+")), "", False, ""),
    (spec(SettingType.HOST), "sip.example.com", False, "sip.example.com"),
    (spec(SettingType.HOST), "192.0.2.1", False, "192.0.2.1"),
    (spec(SettingType.HOST), "2001:db8::1", False, "2001:db8::1"),
    (spec(SettingType.HOST), "", False, ""),
    (spec(SettingType.IP), "::1", False, "::1"),
    (
        spec(SettingType.URL),
        "https://prov.example.com:8443/p/",
        False,
        "https://prov.example.com:8443/p/",
    ),
    (spec(SettingType.URL), "tftp://10.0.0.1", False, "tftp://10.0.0.1"),
    (spec(SettingType.TIMEZONE), "Europe/Paris", False, "Europe/Paris"),
    (spec(SettingType.LIST, choices=("a", "b", "c")), ["c", "a"], False, ("c", "a")),
    (spec(SettingType.LIST, choices=("a", "b", "c")), ("b",), False, ("b",)),
    (spec(SettingType.LIST, choices=("a", "b", "c")), [], False, ()),
    (spec(SettingType.LIST, choices=("a", "b", "c")), " c , b", True, ("c", "b")),
    (spec(SettingType.LIST, choices=("a", "b", "c")), "", True, ()),
    (
        spec(SettingType.LIST, pattern=re.compile(r"[a-z]+")),
        ["sales", "hq"],
        False,
        ("sales", "hq"),
    ),
]


@pytest.mark.parametrize(("setting", "raw", "from_text", "expected"), ACCEPT)
def test_accepts(setting: SettingSpec, raw: object, from_text: bool, expected: Value) -> None:
    value = setting.coerce(raw, scope="tenant:t", from_text=from_text)
    assert value == expected
    assert type(value) is type(expected)


REFUSE: list[tuple[SettingSpec, object, bool, str]] = [
    (spec(SettingType.BOOL), 1, False, "expected a boolean"),
    (spec(SettingType.BOOL), "true", False, "expected a boolean"),
    (spec(SettingType.BOOL), "maybe", True, "expected a boolean"),
    (spec(SettingType.INT), True, False, "expected an integer"),
    (spec(SettingType.INT), "10", False, "expected an integer"),
    (spec(SettingType.INT), "1e3", True, "expected an integer"),
    (spec(SettingType.INT, minimum=0, maximum=10), 11, False, "above the maximum 10"),
    (spec(SettingType.INT, minimum=0, maximum=10), -1, False, "below the minimum 0"),
    (spec(SettingType.ENUM, choices=("a", "b")), "c", False, "not one of the choices"),
    (spec(SettingType.STRING), "a\nb", False, "control character U+000A"),
    (spec(SettingType.STRING), "a\u2028b", False, "control character U+2028"),
    (spec(SettingType.STRING, max_length=3), "abcd", False, "longer than 3"),
    (spec(SettingType.STRING, pattern=re.compile(r"\d+")), "12a", False, "does not match"),
    (spec(SettingType.STRING), 5, False, "expected text"),
    (spec(SettingType.HOST), "bad host", False, "not a host name"),
    (spec(SettingType.HOST), "-lead.example", False, "not a host name"),
    (spec(SettingType.IP), "example.com", False, "not an IP address"),
    (spec(SettingType.URL), "javascript:alert(1)", False, "no supported scheme"),
    (spec(SettingType.URL), "http://exa mple/", False, "white space"),
    (spec(SettingType.URL), "http:///nohost", False, "no valid host"),
    (spec(SettingType.URL), "http://h:99999/", False, "not a valid URL"),
    (spec(SettingType.TIMEZONE), "Mars/Base", False, "not a known time zone"),
    (spec(SettingType.LIST, choices=("a", "b")), "a", False, "expected a list"),
    (spec(SettingType.LIST, choices=("a", "b")), ["a", "d"], False, "'d' is not one of"),
    (spec(SettingType.LIST, choices=("a", "b")), ["a", "a"], False, "'a' is listed twice"),
    (spec(SettingType.LIST, choices=("a", "b")), ["a", 1], False, "expected text items"),
    (spec(SettingType.LIST, choices=("a", "b"), maximum=1), ["a", "b"], False, "more than 1"),
    (spec(SettingType.LIST, choices=("a", "b")), "a,,b", True, "is not one of"),
    (spec(SettingType.LIST, pattern=re.compile(r"[a-z]+")), ["ok", "Bad"], False, "does not match"),
    (spec(SettingType.LIST), ["x", ""], False, "an item is empty"),
    (spec(SettingType.LIST), ["a\nb"], False, "control character U+000A"),
]


@pytest.mark.parametrize(("setting", "raw", "from_text", "message"), REFUSE)
def test_refuses_naming_setting_scope_and_allowed(
    setting: SettingSpec, raw: object, from_text: bool, message: str
) -> None:
    with pytest.raises(InputError) as info:
        setting.coerce(raw, scope="phone:0004f2aabbcc", from_text=from_text)
    text = str(info.value)
    assert message in text
    assert text.startswith("setting x.y at phone:0004f2aabbcc: ")
    assert "allowed: " + setting.allowed() in text


def test_firmware_gating() -> None:
    gated = spec(
        SettingType.STRING, min_firmware=parse_version("5.0"), max_firmware=parse_version("6.4")
    )
    assert not gated.gated_out(None)
    assert gated.gated_out(parse_version("4.9.9"))
    assert not gated.gated_out(parse_version("5.0"))
    assert not gated.gated_out(parse_version("6.4"))
    assert gated.gated_out(parse_version("6.4.1"))
    assert gated.gated_out(parse_version("6.4a"))


def test_version_order_keeps_letters() -> None:
    """SPA firmware letters are releases of their own: 7.4.9 < 7.4.9a < 7.4.9c < 7.4.10."""
    order = ["7.4", "7.4.9", "7.4.9a", "7.4.9C", "7.4.10", "7.5.1", "12.0.7"]
    assert sorted(order, key=parse_version) == order
    assert parse_version("7.4.9c") == parse_version("7.4.9C")
    assert parse_version("7.4.9c") != parse_version("7.4.9")
    assert parse_version("5.9.1.0615") == ((5, ""), (9, ""), (1, ""), (615, ""))


@pytest.mark.parametrize("text", ["", "7.", ".7", "a7", "7.4-9", "7..4", "7.4.9 c"])
def test_version_refused(text: str) -> None:
    with pytest.raises(InputError, match="invalid version"):
        parse_version(text)


def test_list_values_survive_storage() -> None:
    # JSON has no tuples: a stored list must come back as the tuple coerce made.
    value = spec(SettingType.LIST, choices=("g722", "pcmu")).coerce(["pcmu", "g722"], scope="t")
    assert decode_value(encode_value(value)) == ("pcmu", "g722")
    assert type(decode_value(encode_value(value))) is tuple

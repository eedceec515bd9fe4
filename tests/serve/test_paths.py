"""Request path normalisation: every traversal spelling is refused."""

from __future__ import annotations

import pytest

from provisioner.catalog import Catalog
from provisioner.paths import PathIndex, normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0004f2aabbcc.cfg", "0004f2aabbcc.cfg"),
        ("/0004f2aabbcc.cfg", "0004f2aabbcc.cfg"),
        ("//0004f2aabbcc.cfg", "0004f2aabbcc.cfg"),
        ("./SIP000D28AABBCC.cnf", "SIP000D28AABBCC.cnf"),
        ("/tok/SEP001B54AABBCC.cnf.xml", "tok/SEP001B54AABBCC.cnf.xml"),
        ("T54W(T57W,T53W)-96.85.0.5.rom", "T54W(T57W,T53W)-96.85.0.5.rom"),
    ],
)
def test_accepted(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "/",
        "../etc/passwd",
        "/../etc/passwd",
        "a/../../etc/passwd",
        "..",
        "a/./b",
        "a//b",
        "..\\..\\windows\\win.ini",
        "a\\b",
        "%2e%2e/etc/passwd",  # still encoded after the HTTP layer's one decoding
        "%252e%252e/etc/passwd",
        "0004f2aabbcc.cfg\x00.txt",
        "0004f2aabbcc.cfg\n",
        "a b.cfg",
        "x" * 256,
        "C:/boot.ini",
        "~root/.ssh",
    ],
)
def test_refused(raw: str) -> None:
    assert normalize(raw) is None, raw


def test_patterns_match_mac_in_either_case(catalog: Catalog) -> None:
    index = PathIndex(catalog)
    lower = index.match("sep001b54aabbcc.cnf.xml")
    upper = index.match("SEP001B54AABBCC.CNF.XML")
    assert [m.mac for m in lower] == [m.mac for m in upper] == ["001b54aabbcc"]
    assert {m.family.key for m in index.match("0004f2aabbcc.cfg")} == {
        "polycom/ucs",
        "yealink/tseries",
    }
    (spa,) = index.match("spa504G.cfg")
    assert [m.id for m in spa.models] == ["spa504g"]
    assert index.match("0004f2aabbcc-app.log")[0].upload is not None
    assert index.match("nothing.txt") == []


def test_upload_patterns_name_the_family_and_mac(catalog: Catalog) -> None:
    index = PathIndex(catalog)
    ((family, upload, mac),) = index.uploads("0004F2AABBCC-App.log")
    assert (family.key, upload.path, mac) == ("polycom/ucs", "{mac}-app.log", "0004f2aabbcc")
    assert index.uploads("0004f2aabbcc.cfg") == []  # a rendered file, not an upload
    assert index.uploads("0004f2aabbc-app.log") == []  # eleven digits: no MAC

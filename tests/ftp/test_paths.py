"""Which client paths may reach the backend (provisioner.ftp._paths)."""

from __future__ import annotations

import pytest

from provisioner.ftp._paths import MAX_PATH, backend_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("config.cfg", "config.cfg"),
        ("/config.cfg", "config.cfg"),
        ("./config.cfg", "config.cfg"),
        ("Cisco/SEP001122334455.cnf.xml", "Cisco/SEP001122334455.cnf.xml"),
        ("/etc/passwd", "etc/passwd"),  # a name like any other: nothing is joined onto a disk path
        ("%2e%2e/x", "%2e%2e/x"),  # nothing is decoded
        ("a b(1).cfg", "a b(1).cfg"),
        ("a" * MAX_PATH, "a" * MAX_PATH),
        ("/" + "a" * (MAX_PATH - 1), "a" * (MAX_PATH - 1)),
    ],
)
def test_accepted(raw: str, expected: str) -> None:
    assert backend_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "/",
        "./",
        ".",
        "..",
        "../x",
        "x/..",
        "a/../b",
        "a/./b",
        "//x",  # only one leading "/" is stripped
        "/./x",
        ".//x",
        "././x",
        "a//b",
        "a/",
        "..\\x",
        "a\\b",
        "a\x00b",
        "a\nb",
        "a\rb",
        "a\tb",
        "a\x7fb",
        "a\ufffdb",  # bytes that were not UTF-8
        "a" * (MAX_PATH + 1),
    ],
)
def test_refused(raw: str) -> None:
    assert backend_path(raw) is None

"""Netascii conversion (RFC 1350 §1 / RFC 764)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.tftp import from_netascii, to_netascii


@pytest.mark.parametrize(
    ("unix", "wire"),
    [
        (b"", b""),
        (b"plain", b"plain"),
        (b"a\nb\n", b"a\r\nb\r\n"),
        (b"a\rb", b"a\r\0b"),
        (b"dos\r\n", b"dos\r\0\r\n"),  # a CR before LF is a real CR in the file
        (b"\r\r\n\n", b"\r\0\r\0\r\n\r\n"),
        (b"\0\n\0", b"\0\r\n\0"),
    ],
)
def test_conversion(unix: bytes, wire: bytes) -> None:
    assert to_netascii(unix) == wire
    assert from_netascii(wire) == unix


def test_stray_cr_is_kept() -> None:
    assert from_netascii(b"a\rb") == b"a\rb"


@given(st.binary())
def test_round_trip(content: bytes) -> None:
    wire = to_netascii(content)
    assert from_netascii(wire) == content
    # On the wire every CR is followed by LF or NUL, and every LF follows a CR.
    for i, byte in enumerate(wire):
        if byte == 0x0D:
            assert wire[i + 1 : i + 2] in (b"\n", b"\0")
        if byte == 0x0A:
            assert wire[i - 1 : i] == b"\r"

"""Which phone a verified client certificate names (``_client_cert.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.serve._client_cert import certificate_mac


def cert(cn: str | None = None, *alt: tuple[str, str]) -> dict[str, Any]:
    """A certificate as :meth:`ssl.SSLSocket.getpeercert` returns a verified one."""
    subject = [(("organizationName", "Phones Inc."),)]
    if cn is not None:
        subject.append((("commonName", cn),))
    return {"subject": tuple(subject), "subjectAltName": alt}


@pytest.mark.parametrize(
    ("peercert", "expected"),
    [
        (cert("0004f2123456"), "0004f2123456"),
        (cert("0004F2123456"), "0004f2123456"),
        (cert("00:04:F2:12:34:56"), "0004f2123456"),
        (cert("00-04-f2-12-34-56"), "0004f2123456"),
        (cert("SEP0004F2123456"), "0004f2123456"),  # a prefix of letters beyond f
        (cert("Polycom device 0004f2123456"), "0004f2123456"),
        (cert(None, ("DNS", "0004f2123456.phones.example")), "0004f2123456"),
        (cert("0004f2123456", ("URI", "urn:dev:mac:0004f2123456")), "0004f2123456"),
        # No single MAC: binds to no phone.
        (cert("Yealink generic certificate"), None),
        (cert("0004f2123456", ("DNS", "805ec0123456.example")), None),
        (cert("0004f21234567"), None),  # 13 hex digits: not a MAC
        (cert("a0004f2123456"), None),  # a longer hex run
        (cert("0004f212345"), None),  # 11
        (cert(None), None),
        ({}, None),  # what getpeercert() gives for an unverified or absent certificate
        (None, None),  # plain HTTP: no TLS at all
    ],
)
def test_certificate_mac(peercert: dict[str, Any] | None, expected: str | None) -> None:
    assert certificate_mac(peercert) == expected


def test_other_subject_fields_are_not_read() -> None:
    peercert = {"subject": ((("serialNumber", "0004f2123456"),),), "subjectAltName": ()}
    assert certificate_mac(peercert) is None

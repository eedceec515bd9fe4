"""Which transports may carry a phone's own files (``transport_refusal``), as a table.

Every protocol × every protection an admin can set, with and without
``access.weak_transports``. The gateway and ``explain`` both use this rule.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from provisioner.serve import access_from, transport_refusal
from provisioner.serve._access import networks
from provisioner.serve._model import Access, Protocol
from tests.serve.test_decide import OPEN

_OPEN = OPEN  # an open phone: no credentials, TFTP on (shared with the decision tables)
_PASSWORD = replace(_OPEN, http_password="http-pass-1234")
_WEAK = replace(_PASSWORD, weak_transports=True)
_TLS = replace(_WEAK, tls_required=True)
_CERT = replace(_WEAK, client_cert=True)
_NO_TFTP = replace(_OPEN, tftp_enabled=False)

H, S, T, F = Protocol.HTTP, Protocol.HTTPS, Protocol.TFTP, Protocol.FTP

# (access, protocol) -> the setting the refusal names, or None when allowed.
TABLE = [
    (_OPEN, H, None),
    (_OPEN, S, None),
    (_OPEN, T, None),
    (_OPEN, F, None),
    (_PASSWORD, H, None),
    (_PASSWORD, S, None),
    (_PASSWORD, T, "access.http.password"),
    (_PASSWORD, F, "access.http.password"),
    (_WEAK, H, None),
    (_WEAK, S, None),
    (_WEAK, T, None),
    (_WEAK, F, None),
    (_TLS, H, "access.tls_required"),
    (_TLS, S, None),
    (_TLS, T, "access.tls_required"),
    (_TLS, F, "access.tls_required"),
    (_CERT, H, "access.client_cert"),
    (_CERT, S, None),
    (_CERT, T, "access.client_cert"),
    (_CERT, F, "access.client_cert"),
    (_NO_TFTP, T, "access.tftp.enabled"),
    (_NO_TFTP, F, None),
]


@pytest.mark.parametrize(("access", "protocol", "setting"), TABLE)
def test_transport_refusal_table(access: Access, protocol: Protocol, setting: str | None) -> None:
    reason = transport_refusal(access, protocol)
    if setting is None:
        assert reason is None
    else:
        assert reason is not None
        assert setting in reason


def test_the_table_covers_every_protocol_for_every_access() -> None:
    accesses = {id(a): a for a, _, _ in TABLE if a is not _NO_TFTP}
    for access in accesses.values():
        assert {p for a, p, _ in TABLE if a is access} == set(Protocol)


def test_access_from_resolved_values() -> None:
    values: dict[str, object] = {
        "access.http.user": "",
        "access.http.password": "http-pass-1234",
        "access.http.allow": "10.0.0.0/8",
        "access.tls_required": False,
        "access.client_cert": "off",
        "access.tftp.enabled": True,
        "access.tftp.allow": "",
        "access.ftp.allow": "",
        "access.weak_transports": True,
        "uploads.enabled": True,
        "uploads.unauthenticated": False,
    }
    access = access_from(values)  # type: ignore[arg-type]
    assert access.user("0004f2000001") == "0004f2000001"  # empty: the MAC
    named = access_from({**values, "access.http.user": "phone"})  # type: ignore[dict-item]
    assert named.user("0004f2000001") == "phone"
    assert access.weak_transports
    assert not access.open_uploads
    assert [str(n) for n in access.http_allow] == ["10.0.0.0/8"]


def test_phones_with_one_allowlist_share_its_parsed_networks() -> None:
    first, second = networks("10.0.0.0/8, 192.0.2.0/24"), networks("10.0.0.0/8, 192.0.2.0/24")
    assert first is second  # one parsed tuple for every phone of a scope, not one each
    assert [str(n) for n in first] == ["10.0.0.0/8", "192.0.2.0/24"]
    assert networks("") == ()

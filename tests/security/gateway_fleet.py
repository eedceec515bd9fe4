"""What the gateway security tests share: a fleet, curl from chosen addresses, bans.

Every address in 127.0.0.0/8 is local on Linux, so ``curl --interface
127.x.y.z`` plays a client on another host (an attacker, a phone behind a
NAT) against a real ``provisioner serve`` without leaving the machine.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.peers import fetch_with_curl
from tests.serve_process import run_cli_in_process

__all__ = [
    "BANNED",
    "FTP_PASSWORD",
    "FTP_USER",
    "HTTP_PASSWORD",
    "PROTECTED",
    "UNPROTECTED",
    "apply_fleet",
    "bans",
    "curl_from",
    "fleet",
]

PROTECTED = "805ec0000001"  # Yealink T46S with an HTTP password
UNPROTECTED = "0004f2000002"  # Polycom VVX 410 without one (the traditional LAN set-up)
HTTP_PASSWORD = "http-pass-0001"
FTP_USER, FTP_PASSWORD = "acme-ftp", "ftp-pass-1234"
# curl's status when the server closes a banned address's connection unread.
BANNED = 0


def fleet(
    *,
    tenant_settings: Mapping[str, object] | None = None,
    extra_phones: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One tenant with a protected Yealink and an unprotected Polycom, both with SIP lines."""
    settings: dict[str, object] = {
        "access.tftp.enabled": True,
        "access.ftp.enabled": True,
        "access.ftp.user": FTP_USER,
        "access.ftp.password": FTP_PASSWORD,
        "notify.jitter_ms": 0,
        "notify.delay_seconds": 0,
        "notify.retries": 0,
    }
    settings.update(tenant_settings or {})
    return {
        "tenants": [{"name": "acme", "sip_domain": "acme.example.com", "settings": settings}],
        "phones": [
            {
                "tenant": "acme",
                "mac": PROTECTED,
                "model": "t46s",
                "settings": {"access.http.password": HTTP_PASSWORD},
                "lines": [{"user": "202", "password": "sip-secret-202"}],
            },
            {
                "tenant": "acme",
                "mac": UNPROTECTED,
                "model": "vvx410",
                "lines": [{"user": "201", "password": "sip-secret-201"}],
            },
            *(extra_phones or []),
        ],
    }


def apply_fleet(data: Path, document: Mapping[str, Any], *global_options: str) -> None:
    """Write ``document`` as a JSON fleet file; ``init`` and ``apply`` it in this process."""
    data.mkdir(parents=True, exist_ok=True)
    path = data / "fleet.json"
    path.write_text(json.dumps(document))
    run_cli_in_process(data, *global_options, "init")
    run_cli_in_process(data, *global_options, "apply", str(path))


def curl_from(address: str, url: str, *args: str) -> tuple[int, bytes]:
    """``curl`` from a local ``address``: (status, body)."""
    return fetch_with_curl("--interface", address, *args, url)


def bans(data: Path, *global_options: str) -> set[str]:
    """Addresses banned in the database, per ``provisioner ban list --json``."""
    out = run_cli_in_process(data, *global_options, "ban", "list", "--json").stdout
    return {entry["address"] for entry in json.loads(out)}


def udp_socket(address: str) -> socket.socket:
    """A UDP socket bound to ``address`` on a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    return sock

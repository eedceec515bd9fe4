"""A phone whose files need credentials is never served over TFTP or a shared FTP login.

Measured before the fix: a Yealink file that HTTP protects with a digest
password (it holds ``account.1.password`` and the admin password) was handed
to any allowed address over TFTP and to the tenant's shared FTP login. Now
those transports refuse it unless ``access.weak_transports`` says otherwise
for its scope, and ``explain`` says why a transport is refused.
"""

from __future__ import annotations

import ftplib
import io
import json
import socket
import subprocess
from pathlib import Path

from tests.peers import free_port, need
from tests.security.gateway_fleet import (
    FTP_PASSWORD,
    FTP_USER,
    HTTP_PASSWORD,
    PROTECTED,
    UNPROTECTED,
    apply_fleet,
    curl_from,
    fleet,
)
from tests.serve_process import run_cli_in_process, serving
from tests.waiting import eventually


def _tftp(port: int, name: str, target: Path) -> bytes | None:
    """Fetch ``name`` with tftp-hpa; its bytes, or None when refused."""
    target.unlink(missing_ok=True)
    result = subprocess.run(
        [need("tftp"), "127.0.0.1", str(port), "-m", "binary", "-c", "get", name, str(target)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    refused = "Error code" in result.stdout + result.stderr or not target.exists()
    return None if refused else target.read_bytes()


def _ftp(port: int, name: str) -> bytes | None:
    with ftplib.FTP() as client:
        client.connect("127.0.0.1", port, timeout=10)
        client.login(FTP_USER, FTP_PASSWORD)
        out = io.BytesIO()
        try:
            client.retrbinary(f"RETR {name}", out.write)
        except ftplib.error_perm:
            return None
        return out.getvalue()


def test_tftp_and_ftp_refuse_protected_phones_unless_opted_in(tmp_path: Path) -> None:
    apply_fleet(tmp_path, fleet())
    tftp, ftp = free_port(socket.SOCK_DGRAM), free_port()
    got = tmp_path / "got.cfg"
    options = ["--poll-interval", "0.2", "--tftp-port", str(tftp), "--ftp-port", str(ftp)]
    with serving(tmp_path, *options) as server:
        url = f"http://127.0.0.1:{server.http}/{PROTECTED}.cfg"
        code, served = curl_from("127.0.0.1", url, "--digest", "-u", f"{PROTECTED}:{HTTP_PASSWORD}")
        assert code == 200
        assert b"sip-secret-202" in served
        assert _tftp(tftp, f"{PROTECTED}.cfg", got) is None
        assert _ftp(ftp, f"{PROTECTED}.cfg") is None
        # The phone without credentials is still served by both.
        assert _tftp(tftp, f"{UNPROTECTED}.cfg", got) is not None
        assert _ftp(ftp, f"{UNPROTECTED}.cfg") is not None

        explained = json.loads(run_cli_in_process(tmp_path, "explain", PROTECTED, "--json").stdout)
        transports = explained["transports"]
        assert transports["https"] == {"served": True, "reason": ""}
        assert transports["http"] == {"served": True, "reason": ""}
        for name in ("tftp", "ftp"):
            assert not transports[name]["served"]
            assert "access.http.password" in transports[name]["reason"]
            assert "access.weak_transports" in transports[name]["reason"]
        text = run_cli_in_process(tmp_path, "explain", PROTECTED).stdout
        assert "refused: the phone needs HTTP credentials" in text

        run_cli_in_process(tmp_path, "set", f"phone:{PROTECTED}", "access.weak_transports", "true")
        eventually(lambda: _tftp(tftp, f"{PROTECTED}.cfg", got) == served, "served over TFTP")
        assert _ftp(ftp, f"{PROTECTED}.cfg") == served
        explained = json.loads(run_cli_in_process(tmp_path, "explain", PROTECTED, "--json").stdout)
        assert explained["transports"]["tftp"]["served"]

        # TLS-only phones stay off every plain transport, opt-in or not.
        run_cli_in_process(tmp_path, "set", f"phone:{PROTECTED}", "access.tls_required", "true")
        eventually(lambda: _tftp(tftp, f"{PROTECTED}.cfg", got) is None, "TLS only")
        explained = json.loads(run_cli_in_process(tmp_path, "explain", PROTECTED, "--json").stdout)
        for name in ("http", "tftp", "ftp"):
            assert explained["transports"][name] == {
                "served": False,
                "reason": "access.tls_required is on: only HTTPS",
            }

"""Uploads (and serving them back) need a request that authenticated as the phone.

Measured before the fix: for a phone without credentials (``uploads.enabled``
is on by default) ``curl -T evil.cfg http://…/<mac>-phone.cfg`` from any
address returned 201, anyone could read it back, and a Polycom applies that
file at boot. Now, by default, only HTTP digest with the phone's password,
its client certificate or its tenant's URL token may upload; everything else
gets the uniform failure and counts towards a ban (except the phone itself,
from where it was admitted, uploading its logs). ``uploads.unauthenticated``
opts a scope back in.
"""

from __future__ import annotations

import ftplib
import io
import re
import socket
import subprocess
from pathlib import Path

from tests.peers import free_port, need
from tests.security.gateway_fleet import (
    BANNED,
    FTP_PASSWORD,
    FTP_USER,
    UNPROTECTED,
    apply_fleet,
    bans,
    curl_from,
    fleet,
)
from tests.serve_process import run_cli_in_process, serving
from tests.uploads import stored_upload
from tests.waiting import eventually

SIGNED = "0004f2000003"  # a Polycom with an HTTP password
SIGNED_PASSWORD = "http-pass-0003"
OTHERS = ("0004f2000004", "0004f2000005")  # more Polycoms without one
EVIL = b'<PHONE_CONFIG><X voIpProt.server.1.address="evil.example"/></PHONE_CONFIG>\n'


def _phones() -> list[dict[str, object]]:
    signed: dict[str, object] = {
        "tenant": "acme",
        "mac": SIGNED,
        "model": "vvx410",
        "settings": {"access.http.password": SIGNED_PASSWORD},
    }
    others: list[dict[str, object]] = [
        {"tenant": "acme", "mac": m, "model": "vvx410"} for m in OTHERS
    ]
    return [signed, *others]


def _stored(data: Path, mac: str, name: str) -> bytes | None:
    return stored_upload(data, mac, name)


def test_unauthenticated_uploads_are_refused_counted_and_opt_in(tmp_path: Path) -> None:
    apply_fleet(tmp_path, fleet(extra_phones=_phones()))
    evil = tmp_path / "evil.cfg"
    evil.write_bytes(EVIL)
    ftp, tftp = free_port(), free_port(socket.SOCK_DGRAM)
    options = ["--ban-limit", "3", "--poll-interval", "0.2", "--ftp-port", str(ftp)]
    options += ["--tftp-port", str(tftp), "--tftp-uploads"]
    with serving(tmp_path, *options) as server:
        base = f"http://127.0.0.1:{server.http}"

        # From anywhere, without credentials: the uniform failure (the answer
        # an unknown MAC gets), nothing stored, nothing served back.
        unknown = curl_from("127.77.0.1", f"{base}/0004f2999999-phone.cfg", "-T", str(evil))
        refused = curl_from("127.77.0.1", f"{base}/{UNPROTECTED}-phone.cfg", "-T", str(evil))
        assert refused == unknown
        assert refused[0] in (401, 404)
        assert _stored(tmp_path, UNPROTECTED, f"{UNPROTECTED}-phone.cfg") is None
        # Two more phones' uploads from there: 3 failures, the ban limit.
        for mac in OTHERS:
            assert curl_from("127.77.0.1", f"{base}/{mac}-app.log", "-T", str(evil))[0] != 201
        eventually(lambda: "127.77.0.1" in bans(tmp_path), "the uploader is banned")
        assert curl_from("127.77.0.1", f"{base}/000000000000.cfg")[0] == BANNED
        assert curl_from("127.77.0.2", f"{base}/000000000000.cfg")[0] == 200

        # The phones themselves, uploading from where they fetched their files:
        # refused too, but never counted (phones behind one NAT stay served).
        for mac in (UNPROTECTED, *OTHERS):
            assert curl_from("127.77.0.3", f"{base}/{mac}.cfg")[0] == 200
            assert curl_from("127.77.0.3", f"{base}/{mac}-app.log", "-T", str(evil))[0] != 201
            assert curl_from("127.77.0.3", f"{base}/{mac}-phone.cfg")[0] != 200
        assert curl_from("127.77.0.3", f"{base}/000000000000.cfg")[0] == 200

        # Digest with the phone's own password: stored, and served back only so.
        digest = ("--digest", "-u", f"{SIGNED}:{SIGNED_PASSWORD}")
        url = f"{base}/{SIGNED}-phone.cfg"
        assert curl_from("127.77.0.4", url, "-T", str(evil), *digest)[0] == 201
        assert _stored(tmp_path, SIGNED, f"{SIGNED}-phone.cfg") == EVIL
        assert curl_from("127.77.0.4", url, *digest) == (200, EVIL)
        assert curl_from("127.77.0.5", url)[0] == 401

        # The tenant's shared FTP login is not the phone's: refused.
        with ftplib.FTP(source_address=("127.77.0.6", 0)) as client:
            client.connect("127.0.0.1", ftp, timeout=10)
            client.login(FTP_USER, FTP_PASSWORD)
            try:
                client.storbinary(f"STOR {UNPROTECTED}-app.log", io.BytesIO(EVIL))
            except ftplib.error_perm:
                pass
            else:
                raise AssertionError("an FTP upload without the phone's credentials was stored")
        assert _stored(tmp_path, UNPROTECTED, f"{UNPROTECTED}-app.log") is None

        # TFTP has no login at all: refused before any data.
        put = subprocess.run(
            [need("tftp"), "127.0.0.1", str(tftp), "-m", "binary", "-c", "put", str(evil),
             f"{UNPROTECTED}-app.log"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert "Access violation" in put.stdout + put.stderr
        assert _stored(tmp_path, UNPROTECTED, f"{UNPROTECTED}-app.log") is None

        # The tenant's URL token authenticates its phones.
        said = run_cli_in_process(tmp_path, "tenant", "token", "acme").stdout
        token = re.search(r"under /([A-Za-z0-9_\-]+)/", said)
        assert token is not None, said
        tokened = f"{base}/{token.group(1)}/{UNPROTECTED}-phone.cfg"
        # Wait until the server knows the token (the change reaches it by its poll):
        # fetch the phone's own file under it, each try from an address of its own,
        # since a try too early counts towards a ban of the address that made it.
        tries = iter(range(10, 250))
        known = f"{base}/{token.group(1)}/{UNPROTECTED}.cfg"
        eventually(lambda: curl_from(f"127.77.2.{next(tries)}", known)[0] == 200, "token known")
        assert curl_from("127.77.0.7", tokened, "-T", str(evil))[0] == 201
        assert curl_from("127.77.0.7", tokened) == (200, EVIL)
        run_cli_in_process(tmp_path, "tenant", "token", "acme", "--clear")

        # The explicit opt-in, per scope: anyone may upload for that phone.
        mac = OTHERS[1]
        run_cli_in_process(tmp_path, "set", f"phone:{mac}", "uploads.unauthenticated", "true")
        opened = f"{base}/{mac}-phone.cfg"
        # Until the server has both changes (the token cleared, the opt-in), a try
        # is refused and counts towards a ban of its address: each from its own.
        tries = iter(range(10, 250))
        eventually(
            lambda: curl_from(f"127.77.3.{next(tries)}", opened, "-T", str(evil))[0] == 201,
            "opt-in",
        )
        assert curl_from("127.77.0.9", opened) == (200, EVIL)
    assert bans(tmp_path) == {"127.77.0.1"}

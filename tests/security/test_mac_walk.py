"""MAC walks are logged and banned on every protocol; phones behind one NAT are not.

Measured before the fix: without credentials, in a scope where some phone
uses authentication, every guessed MAC got a challenge that was never
counted: 48,491 guesses in 20 s, no log line, no ban, and the walk found the
unprotected phone whose file holds SIP passwords. Now each unknown MAC
counts once (challenged or not) over HTTP, TFTP and FTP, the default limit
(30 within 60 s) bans a walk of 50, the catalog's optional files and a
phone's own refused uploads never count, and ``--ban-exempt`` networks are
never banned.
"""

from __future__ import annotations

import ftplib
import socket
import struct
from pathlib import Path

from tests.peers import free_port
from tests.security.gateway_fleet import (
    BANNED,
    FTP_PASSWORD,
    FTP_USER,
    HTTP_PASSWORD,
    PROTECTED,
    UNPROTECTED,
    apply_fleet,
    bans,
    curl_from,
    fleet,
)
from tests.serve_process import serving
from tests.waiting import eventually

WALK = 50
NAT_PHONES = 40


def _unknown(n: int) -> str:
    return f"0004f2ee{n:04x}"


def _tftp_get(source: str, port: int, name: str, wait: float = 10.0) -> int | None:
    """Send one RRQ from ``source``; the opcode of the answer (3 DATA, 5 ERROR), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(wait)
        sock.sendto(struct.pack("!H", 1) + name.encode() + b"\0octet\0", ("127.0.0.1", port))
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            return None  # a banned address gets no TFTP answer at all
        opcode: int = struct.unpack("!H", data[:2])[0]
        return opcode


def test_walks_are_banned_over_http_tftp_and_ftp(tmp_path: Path) -> None:
    apply_fleet(tmp_path, fleet())
    tftp, ftp = free_port(socket.SOCK_DGRAM), free_port()
    options = ["--poll-interval", "0.2", "--tftp-port", str(tftp), "--ftp-port", str(ftp)]
    with serving(tmp_path, *options) as server:
        base = f"http://127.0.0.1:{server.http}"
        walker = "127.88.0.1"
        assert curl_from(walker, f"{base}/{UNPROTECTED}.cfg")[0] == 200
        # A protected phone is in scope, so every guess gets a challenge, until
        # the ban (from then on, its connections are closed unread).
        codes = [curl_from(walker, f"{base}/{_unknown(n)}.cfg")[0] for n in range(WALK)]
        assert codes == [401] * 30 + [BANNED] * (WALK - 30)  # the 30th failure bans
        eventually(lambda: walker in bans(tmp_path), "the HTTP walker is banned")
        assert curl_from(walker, f"{base}/{UNPROTECTED}.cfg")[0] == BANNED  # passwords kept

        walker = "127.88.0.2"
        assert _tftp_get(walker, tftp, f"{UNPROTECTED}.cfg") == 3
        # Each RRQ is answered ERROR until the ban, then nothing at all.
        assert {_tftp_get(walker, tftp, f"{_unknown(n)}.cfg") for n in range(30)} == {5}
        eventually(lambda: walker in bans(tmp_path), "the TFTP walker is banned")
        assert _tftp_get(walker, tftp, f"{UNPROTECTED}.cfg", wait=1.0) is None

        walker = "127.88.0.3"
        with ftplib.FTP(source_address=(walker, 0)) as client:
            client.connect("127.0.0.1", ftp, timeout=10)
            client.login(FTP_USER, FTP_PASSWORD)
            for n in range(WALK):
                try:
                    client.retrbinary(f"RETR {_unknown(n)}.cfg", lambda _: None)
                except ftplib.error_perm:
                    continue
                raise AssertionError("an unknown MAC was served over FTP")
        eventually(lambda: walker in bans(tmp_path), "the FTP walker is banned")
        with ftplib.FTP(source_address=(walker, 0)) as client:
            client.connect("127.0.0.1", ftp, timeout=10)
            try:
                client.login(FTP_USER, FTP_PASSWORD)
            except ftplib.error_perm:
                pass
            else:
                raise AssertionError("a banned address logged in over FTP")
    log = server.log.read_text()
    for walker in ("127.88.0.1", "127.88.0.2", "127.88.0.3"):
        assert f"event=lookup_failed client={walker}" in log
        assert f"event=ban client={walker}" in log
    assert "Traceback" not in log


def test_phones_behind_one_nat_are_not_banned(tmp_path: Path) -> None:
    phones = [
        {"tenant": "acme", "mac": f"0004f2dd{n:04x}", "model": "vvx410"} for n in range(NAT_PHONES)
    ]
    apply_fleet(tmp_path, fleet(extra_phones=phones))
    upload = tmp_path / "boot.log"
    upload.write_bytes(b"boot\n")
    with serving(tmp_path, "--poll-interval", "0.2") as server:
        base = f"http://127.0.0.1:{server.http}"
        nat = "127.88.0.9"
        # 40 Polycoms booting at once: their own files, the licence they may
        # have, the override file they read back and the logs they upload.
        for phone in phones:
            mac = phone["mac"]
            assert curl_from(nat, f"{base}/{mac}.cfg")[0] == 200
            assert curl_from(nat, f"{base}/{mac}-license.cfg")[0] in (401, 404)
            assert curl_from(nat, f"{base}/{mac}-phone.cfg")[0] in (401, 404)
            assert curl_from(nat, f"{base}/{mac}-boot.log", "-T", str(upload))[0] in (401, 404)
        # The Yealink with its password, and the optional files it asks for.
        digest = ("--digest", "-u", f"{PROTECTED}:{HTTP_PASSWORD}")
        for name in (f"{PROTECTED}.boot", f"{PROTECTED}.cfg", f"{PROTECTED}-local.cfg"):
            assert curl_from(nat, f"{base}/{name}", *digest)[0] in (200, 404)
        # And a few phones nobody has added yet, each asking several times.
        for n in range(10):
            for _ in range(3):
                assert curl_from(nat, f"{base}/{_unknown(n)}.cfg")[0] == 401
        # A ban holds at once on the node that made it (and is written on stop).
        assert curl_from(nat, f"{base}/000000000000.cfg")[0] == 200
    assert bans(tmp_path) == set()
    assert "event=ban" not in server.log.read_text()


def test_ban_exempt_networks_are_never_banned(tmp_path: Path) -> None:
    apply_fleet(tmp_path, fleet())
    options = ("--poll-interval", "0.2", "--ban-exempt", "127.88.1.0/24", "--ban-limit", "5")
    with serving(tmp_path, *options) as server:
        base = f"http://127.0.0.1:{server.http}"
        for n in range(WALK):
            assert curl_from("127.88.1.1", f"{base}/{_unknown(n)}.cfg")[0] == 401
            assert curl_from("127.88.2.1", f"{base}/{_unknown(n)}.cfg")[0] in (401, BANNED)
        eventually(lambda: "127.88.2.1" in bans(tmp_path), "the other walker is banned")
        assert curl_from("127.88.1.1", f"{base}/{UNPROTECTED}.cfg")[0] == 200
    assert bans(tmp_path) == {"127.88.2.1"}

"""``provisioner serve`` end to end: boot sequences replayed with real clients.

The server runs as a subprocess with the demo fleet; curl plays the HTTP
phones (with their vendors' User-Agents, vendors.md), atftp and tftp-hpa
the TFTP ones, ftplib and curl the FTP ones. Request orders follow the boot
sequences in vendors.md §1.1, §2.1, §3.1, §3.3 and §3.4.
"""

from __future__ import annotations

import ftplib
import io
import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers import fetch_with_curl, free_port, need
from tests.serve_process import run_cli_in_process, serving
from tests.uploads import stored_upload, uploaded_names

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo-fleet.toml"
POLYCOM, YEALINK, CISCO79, CISCO79X1, SPA, MPP = (
    "0004f2123456",
    "805ec0123456",
    "000d28123456",
    "001b54123456",
    "0002fd123456",
    "00562b123456",
)


def open_uploads(data: Path) -> None:
    """Let the demo Polycom (no HTTP password) upload, as its boot sequence here does.

    Uploads need authentication by default; that default and this opt-in are
    tested in tests/security/test_uploads.py.
    """
    run_cli_in_process(data, "set", f"phone:{POLYCOM}", "uploads.unauthenticated", "true")


@dataclass
class Served:
    data_dir: Path
    http: int
    https: int
    tftp: int
    ftp: int
    process: subprocess.Popen[bytes]
    log: Path

    def cli(self, *args: str) -> str:
        return run_cli_in_process(self.data_dir, *args).stdout


@contextmanager
def serve_demo(data: Path) -> Iterator[Served]:
    """``provisioner serve`` on every port, with the demo fleet in ``data``."""
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))
    open_uploads(data)
    https, ftp, passive = free_port(), free_port(), free_port()
    tftp = free_port(socket.SOCK_DGRAM)
    options = ["--https-port", str(https), "--tftp-port", str(tftp), "--ftp-port", str(ftp)]
    options += ["--ftp-passive-ports", f"{passive}-{passive}", "--log-level", "warning"]
    with serving(data, *options) as server:
        yield Served(data, server.http, https, tftp, ftp, server.process, server.log)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Shared: its tests change no setting; what they upload has names of their own."""
    with serve_demo(tmp_path_factory.mktemp("e2e")) as server:
        yield server


@pytest.fixture
def own_served(tmp_path: Path) -> Iterator[Served]:
    """For one test that changes settings or stops the server."""
    with serve_demo(tmp_path / "data") as server:
        yield server


def curl(server: Served, path: str, *args: str, ua: str = "") -> tuple[int, bytes]:
    return fetch_with_curl("-A", ua, *args, f"http://127.0.0.1:{server.http}/{path}")


def test_polycom_boot_sequence_over_http(served: Served, tmp_path: Path) -> None:
    ua_boot = "FileTransport PolycomVVX-VVX_410-UA/5.9.1.0615 Type/Updater"
    ua_app = "FileTransport PolycomVVX-VVX_410-UA/5.9.1.0615 Type/Application"
    code, master = curl(served, f"{POLYCOM}.cfg", ua=ua_boot)
    assert code == 200
    config_files = master.split(b'CONFIG_FILES="')[1].split(b'"')[0].decode().split(",")
    assert config_files == [f"{POLYCOM}-raw.cfg", f"{POLYCOM}-settings.cfg"]
    for name in config_files:
        assert curl(served, name, ua=ua_app)[0] == 200
    assert curl(served, f"{POLYCOM}-directory.xml", ua=ua_app)[0] == 200
    assert curl(served, f"{POLYCOM}-phone.cfg", ua=ua_app)[0] == 404  # nothing uploaded yet
    log = tmp_path / "app.log"
    log.write_bytes(b"boot ok\n")
    assert curl(served, f"{POLYCOM}-app.log", "-T", str(log), ua=ua_app)[0] == 201
    overrides = tmp_path / "phone.cfg"
    overrides.write_bytes(b'<PHONE_CONFIG><X up.backlight.idleIntensity="1"/></PHONE_CONFIG>\n')
    assert curl(served, f"{POLYCOM}-phone.cfg", "-T", str(overrides), ua=ua_app)[0] == 201
    assert curl(served, f"{POLYCOM}-phone.cfg", ua=ua_app) == (200, overrides.read_bytes())
    assert stored_upload(served.data_dir, POLYCOM, f"{POLYCOM}-app.log") == b"boot ok\n"


def test_yealink_boot_sequence_with_digest(served: Served) -> None:
    ua = "Yealink SIP-T46S 66.85.0.5 80:5e:c0:12:34:56"
    assert curl(served, "y000000000000.boot", ua=ua)[0] == 404  # optional: falls back
    assert curl(served, "y000000000066.cfg", ua=ua)[0] == 200
    assert curl(served, f"{YEALINK}.cfg", ua=ua)[0] == 401
    code, body = curl(
        served, f"{YEALINK}.cfg", "--digest", "-u", f"{YEALINK}:demo-http-pass", ua=ua
    )
    assert code == 200
    assert body.startswith(b"#!version:1.0.0.1\n")


def test_cisco_spa_and_mpp_over_http(served: Served) -> None:
    spa = "Cisco/SPA504G-7.6.2 (0002FD123456)(CBT141400UK)"
    assert curl(served, "spa504G.cfg", ua=spa)[0] == 200
    assert curl(served, f"spa{SPA}.cfg", ua=spa)[0] == 200
    mpp = "Cisco-CP-8841-3PCC/11.3.1 (00562b123456)"
    assert curl(served, "8841-3PCC.xml", ua=mpp)[0] == 200
    assert curl(served, f"{MPP}.xml", ua=mpp)[0] == 200


def test_cisco_79xx_boot_sequence_over_tftp(served: Served, tmp_path: Path) -> None:
    atftp = need("atftp")
    # Order from a real 7960 TFTP log (vendors.md §3.1), including files we do not have.
    for name, expected in [
        (f"CTLSEP{CISCO79.upper()}.tlv", False),
        (f"SEP{CISCO79.upper()}.cnf.xml", False),
        (f"SIP{CISCO79.upper()}.cnf", True),
        ("XMLDefault.cnf.xml", True),
        ("OS79XX.TXT", True),
        ("SIPDefault.cnf", True),
    ]:
        out = tmp_path / name
        result = subprocess.run(
            [atftp, "--get", "-r", name, "-l", str(out), "127.0.0.1", str(served.tftp)],
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert (result.returncode == 0) is expected, (name, result.stderr)
    assert b"line1_name" in (tmp_path / f"SIP{CISCO79.upper()}.cnf").read_bytes()


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "..\\..\\win.ini",
        "%2e%2e/etc/passwd",
        "a" * 300,
        f"SIP{CISCO79.upper()}.cnf/../../x",
    ],
)
def test_tftp_traversal_is_not_found(served: Served, tmp_path: Path, name: str) -> None:
    result = subprocess.run(
        [
            need("atftp"),
            "--get",
            "-r",
            name,
            "-l",
            str(tmp_path / "out"),
            "127.0.0.1",
            str(served.tftp),
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert b"File not found" in result.stderr + result.stdout


def test_uploads_of_names_that_are_not_uploads_are_refused(served: Served, tmp_path: Path) -> None:
    source = tmp_path / "x.cfg"
    source.write_bytes(b"<x/>")
    # Refused like any unknown name: a challenge for names of a phone's files
    # (the demo tenant uses digest), not-found for anything else.
    for name, expected in (
        (f"{POLYCOM}.cfg", 401),
        (f"{POLYCOM}-settings.cfg", 401),
        (f"{POLYCOM}-evil.exe", 404),
        ("x.cfg", 404),
    ):
        assert curl(served, name, "-T", str(source))[0] == expected, name
    assert stored_upload(served.data_dir, POLYCOM, f"{POLYCOM}.cfg") is None


def test_tftp_hpa_client_with_options(served: Served, tmp_path: Path) -> None:
    tftp = need("tftp")
    out = tmp_path / "sep.xml"
    result = subprocess.run(
        [
            tftp,
            "-m",
            "binary",
            "127.0.0.1",
            str(served.tftp),
            "-c",
            "get",
            f"SEP{CISCO79X1.upper()}.cnf.xml",
            str(out),
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(b"<?xml")


def test_ftp_with_ftplib_and_curl(served: Served) -> None:
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", served.ftp, timeout=10)
        ftp.login("demo", "demo-ftp-pass")
        buffer = io.BytesIO()
        ftp.retrbinary(f"RETR {POLYCOM}-settings.cfg", buffer.write)
        assert b"Reception-200-pw" in buffer.getvalue()
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.retrbinary("RETR ../../etc/passwd", buffer.write)
        ftp.storbinary(f"STOR {POLYCOM}-boot.log", io.BytesIO(b"booted\n"))
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", served.ftp, timeout=10)
        with pytest.raises(ftplib.error_perm, match="530"):
            ftp.login("demo", "wrong-password")
    result = subprocess.run(
        [
            need("curl"),
            "-s",
            "--max-time",
            "10",
            "--ftp-method",
            "nocwd",
            f"ftp://demo:demo-ftp-pass@127.0.0.1:{served.ftp}/{SPA.join(['spa', '.cfg'])}",
        ],
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert result.stdout.startswith(b"<?xml")


def tftp_put(port: int, source: Path, name: str) -> subprocess.CompletedProcess[str]:
    """tftp-hpa uploading ``source`` as ``name``, as a phone would its log."""
    args = [need("tftp"), "-m", "binary", "127.0.0.1", str(port), "-c", "put", str(source), name]
    return subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)


def test_tftp_uploads_are_refused_by_default(served: Served, tmp_path: Path) -> None:
    before = stored_upload(served.data_dir, POLYCOM, f"{POLYCOM}-app.log")  # the HTTP PUT above
    source = tmp_path / "app.log"
    source.write_bytes(b"sent over TFTP\n" * 100)
    result = tftp_put(served.tftp, source, f"{POLYCOM}-app.log")
    assert "Access violation" in result.stdout + result.stderr
    assert stored_upload(served.data_dir, POLYCOM, f"{POLYCOM}-app.log") == before


def test_tftp_uploads_when_switched_on(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))
    open_uploads(data)
    tftp = free_port(socket.SOCK_DGRAM)
    log = tmp_path / "app.log"
    log.write_bytes(bytes(range(256)) * 1000)  # 256,000 bytes: 500 blocks
    too_big = tmp_path / "phone.cfg"
    too_big.write_bytes(b"x" * 262_145)  # one byte over -phone.cfg's limit
    with serving(data, "--tftp-port", str(tftp), "--tftp-uploads"):
        result = tftp_put(tftp, log, f"{POLYCOM.upper()}-app.log")
        assert result.returncode == 0, result.stdout + result.stderr
        assert stored_upload(data, POLYCOM, f"{POLYCOM}-app.log") == log.read_bytes()
        # Not an upload name, and an unknown phone: refused before any data.
        for name in (f"{POLYCOM}.cfg", "0004f2999999-app.log", f"../{POLYCOM}-app.log"):
            result = tftp_put(tftp, log, name)
            assert "Access violation" in result.stdout + result.stderr, name
        result = tftp_put(tftp, too_big, f"{POLYCOM}-phone.cfg")
        assert "Disk full or allocation exceeded" in result.stdout + result.stderr
    assert uploaded_names(data, POLYCOM) == [f"{POLYCOM}-app.log"]
    assert uploaded_names(data, "0004f2999999") == []


def test_identify_seen_and_graceful_shutdown(own_served: Served, tmp_path: Path) -> None:
    served = own_served
    # Phones boot over HTTP, TFTP and FTP, as in the tests above.
    ua = "FileTransport PolycomVVX-VVX_410-UA/5.9.1.0615 Type/Updater"
    assert curl(served, f"{POLYCOM}.cfg", ua=ua)[0] == 200
    name = f"SIP{CISCO79.upper()}.cnf"
    fetched = subprocess.run(
        [need("atftp"), "--get", "-r", name, "-l", str(tmp_path / name), "127.0.0.1",
         str(served.tftp)],
        capture_output=True,
        timeout=30,
        check=False,
    )  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", served.ftp, timeout=10)
        ftp.login("demo", "demo-ftp-pass")
        ftp.retrbinary(f"RETR {POLYCOM}-settings.cfg", io.BytesIO().write)
    # The Polycom reported 5.9.1.0615; assign 6.0 and it must be flagged.
    served.cli("set", f"phone:{POLYCOM}", "firmware.version", "6.0")
    identified = json.loads(
        served.cli("identify", "--user-agent", "Cisco/SPA508G-7.4.4 (0002FDFF2103)(X)", "--json")
    )
    assert identified == {
        "vendor": "cisco",
        "model": "spa508g",
        "firmware": "7.4.4",
        "mac": "0002fdff2103",
    }
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(20) == 0
    seen = json.loads(served.cli("seen", "--json"))
    paths = {(row["protocol"], row["path"]) for row in seen}
    polycom = [row for row in seen if row["mac"] == POLYCOM and row["firmware"]]
    assert polycom
    assert all(row["firmware_mismatch"] for row in polycom)
    assert all(not row["firmware_mismatch"] for row in seen if row["mac"] != POLYCOM)
    assert ("http", f"{POLYCOM}.cfg") in paths
    assert ("tftp", f"SIP{CISCO79.upper()}.cnf") in paths
    assert ("ftp", f"{POLYCOM}-settings.cfg") in paths
    text = json.dumps(seen)
    for secret in ("demo-ftp-pass", "demo-http-pass", "Reception-200-pw"):
        assert secret not in text
    stderr = served.log.read_text()
    assert "demo-ftp-pass" not in stderr
    assert "Traceback" not in stderr, stderr[-2000:]
    assert os.path.exists(served.data_dir / "tls" / "selfsigned.key")

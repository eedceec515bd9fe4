"""Firmware from upload to phone: the CLI, ``provisioner serve`` and real clients.

Sets are uploaded with ``provisioner firmware upload`` (a Polycom zip with
part-number images, an older Polycom zip, a Polycom unmanaged set and a
Cisco 7960 load as tar.gz), activated and pinned with ``provisioner set``,
these commands running in the test's process (the server runs in its own).
Every file is then fetched over HTTP (curl), TFTP (tftp-hpa and atftp) and
FTP (ftplib) and compared with the SHA-256 that ``firmware show`` recorded;
HTTP ranges answer 206; the Cisco load is also at the TFTP root, where
7960s look for it; the labels appear in the phones' files as pinned at
group level and overridden at phone level; an inactive set is not served,
and deactivating one while the server runs takes its files away within the
poll interval. Unsafe archives given to the CLI (in a process of its own)
leave nothing behind.
"""

from __future__ import annotations

import ftplib
import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers import fetch_with_curl, free_port, need
from tests.serve_process import run_cli, run_cli_in_process, serving
from tests.waiting import eventually

PIN, OVERRIDE, PLAIN = "0004f2000001", "0004f2000002", "0004f2000003"
CISCO = "000D28000010"
FTP_USER, FTP_PASSWORD = "acme-ftp", "ftp-pass-1234"
POLYCOM_UA = "FileTransport PolycomVVX-VVX_410-UA/6.4.3.0001 Type/Application"

FLEET: dict[str, Any] = {
    "tenants": [
        {
            "name": "acme",
            "sip_domain": "acme.example.com",
            "settings": {
                "access.tftp.enabled": True,
                "access.tftp.allow": "127.0.0.0/8",
                "access.ftp.enabled": True,
                "access.ftp.user": FTP_USER,
                "access.ftp.password": FTP_PASSWORD,
            },
        }
    ],
    "groups": [{"tenant": "acme", "name": "sales"}],
    "phones": [
        {"tenant": "acme", "mac": PIN, "model": "vvx410", "groups": ["sales"]},
        {"tenant": "acme", "mac": OVERRIDE, "model": "vvx410", "groups": ["sales"]},
        {"tenant": "acme", "mac": PLAIN, "model": "vvx410"},
        {"tenant": "acme", "mac": CISCO, "model": "cisco7960", "lines": [{"user": "300"}]},
    ],
}


def image(size: int) -> bytes:
    """Incompressible content, like a real image (and no zip-bomb ratio)."""
    return os.urandom(size)


POLYCOM_NEW = {
    "3111-46161-001.sip.ld": image(700_000),  # VVX 410's part number
    "3111-48300-001.sip.ld": image(300_000),
    "sip.ver": b"6.4.6.2222\n",
}
POLYCOM_OLD = {"sip.ld": image(400_000), "sip.ver": b"6.3.1.1111\n"}
SITE = {"no-100rel.cfg": b'<polycomConfig voIpProt.SIP.use100rel="0"/>\n'}
CISCO_LOAD = {
    "P0S3-8-12-00.loads": b"P0S3-8-12-00.sb2\nP003-8-12-00.sbn\n",
    "P0S3-8-12-00.sb2": image(500_000),
    "P003-8-12-00.sbn": image(200_000),
}


@dataclass
class Server:
    data_dir: Path
    http: int
    tftp: int
    ftp: int
    sets: dict[tuple[str, str], dict[str, str]]  # (vendor, label) -> served path -> SHA-256

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli_in_process(self.data_dir, *args, check=check)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http}/{path}"


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def write_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


# (archive name, its files, vendor, label, extra upload options)
Upload = tuple[str, dict[str, bytes], str, str, list[str]]
ALL_SETS: list[Upload] = [
    ("ucs-6.4.6.zip", POLYCOM_NEW, "polycom", "new", []),
    ("ucs-6.3.1.zip", POLYCOM_OLD, "polycom", "old", []),
    ("site.zip", SITE, "polycom", "site", ["--unmanaged"]),
    ("P0S3-8-12-00.tar.gz", CISCO_LOAD, "cisco", "8.12", []),
]
ALL_PINS = [
    ("group:acme/sales", "firmware.label", "new"),
    ("group:acme/sales", "firmware.unmanaged", "site"),
    (f"phone:{OVERRIDE}", "firmware.label", "old"),
    (f"phone:{CISCO}", "firmware.label", "8.12"),
]


@contextmanager
def serve_fleet(
    root: Path, uploads: list[Upload], pins: list[tuple[str, str, str]]
) -> Iterator[Server]:
    """``provisioner serve`` for FLEET with ``uploads`` activated and pinned as ``pins`` say."""
    data, archives = root / "data", root / "uploads"
    archives.mkdir(parents=True)
    ftp, passive = free_port(), free_port()
    tftp = free_port(socket.SOCK_DGRAM)
    sets: dict[tuple[str, str], dict[str, str]] = {}
    (archives / "fleet.json").write_text(json.dumps(FLEET))
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(archives / "fleet.json"))
    for archive, files, vendor, label, extra in uploads:
        write = write_tar if archive.endswith(".tar.gz") else write_zip
        source = write(archives / archive, files)
        run_cli_in_process(data, "firmware", "upload", str(source), "--vendor", vendor,
                           "--label", label, *extra)  # fmt: skip
        run_cli_in_process(data, "firmware", "activate", vendor, label)
        shown = json.loads(
            run_cli_in_process(data, "firmware", "show", vendor, label, "--json").stdout
        )
        sets[vendor, label] = {f["served_at"]: f["sha256"] for f in shown["files"]}
    for scope, key, value in pins:
        run_cli_in_process(data, "set", scope, key, value)
    options = ["--tftp-port", str(tftp), "--ftp-port", str(ftp),
               "--ftp-passive-ports", f"{passive}-{passive}", "--poll-interval", "0.5",
               "--log-level", "warning"]  # fmt: skip
    with serving(data, *options) as running:
        yield Server(data, running.http, tftp, ftp, sets)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Every set, pinned; shared by the tests that do not change it."""
    with serve_fleet(tmp_path_factory.mktemp("fw-serve"), ALL_SETS, ALL_PINS) as running:
        yield running


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    """The old Polycom set pinned on OVERRIDE, for one test to change."""
    old = [upload for upload in ALL_SETS if upload[3] == "old"]
    with serve_fleet(tmp_path / "own", old, [(f"phone:{OVERRIDE}", "firmware.label", "old")]) as s:
        yield s


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def curl(url: str, *args: str, ua: str = POLYCOM_UA) -> tuple[int, bytes]:
    return fetch_with_curl("-A", ua, *args, url, limit=20)


def tftp_hpa(srv: Server, path: str, out: Path) -> bytes | None:
    result = subprocess.run(
        [need("tftp"), "-m", "binary", "127.0.0.1", str(srv.tftp), "-c", "get", path, str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # tftp-hpa exits 0 even on an error packet; it reports it on stdout/stderr.
    failed = result.returncode != 0 or "Error code" in result.stdout + result.stderr
    return None if failed else out.read_bytes()


def atftp(srv: Server, path: str, out: Path) -> bytes | None:
    result = subprocess.run(
        [need("atftp"), "--get", "-r", path, "-l", str(out), "--option", "blksize 1428",
         "--option", "tsize", "127.0.0.1", str(srv.tftp)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    return out.read_bytes() if result.returncode == 0 else None


def ftp_get(srv: Server, path: str) -> bytes:
    buffer = io.BytesIO()
    with ftplib.FTP() as client:
        client.connect("127.0.0.1", srv.ftp, timeout=20)
        client.login(FTP_USER, FTP_PASSWORD)
        client.retrbinary(f"RETR {path}", buffer.write)
    return buffer.getvalue()


def every_file(srv: Server) -> dict[str, str]:
    files: dict[str, str] = {}
    for recorded in srv.sets.values():
        files.update(recorded)
    return files


def test_recorded_hashes_are_those_of_the_uploaded_files(server: Server) -> None:
    for (vendor, label), content in [
        (("polycom", "new"), POLYCOM_NEW),
        (("polycom", "old"), POLYCOM_OLD),
        (("polycom", "site"), SITE),
        (("cisco", "8.12"), CISCO_LOAD),
    ]:
        expected = {f"fw/{vendor}/{label}/{name}": sha(data) for name, data in content.items()}
        assert server.sets[vendor, label] == expected


def test_every_file_over_http(server: Server) -> None:
    for path, digest in every_file(server).items():
        code, body = curl(server.url(path))
        assert (code, sha(body)) == (200, digest), path


def test_every_file_over_tftp_with_both_clients(server: Server, tmp_path: Path) -> None:
    for n, (path, digest) in enumerate(every_file(server).items()):
        got = tftp_hpa(server, path, tmp_path / f"hpa-{n}")
        assert got is not None, ("tftp-hpa", path)
        assert sha(got) == digest, ("tftp-hpa", path)
        got = atftp(server, path, tmp_path / f"atftp-{n}")
        assert got is not None, ("atftp", path)
        assert sha(got) == digest, ("atftp", path)


def test_every_file_over_ftp(server: Server) -> None:
    for path, digest in every_file(server).items():
        assert sha(ftp_get(server, path)) == digest, path


def test_http_range_and_head(server: Server) -> None:
    path = "fw/polycom/new/3111-46161-001.sip.ld"
    data = POLYCOM_NEW["3111-46161-001.sip.ld"]
    assert curl(server.url(path), "-r", "1000-1999") == (206, data[1000:2000])
    assert curl(server.url(path), "-r", "-100") == (206, data[-100:])
    with urllib.request.urlopen(urllib.request.Request(server.url(path), method="HEAD")) as r:
        assert r.status == 200
        assert r.headers["Content-Length"] == str(len(data))
        assert r.headers["Accept-Ranges"] == "bytes"
    # A range past the end is refused as RFC 9110 §15.5.17 says.
    assert curl(server.url(path), "-r", f"{len(data) + 10}-{len(data) + 20}")[0] == 416


def test_cisco_load_at_the_tftp_root(server: Server, tmp_path: Path) -> None:
    # A 7960 asks for <image_version>.loads and the images it lists at the root (vendors.md §3.1).
    for name, data in CISCO_LOAD.items():
        got = tftp_hpa(server, name, tmp_path / name)
        assert got == data, name
    config = tftp_hpa(server, f"SIP{CISCO}.cnf", tmp_path / "SIP.cnf")
    assert config is not None
    assert b'image_version: "P0S3-8-12-00"\n' in config


def test_labels_rendered_as_pinned_and_overridden(server: Server) -> None:
    def app_file_path(mac: str) -> tuple[str, str]:
        code, body = curl(server.url(f"{mac}.cfg"))
        assert code == 200
        text = body.decode()
        app = text.split('APP_FILE_PATH="')[1].split('"')[0]
        files = text.split('CONFIG_FILES="')[1].split('"')[0]
        return app, files

    app, files = app_file_path(PIN)  # group sales: new, with the site's unmanaged file
    assert app == "fw/polycom/new/[PHONE_PART_NUMBER].sip.ld"
    assert files.split(",")[0] == "fw/polycom/site/no-100rel.cfg"
    app, files = app_file_path(OVERRIDE)  # same group, label overridden on the phone
    assert app == "fw/polycom/old/sip.ld"
    assert files.split(",")[0] == "fw/polycom/site/no-100rel.cfg"
    app, files = app_file_path(PLAIN)  # no label anywhere: the phone is not told to change
    assert app == "sip.ld"
    assert "fw/" not in files
    explained = server.cli("explain", OVERRIDE, "firmware.label").stdout
    rows = [line.split() for line in explained.splitlines()[2:]]
    assert rows == [
        ["default", '""', "overridden"],
        ["group", "acme/sales", '"new"', "overridden"],
        ["phone", OVERRIDE, '"old"', "wins"],
    ]


def test_inactive_set_is_not_served(own_server: Server, tmp_path: Path) -> None:
    server = own_server
    source = write_zip(tmp_path / "r9.zip", {"sip.ld": image(1000), "sip.ver": b"9.9.9.9\n"})
    server.cli("firmware", "upload", str(source), "--vendor", "polycom", "--label", "r9")
    assert curl(server.url("fw/polycom/r9/sip.ld"))[0] == 404
    assert tftp_hpa(server, "fw/polycom/r9/sip.ld", tmp_path / "out") is None
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp_get(server, "fw/polycom/r9/sip.ld")
    server.cli("set", f"phone:{PLAIN}", "firmware.label", "r9")  # names an inactive set
    # The label changes nothing in the file, so a later change that shows in it
    # tells when the server has re-rendered the phone with the label.
    server.cli("set", f"phone:{PLAIN}", "polycom.custom_config_files", "after-r9.cfg")
    eventually(
        lambda: b"after-r9.cfg," in curl(server.url(f"{PLAIN}.cfg"))[1], "the phone re-rendered"
    )
    code, body = curl(server.url(f"{PLAIN}.cfg"))
    assert code == 200
    assert b'APP_FILE_PATH="sip.ld"' in body


def test_deactivation_while_serving(own_server: Server, tmp_path: Path) -> None:
    server = own_server
    path = "fw/polycom/old/sip.ld"
    assert curl(server.url(path))[0] == 200
    server.cli("firmware", "deactivate", "polycom", "old")
    # The server polls every 0.5 s.
    eventually(lambda: curl(server.url(path))[0] == 404, "still served after deactivation")
    assert tftp_hpa(server, path, tmp_path / "out") is None
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp_get(server, path)
    code, body = curl(server.url(f"{OVERRIDE}.cfg"))
    assert code == 200
    assert b"fw/polycom/old/" not in body
    server.cli("firmware", "activate", "polycom", "old")
    eventually(lambda: curl(server.url(path))[0] == 200, "not served again after activation")


def symlink_tar(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("sip.ld")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        archive.addfile(info)
    return path


def truncated_zip(path: Path) -> Path:
    whole = write_zip(path, {"sip.ld": image(50_000)}).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path


def traversal_zip(path: Path) -> Path:
    return write_zip(path, {"../../evil.ld": b"x"})


def absolute_zip(path: Path) -> Path:
    return write_zip(path, {"/etc/evil.ld": b"x"})


UNSAFE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "traversal.zip": (traversal_zip, "../../evil.ld"),
    "absolute.zip": (absolute_zip, "/etc/evil.ld"),
    "symlink.tar.gz": (symlink_tar, "sip.ld"),
    "truncated.zip": (truncated_zip, "truncated.zip"),
}


def disk(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_unsafe_upload_through_the_cli_leaves_nothing(
    server: Server, tmp_path: Path, name: str
) -> None:
    build, named = UNSAFE[name]
    source = build(tmp_path / name)
    before = disk(server.data_dir / "firmware")
    listed = server.cli("firmware", "list", "--json").stdout
    result = run_cli(
        server.data_dir,
        *("firmware", "upload", str(source), "--vendor", "polycom", "--label", "bad"),
        check=False,
    )
    assert result.returncode == 1
    assert named in result.stderr
    assert disk(server.data_dir / "firmware") == before
    assert server.cli("firmware", "list", "--json").stdout == listed
    assert not (tmp_path.parent / "evil.ld").exists()

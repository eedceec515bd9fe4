"""The FTP server against real clients: curl and lftp."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from provisioner.ftp import FtpServer
from tests.ftp.conftest import BINARY, PASSWORD, USER, FakeBackend, Login
from tests.peers import need

TIMEOUT = 30  # seconds for any one client run; they take well under one


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env={**os.environ, "HOME": str(cwd)},  # no user configuration, no history files
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def url(server: FtpServer[Login], path: str, password: str = PASSWORD) -> str:
    host, port = server.address
    return f"ftp://{USER}:{password}@{host}:{port}/{path}"


def curl(*args: str) -> list[str]:
    return [need("curl"), "--silent", "--show-error", "--max-time", "10", *args]


def lftp(server: FtpServer[Login], commands: str, password: str = PASSWORD) -> list[str]:
    host, port = server.address
    settings = "set net:max-retries 1; set net:timeout 5; set cmd:fail-exit yes"
    return [
        need("lftp"),
        "-u",
        f"{USER},{password}",
        "-p",
        str(port),
        "-e",
        f"{settings}; {commands}; bye",
        host,
    ]


def test_curl_download(server: FtpServer[Login], tmp_path: Path) -> None:
    result = run(curl(url(server, "config.cfg"), "-o", "out"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out").read_bytes() == BINARY


def test_curl_download_of_a_missing_file(server: FtpServer[Login], tmp_path: Path) -> None:
    result = run(curl(url(server, "missing.cfg"), "-o", "out"), tmp_path)
    assert result.returncode == 78  # "the remote file was not found"
    assert not (tmp_path / "out").exists()


def test_curl_wrong_password(server: FtpServer[Login], tmp_path: Path) -> None:
    result = run(curl(url(server, "config.cfg", password="wrong"), "-o", "out"), tmp_path)
    assert result.returncode == 67  # "the user name, password, or similar was not accepted"


def test_curl_upload(server: FtpServer[Login], backend: FakeBackend, tmp_path: Path) -> None:
    (tmp_path / "app.log").write_bytes(b"boot ok\r\n" * 50)
    result = run(curl("-T", "app.log", url(server, "app.log")), tmp_path)
    assert result.returncode == 0, result.stderr
    assert backend.writes == [("app.log", b"boot ok\r\n" * 50)]


def test_curl_upload_over_the_limit(
    server: FtpServer[Login], backend: FakeBackend, tmp_path: Path
) -> None:
    (tmp_path / "app.log").write_bytes(b"x" * 100_000)
    result = run(curl("-T", "app.log", url(server, "app.log")), tmp_path)
    assert result.returncode != 0
    assert backend.writes == []
    assert backend.wait_event(lambda e: e.command == "STOR").status == 552


def test_lftp_download(server: FtpServer[Login], tmp_path: Path) -> None:
    result = run(lftp(server, "get config.cfg -o out"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out").read_bytes() == BINARY


def test_lftp_download_of_a_missing_file(server: FtpServer[Login], tmp_path: Path) -> None:
    result = run(lftp(server, "get missing.cfg -o out"), tmp_path)
    assert result.returncode != 0
    assert "550" in result.stderr


def test_lftp_wrong_password(server: FtpServer[Login], tmp_path: Path) -> None:
    result = run(lftp(server, "get config.cfg -o out", password="wrong"), tmp_path)
    assert result.returncode != 0
    assert "530" in result.stderr


def test_lftp_upload(server: FtpServer[Login], backend: FakeBackend, tmp_path: Path) -> None:
    (tmp_path / "local.log").write_bytes(b"boot ok\n")
    result = run(lftp(server, "put local.log -o app.log"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert backend.writes == [("app.log", b"boot ok\n")]


@pytest.mark.parametrize("command", ["rm config.cfg", "mkdir d", "mv config.cfg x.cfg"])
def test_lftp_changes_are_refused(
    server: FtpServer[Login], backend: FakeBackend, tmp_path: Path, command: str
) -> None:
    result = run(lftp(server, command), tmp_path)
    assert result.returncode != 0
    assert "550" in result.stderr
    assert backend.files.keys() == {"config.cfg"}

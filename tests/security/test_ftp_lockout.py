"""FTP lock-out: connections that never log in must not keep phones out.

Against the real ``provisioner serve`` process. Idle connections come from
40 loopback addresses (all of 127.0.0.0/8 is local on Linux), 8 from each,
under the per-address limit; the phone comes from an address of its own.
Before the fix, 256 such connections took every slot, and a thread each,
and the phone's login was answered "421 Too many connections".
"""

from __future__ import annotations

import ftplib
import io
import resource
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.peers import free_port
from tests.serve_process import run_cli_in_process, serving

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo-fleet.toml"
PHONE_FILE = "0004f2123456-settings.cfg"  # the demo fleet's Polycom
ADDRESSES = 40
PER_ADDRESS = 8
PHONE_ADDRESS = "127.0.0.100"
# Far below a thread per connection, and well above what serve runs besides.
MAX_THREADS = 50
# The server starts with this soft open-file limit: too few descriptors for
# the idle connections unless it raises the limit itself.
LOW_SOFT_LIMIT = 256


@dataclass(frozen=True)
class Ftp:
    pid: int
    port: int


@contextmanager
def ftp_server(data: Path, *options: str, soft_limit: int | None = None) -> Iterator[Ftp]:
    """``provisioner serve`` with the demo fleet (FTP login on) and FTP listening.

    With ``soft_limit``, the server inherits that soft open-file limit.
    """
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))
    port = free_port()
    args = ("--ftp-port", str(port), "--log-level", "warning", *options)
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    with ExitStack() as stack:
        if soft_limit is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft_limit, saved[1]), saved[1]))
        try:
            server = stack.enter_context(serving(data, *args))
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, saved)
        yield Ftp(server.process.pid, port)


@contextmanager
def idle_connections(port: int) -> Iterator[list[socket.socket]]:
    """8 connections from each of 127.0.0.1-40 that never log in, oldest first, each greeted."""
    with ExitStack() as stack:
        sockets = []
        for address in range(1, ADDRESSES + 1):
            for _ in range(PER_ADDRESS):
                sock = stack.enter_context(socket.socket())
                sock.settimeout(10)
                sock.bind((f"127.0.0.{address}", 0))
                sock.connect(("127.0.0.1", port))
                assert sock.recv(100) == b"220 FTP server ready.\r\n"
                sockets.append(sock)
        yield sockets


def phone_download(port: int) -> bytes:
    """A phone's login and download, from an address of its own."""
    with ftplib.FTP(source_address=(PHONE_ADDRESS, 0), timeout=10) as ftp:
        ftp.connect("127.0.0.1", port)
        ftp.login("demo", "demo-ftp-pass")
        buffer = io.BytesIO()
        ftp.retrbinary(f"RETR {PHONE_FILE}", buffer.write)
        return buffer.getvalue()


def threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError(f"no thread count in /proc/{pid}/status")


def open_file_limits(pid: int) -> tuple[str, str]:
    """The soft and hard open-file limits of a process, as /proc words them."""
    with open(f"/proc/{pid}/limits") as limits:
        for line in limits:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return soft, hard
    raise AssertionError(f"no open-file limit in /proc/{pid}/limits")


def until_closed(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (10 s at most per read)."""
    received = b""
    while chunk := sock.recv(1000):
        received += chunk
    return received


def test_idle_connections_leave_room_for_a_phone(tmp_path: Path) -> None:
    with ftp_server(tmp_path, soft_limit=LOW_SOFT_LIMIT) as ftp, idle_connections(ftp.port):
        assert b"Reception-200-pw" in phone_download(ftp.port)
        assert threads(ftp.pid) < MAX_THREADS
        soft, hard = open_file_limits(ftp.pid)
        assert soft == hard


def test_idle_connections_beyond_the_limit_make_room_for_a_phone(tmp_path: Path) -> None:
    # 320 connections against a limit of 100: each newcomer closes the oldest one.
    with (
        ftp_server(tmp_path, "--ftp-max-connections", "100") as ftp,
        idle_connections(ftp.port) as idle,
    ):
        assert b"Reception-200-pw" in phone_download(ftp.port)
        assert until_closed(idle[0]).startswith(b"421 Too many connections")
        idle[-1].sendall(b"NOOP\r\n")
        assert idle[-1].recv(100).startswith(b"200 ")


def test_a_connection_that_does_not_log_in_is_closed(tmp_path: Path) -> None:
    with ftp_server(tmp_path, "--ftp-login-timeout", "1") as ftp:
        with socket.create_connection(("127.0.0.1", ftp.port), timeout=30) as sock:
            assert until_closed(sock) == b"220 FTP server ready.\r\n421 Login timed out.\r\n"
        assert b"Reception-200-pw" in phone_download(ftp.port)

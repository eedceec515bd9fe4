"""The FTP server against stdlib ftplib, with the fake backend of conftest.py."""

from __future__ import annotations

import errno
import ftplib
import io
import logging
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from provisioner.ftp import FtpServer
from provisioner.ftp._events import _peer_address
from provisioner.ftp._filesystem import VirtualFS
from provisioner.ftp._pyftpdlib import AbstractedFS
from provisioner.ftp._refusals import RefusingFS
from provisioner.ftp._server import _Acceptor
from tests.ftp.conftest import BINARY, PASSWORD, USER, FakeBackend, Login, connect
from tests.peers import free_port
from tests.waiting import eventually

NOT_FOUND = "550 File unavailable."
LOGIN_REFUSED = "530 Login incorrect."


def retr(client: ftplib.FTP, path: str) -> bytes:
    buffer = io.BytesIO()
    client.retrbinary(f"RETR {path}", buffer.write)
    return buffer.getvalue()


def stor(client: ftplib.FTP, command: str, data: bytes) -> str:
    """The final reply to an upload, whether ftplib raised for it or not."""
    try:
        return client.storbinary(command, io.BytesIO(data))
    except ftplib.Error as exc:
        return str(exc)
    except OSError:
        # The server closed the data connection while we were still sending
        # (over the limit); its reply is waiting on the control connection.
        try:
            return client.getresp()
        except ftplib.Error as exc:
            return str(exc)


def reset(sock: socket.socket) -> None:
    """Close ``sock`` abruptly (RST), as a crashing client would."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def vanish(client: ftplib.FTP) -> None:
    """Drop ``client``'s control connection abruptly (RST)."""
    assert client.sock is not None
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # also closes ftplib's file over the socket, so the socket really closes


def login(server: FtpServer[Login]) -> ftplib.FTP:
    client = connect(server)
    client.login(USER, PASSWORD)
    return client


def greeting_refused(server: FtpServer[Login]) -> str:
    """The error a new connection is greeted with (it must be one)."""
    client = ftplib.FTP(timeout=10)
    try:
        client.connect(*server.address)
    except ftplib.Error as exc:
        return str(exc)
    finally:
        client.close()
    raise AssertionError("the connection was accepted")


# --- logins


def test_login_accepted(ftp: ftplib.FTP, backend: FakeBackend) -> None:
    assert ftp.pwd() == "/"
    event = backend.wait_event(lambda e: e.command == "PASS")
    assert (event.user, event.status, event.path) == (USER, 230, None)
    assert event.client[0] == "127.0.0.1"


def test_banner_does_not_name_the_software(server: FtpServer[Login]) -> None:
    client = connect(server)
    assert client.getwelcome() == "220 FTP server ready."
    client.close()


@pytest.mark.parametrize(
    ("user", "password"),
    [(USER, "wrong"), ("nobody", PASSWORD), ("anonymous", "guest@"), ("FTP", ""), (USER, "")],
)
def test_login_refused_uniformly(
    server: FtpServer[Login], backend: FakeBackend, user: str, password: str
) -> None:
    client = connect(server)
    with pytest.raises(ftplib.error_perm) as refused:
        client.login(user, password)
    assert str(refused.value) == LOGIN_REFUSED
    event = backend.wait_event(lambda e: e.command == "PASS")
    assert (event.user, event.status) == (user, 530)
    anonymous = user.lower() in ("anonymous", "ftp")
    # Anonymous FTP is refused without asking the backend.
    assert [name for name, _ in backend.logins] == ([] if anonymous else [user])
    with pytest.raises(ftplib.error_perm, match="^530"):
        retr(client, "config.cfg")
    client.close()


def test_backend_failing_to_authenticate_refuses_the_login(
    server: FtpServer[Login], backend: FakeBackend
) -> None:
    backend.fail.add("authenticate")
    client = connect(server)
    with pytest.raises(ftplib.error_perm) as refused:
        client.login(USER, PASSWORD)
    assert str(refused.value) == LOGIN_REFUSED
    client.close()


# --- downloads


def test_retr_is_binary_exact(ftp: ftplib.FTP, backend: FakeBackend) -> None:
    assert retr(ftp, "config.cfg") == BINARY
    assert retr(ftp, "/config.cfg") == BINARY
    assert retr(ftp, "./config.cfg") == BINARY
    assert backend.reads == ["config.cfg"] * 3
    event = backend.wait_event(lambda e: e.command == "RETR")
    assert (event.path, event.status, event.transferred) == ("config.cfg", 226, len(BINARY))


def test_retr_unknown_is_550(ftp: ftplib.FTP, backend: FakeBackend) -> None:
    with pytest.raises(ftplib.error_perm) as refused:
        retr(ftp, "missing.cfg")
    assert str(refused.value) == NOT_FOUND
    event = backend.wait_event(lambda e: e.command == "RETR")
    assert (event.path, event.status, event.transferred) == ("missing.cfg", 550, 0)


@pytest.mark.parametrize(
    ("path", "backend_saw"),
    [
        ("missing.cfg", ["missing.cfg"]),
        ("/etc/passwd", ["etc/passwd"]),  # the root is virtual: this is just a name
        ("%2e%2e/x", ["%2e%2e/x"]),  # nothing is percent-decoded
        ("../etc/passwd", []),
        ("..\\x", []),
        ("sub/../config.cfg", []),
        ("./../config.cfg", []),
        ("/./config.cfg", []),
        ("//etc/passwd", []),
        ("a//b", []),
        ("config.cfg/", []),
        ("/", []),
        ("a\x00b", []),
        ("a\x1b[31mb", []),
        ("x" * 300, []),
    ],
)
def test_every_refused_path_gets_the_same_550(
    ftp: ftplib.FTP, backend: FakeBackend, path: str, backend_saw: list[str]
) -> None:
    with pytest.raises(ftplib.error_perm) as refused:
        retr(ftp, path)
    assert str(refused.value) == NOT_FOUND
    ftp.voidcmd("TYPE I")
    with pytest.raises(ftplib.error_perm) as refused:
        ftp.sendcmd(f"SIZE {path}")
    assert str(refused.value) == NOT_FOUND
    assert backend.reads == backend_saw * 2


def test_size_in_binary_mode_only(ftp: ftplib.FTP, backend: FakeBackend) -> None:
    with pytest.raises(ftplib.error_perm) as refused:
        ftp.sendcmd("SIZE config.cfg")  # ASCII mode: the size would not match RETR
    assert str(refused.value) == NOT_FOUND
    ftp.voidcmd("TYPE I")
    assert ftp.size("config.cfg") == len(BINARY)
    assert backend.reads == ["config.cfg"]


def test_retr_after_size_sends_what_size_promised(ftp: ftplib.FTP, backend: FakeBackend) -> None:
    ftp.voidcmd("TYPE I")
    assert ftp.size("config.cfg") == len(BINARY)
    backend.files["config.cfg"] = b"changed in between"
    assert retr(ftp, "config.cfg") == BINARY  # one read for SIZE + RETR, consistent
    assert retr(ftp, "config.cfg") == b"changed in between"  # the next RETR reads again
    assert ftp.size("config.cfg") == len(b"changed in between")
    with pytest.raises(ftplib.error_perm):
        retr(ftp, "other.cfg")  # a different file is read
    assert retr(ftp, "config.cfg") == b"changed in between"  # the SIZE was not the last request
    assert backend.reads == ["config.cfg"] * 3 + ["other.cfg", "config.cfg"]


def test_backend_failing_to_read_is_550(
    ftp: ftplib.FTP, backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend.fail.add("read")
    with pytest.raises(ftplib.error_perm) as refused:
        retr(ftp, "config.cfg")
    assert str(refused.value) == NOT_FOUND
    assert "FTP backend read failed" in caplog.text


def test_a_failing_event_sink_does_not_disturb_the_session(
    ftp: ftplib.FTP, backend: FakeBackend
) -> None:
    backend.fail.add("on_event")
    assert retr(ftp, "config.cfg") == BINARY
    assert retr(ftp, "config.cfg") == BINARY


# --- listings and directories


def test_listings_are_empty(ftp: ftplib.FTP) -> None:
    for command in ("LIST", "LIST config.cfg", "LIST ../..", "LIST -la", "NLST", "NLST /etc"):
        lines: list[str] = []
        ftp.retrlines(command, lines.append)
        assert lines == [], command
    assert list(ftp.mlsd()) == []


def test_only_the_root_directory_exists(ftp: ftplib.FTP) -> None:
    assert ftp.cwd("/").startswith("250")
    assert ftp.pwd() == "/"
    for command in ("CWD sub", "CWD ..", "CDUP", "CWD /etc"):
        with pytest.raises(ftplib.error_perm) as refused:
            ftp.sendcmd(command)
        assert str(refused.value) == NOT_FOUND, command
    assert ftp.pwd() == "/"


# --- uploads


def test_stor_within_the_limit_is_delivered_once(ftp: ftplib.FTP, backend: FakeBackend) -> None:
    data = bytes(range(256)) * 3 + b"\r\n" * 116  # exactly the 1000-byte limit
    assert stor(ftp, "STOR app.log", data).startswith("226")
    assert backend.writes == [("app.log", data)]
    event = backend.wait_event(lambda e: e.command == "STOR")
    assert (event.path, event.status, event.transferred) == ("app.log", 226, 1000)


@pytest.mark.parametrize("size", [1001, 5_000_000])
def test_stor_over_the_limit_is_refused(ftp: ftplib.FTP, backend: FakeBackend, size: int) -> None:
    assert stor(ftp, "STOR app.log", b"x" * size).startswith("552")
    assert backend.writes == []
    assert backend.wait_event(lambda e: e.command == "STOR").status == 552
    assert retr(ftp, "config.cfg") == BINARY  # the session goes on


def test_stor_without_an_upload_limit_is_refused(ftp: ftplib.FTP, backend: FakeBackend) -> None:
    assert stor(ftp, "STOR config.cfg", b"x") == NOT_FOUND
    assert stor(ftp, "STOR ../app.log", b"x") == NOT_FOUND
    assert backend.writes == []


def test_stor_refused_by_the_backend_is_550(ftp: ftplib.FTP, backend: FakeBackend) -> None:
    backend.accept_writes = False
    assert stor(ftp, "STOR app.log", b"log line\n") == NOT_FOUND
    assert backend.writes == [("app.log", b"log line\n")]


def test_stor_the_backend_fails_to_store_is_550(
    ftp: ftplib.FTP, backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend.fail.add("write")
    assert stor(ftp, "STOR app.log", b"log line\n") == NOT_FOUND
    assert "FTP backend write failed" in caplog.text


def test_an_upload_abandoned_mid_transfer_is_not_delivered(
    ftp: ftplib.FTP, backend: FakeBackend
) -> None:
    ftp.voidcmd("TYPE I")
    data = ftp.transfercmd("STOR app.log")
    data.sendall(b"partial")
    vanish(ftp)  # the client dies before finishing the upload
    assert backend.wait_event(lambda e: e.command == "STOR").status == 426
    data.close()
    assert backend.writes == []


@pytest.mark.parametrize(
    "command",
    [
        "DELE config.cfg",
        "MKD newdir",
        "XMKD newdir",
        "RMD /",
        "XRMD sub",
        "RNFR config.cfg",
        "RNTO other.cfg",
        "SITE CHMOD 777 config.cfg",
        "MLST config.cfg",
    ],
)
def test_write_commands_are_refused_uniformly(
    ftp: ftplib.FTP, backend: FakeBackend, command: str
) -> None:
    with pytest.raises(ftplib.error_perm) as refused:
        ftp.sendcmd(command)
    assert str(refused.value) == NOT_FOUND
    verb = "SITE CHMOD" if command.startswith("SITE") else command.split()[0]
    event = backend.wait_event(lambda e: e.command == verb)
    assert event.status == 550
    assert backend.reads == []


def test_append_is_refused(ftp: ftplib.FTP, backend: FakeBackend) -> None:
    assert stor(ftp, "APPE app.log", b"more") == NOT_FOUND
    assert backend.writes == []


@pytest.mark.parametrize(
    "command", ["STOU", "REST 100", "MDTM config.cfg", "MFMT 20200101000000 x"]
)
def test_commands_not_offered(ftp: ftplib.FTP, command: str) -> None:
    with pytest.raises(ftplib.error_perm, match="^500"):
        ftp.sendcmd(command)
    features = ftp.sendcmd("FEAT")
    for name in ("REST", "MDTM", "MFMT"):
        assert name not in features


# --- data connections and limits


def test_passive_ports_stay_in_the_range(backend: FakeBackend) -> None:
    port = free_port()
    with FtpServer(
        backend, host="127.0.0.1", port=0, passive_ports=range(port, port + 1)
    ) as server:
        client = login(server)
        assert client.makepasv()[1] == port
        assert client.sendcmd("EPSV").endswith(f"(|||{port}|).")
        assert retr(client, "config.cfg") == BINARY
        assert retr(client, "config.cfg") == BINARY
        with socket.create_server(("127.0.0.1", port), reuse_port=False):
            # The whole range is taken: 425, not a port outside it.
            with pytest.raises(ftplib.error_temp) as refused:
                client.sendcmd("PASV")
            assert str(refused.value).startswith("425")
            client.voidcmd("NOOP")
        assert retr(client, "config.cfg") == BINARY
        client.close()


def test_active_mode_works(ftp: ftplib.FTP) -> None:
    ftp.set_pasv(False)
    assert retr(ftp, "config.cfg") == BINARY


def test_ipv6(backend: FakeBackend) -> None:
    with FtpServer(backend, host="::1", port=0) as server:
        assert server.address[0] == "::1"
        client = login(server)
        assert retr(client, "config.cfg") == BINARY
        client.close()
    event = backend.wait_event(lambda e: e.command == "RETR")
    assert event.client[0] == "::1"


def test_dual_stack_reports_plain_ipv4(backend: FakeBackend) -> None:
    if Path("/proc/sys/net/ipv6/bindv6only").read_text().strip() != "0":
        pytest.skip("this system makes IPv6 sockets IPv6-only")
    with FtpServer(backend, host="::", port=0) as server:
        client = ftplib.FTP(timeout=10)
        client.connect("127.0.0.1", server.address[1])
        client.login(USER, PASSWORD)
        assert retr(client, "config.cfg") == BINARY
        client.close()
    assert backend.wait_event(lambda e: e.command == "RETR").client[0] == "127.0.0.1"
    assert backend.logins[0][1][0] == "127.0.0.1"


@pytest.mark.parametrize(
    ("seen", "reported"),
    [
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
    ],
)
def test_peer_addresses(seen: str, reported: str) -> None:
    assert _peer_address(seen) == reported


def test_connection_limits(backend: FakeBackend) -> None:
    with FtpServer(backend, host="127.0.0.1", port=0, max_connections=1) as server:
        first = login(server)
        assert greeting_refused(server).startswith("421")
        assert retr(first, "config.cfg") == BINARY  # data connections are not sessions
        first.quit()

        def admitted() -> bool:  # once the finished session's thread has ended
            client = ftplib.FTP(timeout=10)
            try:
                client.connect(*server.address)
            except ftplib.error_temp:
                return False
            finally:
                client.close()
            return True

        eventually(admitted, "a new connection is admitted")
    with FtpServer(backend, host="127.0.0.1", port=0, max_connections_per_ip=1) as server:
        first = connect(server)
        assert greeting_refused(server).startswith("421")
        first.close()


def test_idle_sessions_are_closed(backend: FakeBackend) -> None:
    with FtpServer(backend, host="127.0.0.1", port=0, idle_timeout=0.3) as server:
        client = login(server)
        with pytest.raises(ftplib.error_temp, match="^421"):
            client.getresp()
        client.close()


def reply(client: ftplib.FTP) -> str:
    """The next reply on ``client``'s control connection, whatever its code."""
    try:
        return client.getresp()
    except ftplib.Error as exc:
        return str(exc)


def test_a_connection_must_log_in_within_the_login_timeout(backend: FakeBackend) -> None:
    with FtpServer(backend, host="127.0.0.1", port=0, login_timeout=0.3) as server:
        client = connect(server)
        # Commands do not extend the deadline, as they do the idle timer.
        answer = "200"
        deadline = time.monotonic() + 10
        while answer.startswith("200") and time.monotonic() < deadline:
            client.putcmd("NOOP")
            answer = reply(client)
            # Not a wait but the stimulus: a command every 50 ms, well within the
            # 0.3 s timeout, would keep a timer that commands restart from firing.
            time.sleep(0.05)
        assert answer == "421 Login timed out."
        client.close()
        eventually(lambda: server.connections == 0, "no connection is left")


def test_logged_in_sessions_outlive_the_login_timeout(backend: FakeBackend) -> None:
    with FtpServer(backend, host="127.0.0.1", port=0, login_timeout=0.3) as server:
        phone = login(server)
        late = connect(server)  # connected after the phone, so it times out after it would have
        assert reply(late) == "421 Login timed out."
        assert retr(phone, "config.cfg") == BINARY
        phone.quit()
        late.close()


def test_a_full_server_closes_its_oldest_connection_not_logged_in(backend: FakeBackend) -> None:
    with FtpServer(backend, host="127.0.0.1", port=0, max_connections=3) as server:
        phone = login(server)
        oldest, idle = connect(server), connect(server)
        newcomer = login(server)  # the server was full
        assert reply(oldest).startswith("421")
        assert retr(newcomer, "config.cfg") == BINARY
        idle.voidcmd("NOOP")  # only the oldest made room
        phone.voidcmd("NOOP")  # logged-in sessions are never closed for a newcomer
        assert server.connections == 3
        for client in (phone, oldest, idle, newcomer):
            client.close()


def test_a_slow_backend_call_does_not_stall_other_sessions(
    server: FtpServer[Login], backend: FakeBackend
) -> None:
    backend.files["slow.cfg"] = b"slow"
    backend.gates["slow.cfg"] = gate = threading.Event()
    waiting = login(server)
    waiting.voidcmd("TYPE I")
    waiting.putcmd("SIZE slow.cfg")
    eventually(lambda: "slow.cfg" in backend.reads, "slow.cfg is being read")
    other = login(server)  # while that read is still blocked in the backend
    assert retr(other, "config.cfg") == BINARY
    other.quit()
    assert not gate.is_set()
    gate.set()
    assert reply(waiting) == "213 4"
    waiting.quit()


def test_commands_sent_while_the_backend_is_asked_run_in_order(
    server: FtpServer[Login], backend: FakeBackend
) -> None:
    backend.files["slow.cfg"] = b"slow"
    backend.gates["slow.cfg"] = gate = threading.Event()
    client = login(server)
    client.voidcmd("TYPE I")
    assert client.sock is not None
    client.sock.sendall(
        b"SIZE slow.cfg\r\nTYPE A\r\nSIZE config.cfg\r\nTYPE I\r\nSIZE config.cfg\r\n"
    )
    eventually(lambda: "slow.cfg" in backend.reads, "slow.cfg is being read")
    gate.set()
    replies = [reply(client)[:3] for _ in range(5)]
    assert replies == ["213", "200", "550", "200", "213"]
    client.quit()


def test_pipelined_password_guesses_each_wait_for_their_refusal(
    server: FtpServer[Login], backend: FakeBackend
) -> None:
    client = connect(server)
    assert client.sock is not None
    client.sock.sendall(b"USER phone\r\nPASS guess\r\n" * 5)
    replies = [reply(client) for _ in range(6)]
    assert replies == ["331 Username ok, send password.", LOGIN_REFUSED] * 2 + [
        "331 Username ok, send password.",
        f"{LOGIN_REFUSED} Disconnecting.",
    ]
    with pytest.raises(EOFError):
        client.getresp()
    assert len(backend.logins) == 3  # the guesses after the third never reach the backend
    client.close()


def test_a_flood_of_commands_while_busy_ends_the_session(
    server: FtpServer[Login], backend: FakeBackend
) -> None:
    backend.files["slow.cfg"] = b"slow"
    backend.gates["slow.cfg"] = gate = threading.Event()
    client = login(server)
    client.voidcmd("TYPE I")
    assert client.sock is not None
    client.sock.sendall(b"SIZE slow.cfg\r\n" + b"NOOP\r\n" * 1000)
    assert reply(client) == "421 Too many commands at once."
    gate.set()
    eventually(lambda: server.connections == 0, "no connection is left")
    client.close()


def test_unused_passive_listeners_time_out(backend: FakeBackend) -> None:
    with FtpServer(backend, host="127.0.0.1", port=0, data_timeout=0.3) as server:
        client = login(server)
        client.sendcmd("PASV")
        with pytest.raises(ftplib.error_temp, match="^421"):
            client.getresp()
        client.close()


def test_server_survives_clients_vanishing_mid_transfer(
    server: FtpServer[Login], backend: FakeBackend
) -> None:
    backend.files["big.bin"] = b"\xa5" * 20_000_000
    for _ in range(3):
        client = login(server)
        client.voidcmd("TYPE I")
        data = client.transfercmd("RETR big.bin")
        assert data.recv(4096)
        reset(data)
        vanish(client)
    for _ in range(3):
        client = connect(server)
        assert client.sock is not None
        client.sock.sendall(b"USER phone\r\nPASS ")  # and never finish the line
        vanish(client)
    client = login(server)
    assert retr(client, "config.cfg") == BINARY
    client.quit()
    eventually(
        lambda: len([e for e in backend.events if e.path == "big.bin"]) == 3,
        "three events for big.bin",
    )
    big = [e for e in backend.events if e.path == "big.bin"]
    assert [(e.command, e.status) for e in big] == [("RETR", 426)] * 3
    # Every session ended; none waits for an idle timer (60 s here).
    eventually(lambda: server.connections == 0, "no connection is left")


# --- lifecycle


def test_close_stops_every_thread(backend: FakeBackend) -> None:
    before = set(threading.enumerate())
    server = FtpServer(backend, host="127.0.0.1", port=0)
    server.start()
    address = server.address
    idle = login(server)
    busy = login(server)
    busy.voidcmd("TYPE I")
    backend.files["big.bin"] = b"\x00" * 20_000_000
    transfer = busy.transfercmd("RETR big.bin")
    assert set(threading.enumerate()) - before  # the server thread and a backend thread
    started = time.monotonic()
    server.close()
    assert time.monotonic() - started < 3
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=2)
    with pytest.raises((EOFError, OSError)):
        idle.voidcmd("NOOP")
    transfer.close()
    busy.close()
    idle.close()
    server.close()  # a second close is harmless
    with pytest.raises(RuntimeError):
        server.start()


def test_an_address_in_use_fails_start(server: FtpServer[Login], backend: FakeBackend) -> None:
    host, port = server.address
    second = FtpServer(backend, host=host, port=port)
    with pytest.raises(OSError, match="in use"):
        second.start()
    second.close()


def test_an_accept_error_does_not_stop_the_server(
    backend: FakeBackend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    accept = _Acceptor.accept  # type: ignore[attr-defined]
    failures = [OSError(errno.EMFILE, "Too many open files")]

    def failing_accept(self: _Acceptor) -> object:
        if failures:
            raise failures.pop()
        return accept(self)

    monkeypatch.setattr(_Acceptor, "accept", failing_accept)
    with FtpServer(backend, host="127.0.0.1", port=0) as server:
        client = login(server)  # accepted on the second try
        assert retr(client, "config.cfg") == BINARY
        client.close()
    assert failures == []
    assert "FTP accept failed" in caplog.text


def test_two_servers_are_independent(backend: FakeBackend) -> None:
    with FtpServer(backend, host="127.0.0.1", port=0) as first:
        client = login(first)
        with FtpServer(backend, host="127.0.0.1", port=0) as second:
            login(second).close()
        # Closing the second server must not end the first one's sessions.
        assert retr(client, "config.cfg") == BINARY
        client.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"port": 70000}, "port"),
        ({"passive_ports": range(0)}, "passive"),
        ({"passive_ports": range(65535, 65537)}, "passive"),
        ({"max_connections": 0}, "limits"),
        ({"banner": "hello\r\n230 logged in"}, "banner"),
        ({"idle_timeout": -1.0}, "timeouts"),
        ({"login_timeout": 0.0}, "login timeout"),
        ({"backend_threads": 0}, "threads"),
    ],
)
def test_invalid_settings(backend: FakeBackend, options: dict[str, object], message: str) -> None:
    settings: dict[str, object] = {"host": "127.0.0.1", "port": 0, **options}
    with pytest.raises(ValueError, match=message):
        FtpServer(backend, **settings)  # type: ignore[arg-type]


# --- no local filesystem, no secrets in logs


def test_virtual_fs_overrides_every_method() -> None:
    # Defined by VirtualFS or a class between it and AbstractedFS (RefusingFS):
    # a method left to AbstractedFS would use the local disk.
    ours = VirtualFS.__mro__[: VirtualFS.__mro__.index(AbstractedFS)]
    defined = {name for cls in ours for name in vars(cls)}
    inherited = [
        name
        for name, value in vars(AbstractedFS).items()
        if callable(value) and not name.startswith("_") and name not in defined
    ]
    assert "open" in vars(AbstractedFS)
    assert RefusingFS in ours
    assert inherited == []


def test_no_password_reaches_a_log_or_an_event(
    caplog: pytest.LogCaptureFixture, backend: FakeBackend
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="pyftpdlib")
    with FtpServer(backend, host="127.0.0.1", port=0, login_failure_delay=0.01) as server:
        client = login(server)
        retr(client, "config.cfg")
        stor(client, "STOR app.log", b"line\n")
        with pytest.raises(ftplib.error_perm):
            client.sendcmd(f"PASS {PASSWORD}")  # already logged in
        client.quit()
        for line in (f" PASS {PASSWORD}", f"pass {PASSWORD}", f"XPASS {PASSWORD}"):
            client = connect(server)
            client.sendcmd("USER nobody")
            with pytest.raises(ftplib.Error):
                client.sendcmd(line)
            client.close()
        client = connect(server)
        with pytest.raises(ftplib.error_perm):
            client.login("nobody", PASSWORD)
        backend.fail.add("authenticate")  # its message includes the password
        with pytest.raises(ftplib.error_perm):
            client.login(USER, PASSWORD)
        client.close()
        backend.wait_event(lambda e: e.user == "nobody")
    assert "FTP backend authenticate failed: ValueError" in caplog.text  # capture works
    logged = caplog.text + "".join(repr(record.__dict__) for record in caplog.records)
    assert PASSWORD not in logged
    assert PASSWORD not in repr(backend.events)
    assert not [r for r in caplog.records if r.name.startswith("pyftpdlib")]

"""Slow and malformed HTTP(S) clients against the real ``provisioner serve`` (security item 6).

Raw sockets play the attackers from their own loopback addresses
(127.0.0.x), curl plays phones. Two servers: ``strict`` with 1 s header
and handshake timeouts, ``capped`` with the default timeouts and at most
four connections per address. A connection "closed by the server" is
awaited up to ``DEADLINE``, which is far above the configured timeouts and
below asyncio's own 60 s TLS handshake timeout, so the tests fail without
ours and never depend on how fast the machine is.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers import fetch_with_curl, free_port
from tests.serve_process import run_cli_in_process, serving
from tests.waiting import eventually

DEADLINE = 20.0
CAP = 4
SHARED = "y000000000066.cfg"  # a Yealink file every T46S may fetch, without credentials
FLEET = {
    "tenants": [{"name": "acme", "sip_domain": "acme.example.com"}],
    "phones": [{"tenant": "acme", "mac": "805ec0000101", "model": "t46s"}],
}


@dataclass(frozen=True)
class Server:
    http: int
    https: int
    log: Path


def _serve(data: Path, *options: str) -> Iterator[Server]:
    data.mkdir(parents=True, exist_ok=True)
    (data / "fleet.json").write_text(json.dumps(FLEET))
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(data / "fleet.json"))
    https = free_port()
    with serving(data, "--https-port", str(https), *options) as running:
        yield Server(running.http, https, running.log)


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    options = ("--header-timeout", "1", "--handshake-timeout", "1")
    yield from _serve(tmp_path_factory.mktemp("strict"), *options)


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    options = ("--max-connections-per-address", str(CAP), "--trusted-proxies", "127.0.0.5/32")
    yield from _serve(tmp_path_factory.mktemp("capped"), *options)


def connect(port: int, source: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), DEADLINE, source_address=(source, 0))


def no_verify() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection; fails after ``DEADLINE``."""
    received = b""
    deadline = time.monotonic() + DEADLINE
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    pytest.fail(f"the server kept the connection open for {DEADLINE:.0f} s")


def get(port: int, source: str, path: str = "/healthz") -> http.client.HTTPConnection:
    """A keep-alive connection from ``source`` that has been answered once (200)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, DEADLINE, (source, 0))
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    return conn


def curl(port: int, source: str, path: str = SHARED, scheme: str = "http") -> int:
    """The status ``source`` gets (0: no answer, the connection was closed)."""
    url = f"{scheme}://127.0.0.1:{port}/{path}"
    return fetch_with_curl("--insecure", "--interface", source, url)[0]


def open_connections(port: int) -> int:
    status, body = fetch_with_curl(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    found = re.search(rb"^provisioner_http_connections (\d+)$", body, re.MULTILINE)
    assert found is not None, body
    return int(found.group(1))


# --- header and handshake timeouts ---------------------------------------------------


def test_half_a_request_line_is_closed(strict: Server) -> None:
    with connect(strict.http, "127.0.0.2") as sock:
        sock.sendall(b"GET /y0000")
        read_until_closed(sock)


def test_headers_sent_a_byte_at_a_time_are_closed(strict: Server) -> None:
    # Arriving data must not restart the clock: the limit is on the whole header.
    with connect(strict.http, "127.0.0.2") as sock:
        sock.sendall(b"GET /" + SHARED.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable:
                break
            try:
                sock.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                return
        assert read_until_closed(sock) == b""


def test_an_idle_keep_alive_connection_is_closed(strict: Server) -> None:
    conn = get(strict.http, "127.0.0.2")
    assert conn.sock is not None
    with conn.sock as sock:
        read_until_closed(sock)


def test_a_silent_tls_handshake_is_closed(strict: Server) -> None:
    with connect(strict.https, "127.0.0.2") as sock:
        read_until_closed(sock)


def test_a_partial_client_hello_is_closed(strict: Server) -> None:
    client = no_verify().wrap_bio(ssl.MemoryBIO(), outgoing := ssl.MemoryBIO())
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    hello = outgoing.read()
    with connect(strict.https, "127.0.0.2") as sock:
        sock.sendall(hello[: len(hello) // 2])
        read_until_closed(sock)


def test_a_tls_connection_without_a_request_is_closed(strict: Server) -> None:
    with no_verify().wrap_socket(connect(strict.https, "127.0.0.2")) as sock:
        assert read_until_closed(sock) == b""


# --- malformed requests ------------------------------------------------------------

MALFORMED = (
    b"GARBAGE\r\n\r\n",
    b"GET /" + SHARED.encode() + b" HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    b"GET /" + SHARED.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
)
BAN_LIMIT = 30  # serve's default


def send_malformed(sock: socket.socket, request: bytes) -> None:
    try:
        sock.sendall(request)
    except (BrokenPipeError, ConnectionResetError):
        return  # closed before all of it was sent (the oversized header)
    read_until_closed(sock)


def lines_about(log: Path, address: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if f"client={address} " in line]


def test_malformed_requests_are_one_line_each_and_lead_to_a_ban(strict: Server) -> None:
    source = "127.0.0.6"
    assert curl(strict.http, source) == 200
    for number in range(BAN_LIMIT - 1):
        with connect(strict.http, source) as sock:
            send_malformed(sock, MALFORMED[number % len(MALFORMED)])
    with no_verify().wrap_socket(connect(strict.https, source)) as tls:
        send_malformed(tls, MALFORMED[0])

    log = strict.log.read_text()
    assert "Traceback" not in log
    lines = lines_about(strict.log, source)
    malformed = [line for line in lines if "event=malformed_request" in line]
    assert len(malformed) == BAN_LIMIT, lines
    assert sum("protocol=https" in line for line in malformed) == 1
    assert sum("event=ban " in line for line in lines) == 1
    # Banned: connections are closed at once, unread, and nothing more is logged.
    assert curl(strict.http, source) == 0
    with connect(strict.http, source) as sock:
        send_malformed(sock, MALFORMED[0])
    assert lines_about(strict.log, source) == lines
    # Everyone else is still served.
    assert curl(strict.http, "127.0.0.7") == 200


# --- connections per address ---------------------------------------------------------


def test_connections_over_the_cap_are_closed(capped: Server) -> None:
    with ExitStack() as held:
        for _ in range(CAP):
            held.callback(get(capped.http, "127.0.0.2").close)
        with connect(capped.http, "127.0.0.2") as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_until_closed(extra) == b""
        assert curl(capped.http, "127.0.0.3") == 200
        # One cap for both ports.
        assert curl(capped.https, "127.0.0.2", scheme="https") == 0
    # Once its connections are closed, the address is served again.
    eventually(
        lambda: curl(capped.http, "127.0.0.2") == 200, "the address stayed refused", DEADLINE
    )


def test_tls_handshakes_count_towards_the_cap(capped: Server) -> None:
    with ExitStack() as held:
        for _ in range(CAP):
            held.enter_context(connect(capped.https, "127.0.0.4"))  # silent: no ClientHello
        # The server accepts them in its own time: ask until the next one is refused.
        eventually(
            lambda: curl(capped.http, "127.0.0.4", path="healthz") == 0,
            "pending handshakes were not counted",
            DEADLINE,
        )


def test_a_trusted_proxy_is_not_capped(capped: Server) -> None:
    with ExitStack() as held:
        for _ in range(CAP + 2):
            held.callback(get(capped.http, "127.0.0.5").close)


def test_nothing_is_kept_once_slow_clients_are_gone(capped: Server) -> None:
    with ExitStack() as held:
        for number in range(2, 2 + 10):
            for port in (capped.http, capped.https):
                sock = held.enter_context(connect(port, f"127.0.1.{number}"))
                if port == capped.http:
                    sock.sendall(b"GET /y0000")
        # 20 slow clients and the one asking.
        eventually(
            lambda: open_connections(capped.http) >= 21,
            "the connections were not accepted",
            DEADLINE,
        )
    eventually(
        lambda: open_connections(capped.http) == 1, "closed connections are still counted", DEADLINE
    )


def test_a_trusted_proxy_is_not_banned_for_malformed_requests(capped: Server) -> None:
    # It passes on what its clients send; which client it was cannot be told.
    for _ in range(BAN_LIMIT + 1):
        with connect(capped.http, "127.0.0.5") as sock:
            send_malformed(sock, MALFORMED[1])
    assert curl(capped.http, "127.0.0.5") == 200
    log = capped.log.read_text()
    assert log.count("event=malformed_request proxy=127.0.0.5 ") == BAN_LIMIT + 1
    assert "Traceback" not in log

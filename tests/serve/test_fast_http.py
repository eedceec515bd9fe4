"""The fast path of plain HTTP: the same answers as aiohttp's, in order, handing over when it must.

Raw sockets, so that the test decides what goes on the wire: a request with
``Connection: close`` is always handed to aiohttp, the same request without
it is answered by the fast path (``provisioner/serve/_fast_http.py``).
"""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.catalog import Catalog
from provisioner.etags import etag_of
from provisioner.phone_files import phone_files
from provisioner.serve._fast_http import _MAX_QUEUED
from tests.serve.harness import HOSTED, PASSWORD, POLYCOM, TOKEN, YEALINK, harness
from tests.serve.test_http import Running


@pytest.fixture
def server(tmp_path: Path, catalog: Catalog) -> Iterator[Running]:
    with harness(tmp_path, catalog) as h:
        running = Running(h, tmp_path)
        try:
            yield running
        finally:
            running.stop()


def exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` at once; everything answered until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def request(path: str, *lines: str, method: str = "GET", close: bool = False) -> bytes:
    head = [f"{method} /{path} HTTP/1.1", "Host: phone", *lines]
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode()


def answers(data: bytes, heads: int = 0) -> list[tuple[str, list[str], bytes]]:
    """Split raw answers: status line, headers (without Date and Connection), body.

    The first ``heads`` answers are to HEAD requests (no body).
    """
    found: list[tuple[str, list[str], bytes]] = []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = [line for line in lines if not line.lower().startswith(("date:", "connection:"))]
        lengths = [line.split(":")[1] for line in lines if line.startswith("Content-Length")]
        length = int(lengths[0]) if lengths else 0
        if status.split()[1] == "304" or len(found) < heads:
            length = 0
        body, data = data[:length], data[length:]
        found.append((status, headers, body))
    return found


def codes(got: list[tuple[str, list[str], bytes]]) -> list[int]:
    """The status codes of split answers (:func:`answers`), in order."""
    return [int(status.split()[1]) for status, _, _ in got]


def masked(text: bytes) -> bytes:
    return re.sub(rb'nonce="[^"]+"', b'nonce="N"', text)


@pytest.mark.parametrize(
    ("path", "lines"),
    [
        (f"{POLYCOM}.cfg", ()),  # 200
        (f"{YEALINK}.cfg", ()),  # 401 with two challenges
        ("0004f2999999.cfg", ("Authorization: Digest username=x",)),  # the uniform 404
        ("favicon.ico", ()),  # 404
    ],
)
def test_answers_are_those_of_aiohttp(server: Running, path: str, lines: tuple[str, ...]) -> None:
    fast = exchange(server.port, request(path, *lines) + request("healthz", close=True))
    slow = exchange(server.port, request(path, *lines, close=True))
    fast_answer = answers(masked(fast))[0]
    assert fast_answer == answers(masked(slow))[0]
    # Connection: close came back from aiohttp only: the first answer was the fast path's.
    assert b"Connection: close" not in fast.partition(b"\r\n\r\n")[0]


def test_head_and_not_modified_match_aiohttp(server: Running) -> None:
    path = f"{POLYCOM}.cfg"
    head = request(path, method="HEAD")
    fast = answers(exchange(server.port, head + request("healthz", close=True)), heads=1)[0]
    slow = answers(exchange(server.port, request(path, method="HEAD", close=True)), heads=1)[0]
    assert fast[0] == "HTTP/1.1 200 OK"
    assert fast[2] == b""
    assert fast[1] == slow[1]
    etag = next(line.split(": ", 1)[1] for line in fast[1] if line.startswith("ETag"))
    conditional = request(path, f"If-None-Match: {etag}")
    fast = answers(exchange(server.port, conditional + request("healthz", close=True)))[0]
    slow = answers(exchange(server.port, request(path, f"If-None-Match: {etag}", close=True)))[0]
    assert fast[0] == "HTTP/1.1 304 Not Modified"
    assert fast == slow


def test_pipelined_requests_are_answered_in_order_across_the_hand_over(
    server: Running,
) -> None:
    pipelined = (
        request(f"{POLYCOM}.cfg")  # fast
        + request("favicon.ico")  # fast, 404
        + request("x", method="DELETE")  # handed over: 405 from aiohttp
        + request(f"{POLYCOM}.cfg", close=True)  # aiohttp's from now on
    )
    got = answers(exchange(server.port, pipelined))
    assert codes(got) == [200, 404, 405, 200]
    assert got[0][2] == got[3][2]
    assert got[0][2].startswith(b"<?xml")


def authorization(server: Running, path: str) -> str:
    """An ``Authorization`` line answering a fresh challenge for the Yealink phone's ``path``."""
    challenge = exchange(server.port, request(path, close=True)).decode()
    realm = re.search(r'realm="([^"]+)"', challenge)
    nonce = re.search(r'algorithm=MD5, nonce="([^"]+)"', challenge)
    assert realm is not None
    assert nonce is not None
    ha1 = hashlib.md5(f"{YEALINK}:{realm[1]}:{PASSWORD}".encode()).hexdigest()
    ha2 = hashlib.md5(f"GET:/{path}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce[1]}:00000001:c0ffee:auth:{ha2}".encode()).hexdigest()
    return (
        f'Authorization: Digest username="{YEALINK}", realm="{realm[1]}", nonce="{nonce[1]}", '
        f'uri="/{path}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee", '
        f'response="{response}"'
    )


def test_an_awaited_answer_keeps_its_place(server: Running) -> None:
    """A digest answer is claimed for the cluster (awaited); what follows waits for it."""
    path = f"{YEALINK}.cfg"
    authorization_line = authorization(server, path)
    pipelined = (
        request(path, authorization_line)
        + request(path, authorization_line)  # the same answer again: a replay
        + request(f"{POLYCOM}.cfg", close=True)
    )
    got = answers(exchange(server.port, pipelined))
    assert codes(got) == [200, 404, 200]
    assert b"line-secret-101" in got[0][2]
    assert got[2][2].startswith(b"<?xml")


def test_nothing_of_one_request_carries_into_the_next_on_a_connection(server: Running) -> None:
    """The connection's one parser reads each head afresh: no header outlives its request."""
    yealink, polycom = f"{YEALINK}.cfg", f"{POLYCOM}.cfg"
    first = answers(exchange(server.port, request(polycom, close=True)))[0]
    etag = next(line.split(": ", 1)[1] for line in first[1] if line.startswith("ETag"))
    pipelined = (
        request(yealink, authorization(server, yealink))  # 200: answered
        + request(yealink)  # no answer of its own: challenged
        + request(polycom, f"If-None-Match: {etag}")  # 304
        + request(polycom)  # no validator of its own: the file
        + request("healthz", close=True)  # aiohttp's, after four fast answers
    )
    got = answers(exchange(server.port, pipelined))
    assert codes(got) == [200, 401, 304, 200, 200]
    assert got[3][2] == first[2]


def test_a_file_held_deflated_is_sent_as_rendered(server: Running, catalog: Catalog) -> None:
    # The hosted phone's files are held deflated against the first phone's
    # of its family (serve/_packing.py): GET and HEAD, on the fast path and
    # through aiohttp, send the rendered bytes, their length and ETag.
    h = server.h
    found = h.cache.lookup(f"{HOSTED}.cfg", TOKEN)
    assert found is not None
    assert found[1].dictionary is not None
    files, _ = phone_files(catalog, h.store.tenants.snapshot([HOSTED]), HOSTED, reveal=True)
    rendered = next(f.data for f in files if f.path == f"{HOSTED}.cfg")
    path = f"{TOKEN}/{HOSTED}.cfg"
    fast = answers(exchange(server.port, request(path) + request("healthz", close=True)))[0]
    slow = answers(exchange(server.port, request(path, close=True)))[0]
    assert fast == slow
    assert fast[2] == rendered
    assert f"Content-Length: {len(rendered)}" in fast[1]
    assert f"ETag: {etag_of(rendered)}" in fast[1]
    head = request(path, method="HEAD")
    fast_head = answers(exchange(server.port, head + request("healthz", close=True)), heads=1)[0]
    slow_head = answers(exchange(server.port, request(path, method="HEAD", close=True)), heads=1)
    assert fast_head == slow_head[0] == (fast[0], fast[1], b"")


def test_many_pipelined_requests_are_all_answered_in_order(server: Running) -> None:
    """More answers than a connection may queue at once (serve/_fast_http.Outbox): all come."""
    size = len(answers(exchange(server.port, request(f"{POLYCOM}.cfg", close=True)))[0][2])
    count = 3 * _MAX_QUEUED // size + 1  # the connection holds back at least three times
    pipelined = request(f"{POLYCOM}.cfg") * count + request("favicon.ico", close=True)
    got = answers(exchange(server.port, pipelined))
    assert codes(got) == [200] * count + [404]
    assert {body for _, _, body in got[:-1]} == {got[0][2]}

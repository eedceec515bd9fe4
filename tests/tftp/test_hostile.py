"""Hostile datagrams through the server's real receive paths: nothing raises, one reply at most.

The request port is driven through the socket and the event loop exactly
as in service; a transfer's socket both on the loop and in the lane. A
datagram that raised would reach the loop's exception handler (the
traceback-per-packet flood of the security report); a bug caught by the
server's own guard would be logged at ERROR. Both fail these tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from provisioner.tftp import (
    Data,
    Error,
    Limits,
    ReadRequest,
    ReadSession,
    TftpServer,
    WriteSession,
    decode,
    encode,
)
from tests.peers import free_port
from tests.tftp._client import Peer, fetch
from tests.tftp._hostile import FLOOD_DATAGRAM, datagrams
from tests.waiting import eventually_async

FILES = {"small.cfg": b"<config/>\n" * 100, "lane.bin": bytes(range(251)) * 200}
# Sent after each hostile datagram: its reply marks the hostile one as handled.
PROBE = encode(Data(1, b"x"))
PROBE_REPLY = encode(Error(4, "Illegal TFTP operation"))


async def not_found(name: str, client: tuple[str, int]) -> bytes | None:
    return None


async def serve_files(name: str, client: tuple[str, int]) -> bytes | None:
    return FILES.get(name)


class _Records(logging.Handler):
    """Log records of ERROR and above, and any with a traceback."""

    def __init__(self) -> None:
        super().__init__()
        self.bad: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.bad.append(record)


@contextlib.contextmanager
def bad_log_records() -> Iterator[list[logging.LogRecord]]:
    handler = _Records()
    logger = logging.getLogger("provisioner.tftp")
    logger.addHandler(handler)
    try:
        yield handler.bad
    finally:
        logger.removeHandler(handler)


@asynccontextmanager
async def running(
    read: Callable[[str, tuple[str, int]], Any] = not_found, **kwargs: Any
) -> AsyncIterator[tuple[TftpServer, list[dict[str, Any]]]]:
    """A started server and the contexts of exceptions that reached the event loop."""
    loop = asyncio.get_running_loop()
    escaped: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: escaped.append(context))
    server = TftpServer(read, host="127.0.0.1", port=free_port(socket.SOCK_DGRAM), **kwargs)
    await server.start()
    try:
        yield server, escaped
    finally:
        await server.close()


async def replies_to(server: TftpServer, datagram: bytes) -> list[bytes]:
    """What the server sends back for ``datagram``, from a fresh client socket.

    The probe sent after it is answered in order, so once the probe's reply
    is in, every immediate reply to ``datagram`` is too; a request's
    not-found comes from its transfer task, awaited until none is left.
    """
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        sock.sendto(datagram, server.address)
        sock.sendto(PROBE, server.address)
        received: list[bytes] = []
        while PROBE_REPLY not in received:
            reply, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, 65536), 2.0)
            received.append(reply)
        await eventually_async(lambda: server.active == 0, "no transfer is left")
        with contextlib.suppress(BlockingIOError):
            while True:
                received.append(sock.recv(65536))
    received.remove(PROBE_REPLY)
    return received


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datagrams)
@example(FLOOD_DATAGRAM)
@example(b"\0\2a\0octet\0\xff\xfe\0abc")
@example(b"\0\1\xff\xfe\0octet\0")
@example(b"\0\1a\0\xff\xfe\0")
def test_any_datagram_at_the_request_port(datagram: bytes) -> None:
    malformed: list[str] = []

    async def body() -> list[bytes]:
        async with running(on_malformed=malformed.append) as (server, escaped):
            replies = await replies_to(server, datagram)
            assert escaped == []
            return replies

    with bad_log_records() as bad:
        replies = asyncio.run(body())
    assert bad == []
    assert len(replies) <= 1
    for reply in replies:
        assert isinstance(decode(reply), Error)  # a refusal: nothing here names a file
    assert set(malformed) <= {"127.0.0.1"}


def test_the_flood_datagram_is_refused_with_a_readable_error() -> None:
    async def body() -> list[bytes]:
        async with running() as (server, _):
            return await replies_to(server, FLOOD_DATAGRAM)

    assert asyncio.run(body()) == [
        encode(Error(4, "value of option '\\xff\\xfe' is not NUL-terminated"))
    ]


@pytest.mark.parametrize("name", ["small.cfg", "lane.bin"])
def test_hostile_datagram_at_a_transfer_port(name: str) -> None:
    """On the loop (small.cfg) and in the lane (lane.bin): ERROR 4, and the server goes on."""

    async def body() -> None:
        async with running(serve_files) as (server, escaped):
            peer = await Peer.open()
            peer.send(encode(ReadRequest(name)), server.address)
            _, tid = await peer.receive()
            assert server.lane_busy is (name == "lane.bin")
            peer.send(b"\0\6\xff\xfe\0abc", tid)  # an OACK with the report's options
            reply, source = await peer.receive()
            assert (reply, source) == (
                encode(Error(4, "value of option '\\xff\\xfe' is not NUL-terminated")),
                tid,
            )
            await eventually_async(lambda: server.active == 0, "no transfer is left")
            peer.close()
            assert (await fetch(*server.address, name)).data == FILES[name]
            assert escaped == []

    with bad_log_records() as bad:
        asyncio.run(body())
    assert bad == []


# The sans-IO sessions behind both transfer paths (loop and lane), mid-transfer.


@given(datagrams)
@example(b"\0\6\xff\xfe\0abc")
def test_a_read_session_takes_any_datagram(datagram: bytes) -> None:
    session = ReadSession(FILES["lane.bin"], limits=Limits())
    session.start(0.0)
    assert len(session.receive(datagram, 0.5)) <= 1  # windowsize 1: one DATA or one ERROR


@given(datagrams, st.booleans())
@example(b"\0\6\xff\xfe\0abc", False)
def test_a_write_session_takes_any_datagram(datagram: bytes, after_a_block: bool) -> None:
    session = WriteSession(limits=Limits())
    session.start(0.0)
    if after_a_block:
        session.receive(encode(Data(1, b"x" * 512)), 0.1)
    assert len(session.receive(datagram, 0.5)) <= 1


# Reporting, logging and bans.


def test_malformed_datagrams_are_reported_each_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    malformed: list[str] = []

    async def body() -> None:
        async with running(on_malformed=malformed.append) as (server, _):
            peer = await Peer.open()
            for _ in range(50):
                peer.send(FLOOD_DATAGRAM, server.address)
            for _ in range(50):
                await peer.receive()
            peer.close()

    with caplog.at_level(logging.INFO, logger="provisioner.tftp"):
        asyncio.run(body())
    assert malformed == ["127.0.0.1"] * 50
    lines = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert lines == [
        "TFTP malformed datagram from 127.0.0.1: value of option '\\xff\\xfe' is not NUL-terminated"
    ]


def test_a_banned_address_gets_no_reply_at_all(caplog: pytest.LogCaptureFixture) -> None:
    malformed: list[str] = []

    async def body() -> None:
        async with running(
            serve_files, on_malformed=malformed.append, banned=lambda host: host == "127.0.0.77"
        ) as (server, _):
            banned = await Peer.open("127.0.0.77")
            for datagram in (encode(ReadRequest("small.cfg")), FLOOD_DATAGRAM, PROBE):
                banned.send(datagram, server.address)
            assert await banned.silent()
            banned.close()
            assert (await fetch(*server.address, "small.cfg")).data == FILES["small.cfg"]

    with caplog.at_level(logging.INFO, logger="provisioner.tftp"):
        asyncio.run(body())
    assert malformed == []
    assert not [r for r in caplog.records if "127.0.0.77" in r.getMessage()]


def test_a_failing_on_malformed_callback_costs_one_datagram(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail(host: str) -> None:
        raise RuntimeError("counting failed")

    async def body() -> None:
        async with running(serve_files, on_malformed=fail) as (server, escaped):
            peer = await Peer.open()
            for _ in range(20):
                peer.send(FLOOD_DATAGRAM, server.address)
            for _ in range(20):
                await peer.receive()  # the refusal went out before the callback
            peer.close()
            assert (await fetch(*server.address, "small.cfg")).ok
            assert escaped == []

    with caplog.at_level(logging.INFO, logger="provisioner.tftp"):
        asyncio.run(body())
    failures = [r for r in caplog.records if r.exc_info]
    assert [r.getMessage() for r in failures] == ["TFTP request from 127.0.0.1 failed"]

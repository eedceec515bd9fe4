"""The fast path's outbox: answers written together after the loop's pass, in order, bounded.

In process, with transports that keep what is written, so that the test
sees when each answer is written (``provisioner/serve/_fast_http.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.catalog import Catalog
from provisioner.serve._connections import Connections
from provisioner.serve._fast_http import _MAX_QUEUED, FastConnection
from tests.security.test_timing_parity import _failures
from tests.serve.harness import POLYCOM, Harness, harness


class Kept(asyncio.Transport):
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name == "peername" else default

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _handed(*args: object) -> None:
    raise AssertionError(f"handed over: {args!r}")


REQUEST = f"GET /{POLYCOM}.cfg HTTP/1.1\r\nHost: phone\r\n\r\n".encode()


@pytest.fixture
def h(tmp_path: Path, catalog: Catalog) -> Iterator[Harness]:
    with harness(tmp_path, catalog) as made:
        yield made


def _connect(connections: Connections) -> tuple[FastConnection, Kept]:
    connection = FastConnection(connections, "127.0.0.1", _handed)
    transport = Kept()
    connection.connection_made(transport)
    return connection, transport


def test_answers_are_written_after_the_pass_in_one_go(h: Harness) -> None:
    async def run() -> tuple[list[int], list[int]]:
        connections = Connections(h.gateway, per_address=8, header_timeout=30, handshake_timeout=30)
        (a, ta), (b, tb) = _connect(connections), _connect(connections)
        a.data_received(REQUEST)
        b.data_received(REQUEST * 2)
        during = [len(ta.written), len(tb.written)]  # made, not yet written
        await asyncio.sleep(0)  # the end of this pass of the loop
        return during, [len(ta.written), len(tb.written)]

    during, after = h.run(run())
    assert during == [0, 0]
    assert after == [1, 2]


def test_a_connection_holds_back_what_it_cannot_queue_and_goes_on(h: Harness) -> None:
    async def run() -> tuple[int, int, list[bytes]]:
        connections = Connections(h.gateway, per_address=8, header_timeout=30, handshake_timeout=30)
        connection, transport = _connect(connections)
        connection.data_received(REQUEST)
        await asyncio.sleep(0)
        size = len(transport.written[0])
        count = 3 * _MAX_QUEUED // size + 1
        transport.written.clear()
        connection.data_received(REQUEST * count)
        queued = connection._queued  # what one pass queued before holding back
        for _ in range(count):  # each pass writes the queued answers and makes more
            if len(transport.written) >= count:
                break
            await asyncio.sleep(0)
        return size, queued, transport.written

    size, queued, written = h.run(run())
    count = 3 * _MAX_QUEUED // size + 1
    assert _MAX_QUEUED <= queued < _MAX_QUEUED + size
    assert len(written) == count
    assert len({answer.split(b"\r\n\r\n", 1)[1] for answer in written}) == 1


def test_answers_made_before_a_failure_are_written_before_the_close(h: Harness) -> None:
    async def run() -> Kept:
        connections = Connections(h.gateway, per_address=8, header_timeout=30, handshake_timeout=30)
        connection, transport = _connect(connections)
        connection.data_received(REQUEST)
        connection._close()
        return transport

    transport = h.run(run())
    assert transport.closed
    assert len(transport.written) == 1
    assert transport.written[0].startswith(b"HTTP/1.1 200 OK\r\n")


def test_an_answer_for_a_connection_lost_meanwhile_is_dropped(h: Harness) -> None:
    async def run() -> Kept:
        connections = Connections(h.gateway, per_address=8, header_timeout=30, handshake_timeout=30)
        connection, transport = _connect(connections)
        connection.data_received(REQUEST)
        connection.connection_lost(None)
        await asyncio.sleep(0)
        return transport

    assert h.run(run()).written == []


def test_a_failure_is_written_before_its_bookkeeping(h: Harness) -> None:
    """An unknown MAC's answer goes out before its failure is counted (no timing oracle)."""
    unknown = b"GET /805ec0ffffff.cfg HTTP/1.1\r\nHost: phone\r\n\r\n"

    async def run() -> tuple[list[bytes], int, int]:
        connections = Connections(h.gateway, per_address=8, header_timeout=30, handshake_timeout=30)
        connection, transport = _connect(connections)
        connection.data_received(REQUEST + unknown)  # a file, then a failure behind it
        answered = list(transport.written)
        counted_then = _failures(h)
        await asyncio.sleep(0)  # the loop runs the bookkeeping left for after the answer
        return answered, counted_then, _failures(h)

    answered, counted_then, counted_after = h.run(run())
    assert [a.split(b"\r\n", 1)[0] for a in answered] == [
        b"HTTP/1.1 200 OK",  # written first, ahead of its time, to keep the order
        b"HTTP/1.1 401 Unauthorized",  # as any protected phone's, so nothing is told
    ]
    assert (counted_then, counted_after) == (0, 1)

"""The asyncio server over real sockets on loopback, IPv4 and IPv6."""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from provisioner.tftp import (
    Ack,
    Data,
    Error,
    Mode,
    ReadRequest,
    TftpEvent,
    TftpServer,
    WriteRequest,
    decode,
    encode,
)
from tests.peers import free_port
from tests.tftp._client import Peer, fetch
from tests.waiting import eventually_async

FILES = {
    "0004f2123456.cfg": b"<config>" + b"x" * 3000 + b"</config>\n",
    "empty": b"",
    "text.txt": b"line one\nline two\r\n",
    "big.bin": bytes(range(256)) * 4096,  # 1 MiB
    "lane.bin": bytes(range(251)) * 200,  # 98 blocks of 512: a lane's, if one is free
}


async def serve_files(name: str, client: tuple[str, int]) -> bytes | None:
    return FILES.get(name)


@asynccontextmanager
async def running(
    read: Callable[[str, tuple[str, int]], Awaitable[bytes | None]] = serve_files,
    *,
    host: str = "127.0.0.1",
    events: list[TftpEvent] | None = None,
    grace: float = 2.0,
    **kwargs: Any,
) -> AsyncIterator[TftpServer]:
    """A started server on a free port; on exit, closed after ``grace`` seconds at most.

    The grace lets a transfer whose client is done take its final ACK.
    """
    probe = "::1" if ":" in host else "127.0.0.1"
    port = free_port(socket.SOCK_DGRAM, probe)
    on_event = events.append if events is not None else None
    server = TftpServer(read, host=host, port=port, on_event=on_event, **kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.close(grace)


def error(code: int, message: str) -> bytes:
    return encode(Error(code, message))


# Reading.


def test_fetch_in_memory_content() -> None:
    # tftpy crashes on the first transfer from a non-file object (libraries.md §1.1).
    async def body() -> None:
        events: list[TftpEvent] = []
        async with running(events=events) as server:
            host, port = server.address
            for _ in range(3):
                result = await fetch(host, port, "0004f2123456.cfg")
                assert result.ok, result.error
                assert result.data == FILES["0004f2123456.cfg"]
            assert (await fetch(host, port, "empty")).data == b""
            assert (await fetch(host, port, "big.bin")).data == FILES["big.bin"]
        assert [e.status for e in events] == ["ok"] * 5
        assert events[0].filename == "0004f2123456.cfg"
        assert events[0].transferred == len(FILES["0004f2123456.cfg"])
        assert events[0].operation == "read"
        assert events[0].client[0] == "127.0.0.1"

    asyncio.run(body())


def test_options_netascii_and_windows_end_to_end() -> None:
    async def body() -> None:
        events: list[TftpEvent] = []
        async with running(events=events) as server:
            host, port = server.address
            options = (("blksize", "1468"), ("tsize", "0"), ("windowsize", "8"), ("timeout", "2"))
            result = await fetch(host, port, "big.bin", options=options)
            assert result.data == FILES["big.bin"]
            assert result.options == {
                "blksize": "1468",
                "tsize": str(len(FILES["big.bin"])),
                "windowsize": "8",
                "timeout": "2",
            }
            result = await fetch(host, port, "text.txt", mode=Mode.NETASCII)
            assert result.data == b"line one\r\nline two\r\0\r\n"
        assert events[0].options == (
            ("blksize", "1468"),
            ("tsize", "1048576"),
            ("windowsize", "8"),
            ("timeout", "2"),
        )

    asyncio.run(body())


def test_unknown_file_is_error_1() -> None:
    async def body() -> None:
        events: list[TftpEvent] = []
        async with running(events=events) as server:
            result = await fetch(*server.address, "nope.cfg")
            assert result.error == (1, "File not found")
        assert [(e.status, e.filename, e.transferred) for e in events] == [
            ("not_found", "nope.cfg", 0)
        ]

    asyncio.run(body())


def test_filename_reaches_the_callback_exactly_as_sent() -> None:
    seen: list[tuple[str, tuple[str, int]]] = []

    async def read(name: str, client: tuple[str, int]) -> bytes | None:
        seen.append((name, client))
        return None

    async def body() -> None:
        async with running(read) as server:
            peer = await Peer.open()
            peer.send(b"\x00\x01../../etc/Passwd\x00OCTET\x00", server.address)
            assert await peer.receive() == (error(1, "File not found"), server.address)
            assert seen == [("../../etc/Passwd", peer.address[:2])]
            peer.close()

    asyncio.run(body())


@pytest.mark.parametrize(
    ("bind", "client"),
    [("::1", "::1"), ("::", "::1"), ("::", "127.0.0.1"), ("0.0.0.0", "127.0.0.1")],
)
def test_ipv6_and_wildcards(bind: str, client: str) -> None:
    async def body() -> None:
        port = free_port(socket.SOCK_DGRAM, "::1" if ":" in bind else "127.0.0.1")
        server = TftpServer(serve_files, host=bind, port=port)
        await server.start()
        try:
            result = await fetch(client, port, "0004f2123456.cfg", options=[("blksize", "512")])
            assert result.data == FILES["0004f2123456.cfg"]
        finally:
            await server.close()

    asyncio.run(body())


def test_wildcard_replies_come_from_the_address_the_client_used() -> None:
    # 127.0.0.2 is loopback too, but the kernel would pick 127.0.0.1 as the source.
    async def body() -> None:
        async with running(host="0.0.0.0") as server:
            port = server.address[1]
            peer = await Peer.open()
            peer.send(encode(ReadRequest("empty")), ("127.0.0.2", port))
            reply, source = await peer.receive()
            assert reply == encode(Data(1, b""))
            assert source[0] == "127.0.0.2"
            assert source[1] != port  # a fresh transfer ID
            peer.send(encode(Ack(1)), source)
            peer.close()

    asyncio.run(body())


def test_2000_concurrent_sessions_complete() -> None:
    count = 2000

    async def body() -> None:
        events: list[TftpEvent] = []
        content = {f"{i:012x}.cfg": bytes([i % 256]) * (1500 + i % 700) for i in range(count)}
        everyone = asyncio.Event()
        waiting = 0

        async def read(name: str, client: tuple[str, int]) -> bytes | None:
            # Hold every request until all have arrived, so that all the
            # transfers really run at the same time.
            nonlocal waiting
            waiting += 1
            if waiting == count:
                everyone.set()
            await everyone.wait()
            return content.get(name)

        async with running(read, events=events, timeout=1.0, retries=8) as server:
            host, port = server.address
            started = time.monotonic()
            fetches = [fetch(host, port, name, interval=1.0, retries=8) for name in content]
            gathered = asyncio.gather(*fetches)
            await asyncio.wait_for(everyone.wait(), 30)
            assert server.active == count
            results = await asyncio.wait_for(gathered, 60)
            elapsed = time.monotonic() - started
        failures = [r.error for r in results if not r.ok]
        assert failures == []
        assert [r.data for r in results] == list(content.values())
        assert elapsed < 60
        # A final ACK lost after the client is done is an error on our side only.
        assert sum(e.status == "ok" for e in events) >= count - 10

    asyncio.run(body())


def test_slow_read_callback_does_not_hold_up_others() -> None:
    async def body() -> None:
        # The slow read lasts until the fast transfer is over: no guess at how long.
        fast_done = asyncio.Event()

        async def read(name: str, client: tuple[str, int]) -> bytes | None:
            if name == "slow":
                await fast_done.wait()
            return b"done"

        async with running(read) as server:
            slow = asyncio.create_task(fetch(*server.address, "slow", interval=3.0))
            started = time.monotonic()
            assert (await fetch(*server.address, "fast")).data == b"done"
            assert time.monotonic() - started < 0.5
            fast_done.set()
            assert (await slow).data == b"done"

    asyncio.run(body())


def test_read_callback_failure_is_a_uniform_not_found() -> None:
    async def read(name: str, client: tuple[str, int]) -> bytes | None:
        if name == "boom":
            raise RuntimeError("template exploded")
        return b"fine"

    async def body() -> None:
        events: list[TftpEvent] = []
        async with running(read, events=events) as server:
            assert (await fetch(*server.address, "boom")).error == (1, "File not found")
            assert (await fetch(*server.address, "ok")).data == b"fine"
        assert events[0].status == "error"
        assert "template exploded" in events[0].reason

    asyncio.run(body())


def test_failing_on_event_does_not_break_the_server() -> None:
    def on_event(event: TftpEvent) -> None:
        raise ValueError("metrics are down")

    async def body() -> None:
        port = free_port(socket.SOCK_DGRAM)
        server = TftpServer(serve_files, host="127.0.0.1", port=port, on_event=on_event)
        await server.start()
        try:
            for _ in range(2):
                assert (await fetch("127.0.0.1", port, "empty")).ok
        finally:
            await server.close()

    asyncio.run(body())


# Malformed and unexpected datagrams on the request port.


@pytest.mark.parametrize(
    ("datagram", "reply"),
    [
        (b"", None),
        (b"\x00", None),
        (b"\x00\x09abc", None),  # unknown opcode: not even a request
        (b"\xff\xff\xff\xff", None),
        (b"\x00\x04\x00", None),  # a broken ACK
        (encode(Error(0, "hi")), None),  # ERRORs are never answered
        (b"\x00\x01file", error(4, "filename is not NUL-terminated")),
        (b"\x00\x01file\x00", error(4, "request has no mode")),
        (b"\x00\x01file\x00mail\x00", error(4, "mail mode is not supported")),
        (b"\x00\x01file\x00bogus\x00", error(4, "unknown mode 'bogus'")),
        (b"\x00\x01f\x00octet\x00blksize\x00", error(4, "option 'blksize' has no value")),
        (
            b"\x00\x01f\x00octet\x00" + b"".join(b"o%d\x001\x00" % i for i in range(40)),
            error(4, "more than 16 options"),
        ),
        (
            b"\x00\x01f\x00octet\x00" + b"n" * 2000 + b"\x001\x00",
            error(4, "option name is longer than 512 bytes"),
        ),
        (b"\x00\x01f\x00octet\x00a\x001\x00a\x002\x00", error(4, "duplicate option 'a'")),
        (encode(Data(1, b"x")), error(4, "Illegal TFTP operation")),
        (encode(Ack(1)), error(4, "Illegal TFTP operation")),
    ],
)
def test_malformed_requests_are_answered_or_ignored(datagram: bytes, reply: bytes | None) -> None:
    async def body() -> None:
        async with running() as server:
            peer = await Peer.open()
            peer.send(datagram, server.address)
            if reply is None:
                assert await peer.silent()
            else:
                assert await peer.receive() == (reply, server.address)
            peer.close()
            # ...and the server keeps serving.
            assert (await fetch(*server.address, "0004f2123456.cfg")).ok

    asyncio.run(body())


def test_request_flood_of_garbage_then_service() -> None:
    async def body() -> None:
        async with running() as server:
            peer = await Peer.open()
            for i in range(2000):
                peer.send(bytes([i % 256]) * (i % 40), server.address)
            assert (await fetch(*server.address, "text.txt")).data == FILES["text.txt"]
            peer.close()

    asyncio.run(body())


# Transfer IDs, duplicates, limits.


async def finish(peer: Peer, tid: Any, first: bytes, blksize: int = 512) -> bytes:
    """Acknowledge a transfer block by block from its first DATA; returns the content."""
    packet = decode(first)
    assert isinstance(packet, Data)
    assert packet.block == 1
    content = bytearray(packet.payload)
    while len(packet.payload) == blksize:
        peer.send(encode(Ack(packet.block)), tid)
        datagram, source = await peer.receive()
        assert source == tid
        following = decode(datagram)
        assert isinstance(following, Data)
        assert following.block == packet.block + 1
        packet = following
        content += packet.payload
    peer.send(encode(Ack(packet.block)), tid)
    return bytes(content)


@pytest.mark.parametrize("name", ["0004f2123456.cfg", "lane.bin"])
def test_wrong_transfer_id_gets_error_5_and_the_transfer_goes_on(name: str) -> None:
    async def body() -> None:
        async with running() as server:
            client, stranger = await Peer.open(), await Peer.open()
            client.send(encode(ReadRequest(name)), server.address)
            first, tid = await client.receive()
            assert decode(first) == Data(1, FILES[name][:512])
            assert server.lane_busy == (name == "lane.bin")
            stranger.send(encode(Ack(1)), tid)
            assert await stranger.receive() == (error(5, "Unknown transfer ID"), tid)
            stranger.send(encode(Error(0, "x")), tid)  # an ERROR is not answered
            assert await stranger.silent()
            assert await finish(client, tid, first) == FILES[name]
            client.close()
            stranger.close()

    asyncio.run(body())


def test_repeated_request_does_not_start_a_second_transfer() -> None:
    async def body() -> None:
        events: list[TftpEvent] = []
        async with running(events=events, timeout=0.2, retries=1) as server:
            peer = await Peer.open()
            for _ in range(3):
                peer.send(encode(ReadRequest("empty")), server.address)
            assert (await peer.receive())[0] == encode(Data(1, b""))
            assert server.active == 1
            assert (await peer.receive())[0] == encode(Data(1, b""))  # the retransmission
            await eventually_async(lambda: server.active == 0, "the transfer gave up")
            assert server.active == 0
            peer.close()
        assert [e.status for e in events] == ["error"]
        assert events[0].reason == "no response after 1 retransmissions"

    asyncio.run(body())


@pytest.mark.parametrize("name", ["text.txt", "lane.bin"])
def test_server_retransmits_then_gives_up(name: str) -> None:
    async def body() -> None:
        events: list[TftpEvent] = []
        async with running(events=events, timeout=0.1, retries=2) as server:
            peer = await Peer.open()
            peer.send(encode(ReadRequest(name)), server.address)
            copies = [await peer.receive() for _ in range(3)]
            assert len(set(copies)) == 1
            assert await peer.silent(0.4)
            assert server.active == 0
            assert not server.lane_busy
            peer.close()
        assert [(e.status, e.reason) for e in events] == [
            ("error", "no response after 2 retransmissions")
        ]

    asyncio.run(body())


def test_too_many_sessions_are_told_to_come_back() -> None:
    async def body() -> None:
        events: list[TftpEvent] = []
        async with running(events=events, max_sessions=2, timeout=5.0, grace=0.0) as server:
            peers = [await Peer.open() for _ in range(3)]
            # One after the other, in this order.
            peers[0].send(encode(ReadRequest("text.txt")), server.address)
            await eventually_async(lambda: server.active == 1, "the first transfer started")
            peers[1].send(encode(ReadRequest("text.txt")), server.address)
            await eventually_async(lambda: server.active == 2, "the second transfer started")
            peers[2].send(encode(ReadRequest("text.txt")), server.address)
            assert decode((await peers[0].receive())[0]) == Data(1, FILES["text.txt"])
            assert decode((await peers[1].receive())[0]) == Data(1, FILES["text.txt"])
            assert await peers[2].receive() == (
                error(0, "Server busy, try again later"),
                server.address,
            )
            for peer in peers:
                peer.close()
        assert events[0].reason == "more than 2 transfers in progress"

    asyncio.run(body())


@pytest.mark.parametrize("lane", [False, True])
def test_close_tells_clients_mid_transfer(lane: bool) -> None:
    async def body() -> None:
        events: list[TftpEvent] = []
        server_cm = running(events=events, timeout=5.0, grace=0.0, lane=lane)
        server = await server_cm.__aenter__()
        peer = await Peer.open()
        peer.send(encode(ReadRequest("big.bin")), server.address)
        _, tid = await peer.receive()
        assert server.lane_busy == lane
        await server_cm.__aexit__(None, None, None)
        assert not server.lane_busy
        assert await peer.receive() == (error(0, "Server shutting down"), tid)
        assert events[-1].status == "error"
        assert events[-1].reason == "server closed"
        peer.close()
        with pytest.raises(RuntimeError, match="not running"):
            _ = server.address

    asyncio.run(body())


@pytest.mark.parametrize("lane", [False, True])
def test_close_with_grace_lets_transfers_finish(lane: bool) -> None:
    async def body() -> None:
        events: list[TftpEvent] = []
        port = free_port(socket.SOCK_DGRAM)
        server = TftpServer(
            serve_files, host="127.0.0.1", port=port, on_event=events.append, lane=lane
        )
        await server.start()
        transfer = asyncio.create_task(fetch("127.0.0.1", port, "big.bin", interval=3.0))
        await eventually_async(lambda: server.active == 1, "the transfer is under way")
        assert server.active == 1
        await server.close(grace=10.0)
        assert (await transfer).data == FILES["big.bin"]
        assert [e.status for e in events] == ["ok"]

    asyncio.run(body())


def test_the_lane_hands_over_to_the_loop_when_another_transfer_starts() -> None:
    async def body() -> None:
        events: list[TftpEvent] = []
        async with running(events=events) as server:
            peers = [await Peer.open() for _ in range(3)]
            names = ["lane.bin", "text.txt", "big.bin"]
            peers[0].send(encode(ReadRequest(names[0])), server.address)
            starts = [await peers[0].receive()]
            assert server.lane_busy  # large and alone
            for peer, name in zip(peers[1:], names[1:], strict=True):
                peer.send(encode(ReadRequest(name)), server.address)
                starts.append(await peer.receive())
            # Not alone any more: the lane lets go within its poll interval,
            # and big.bin, which never had the server to itself, runs on the loop.
            await eventually_async(lambda: not server.lane_busy, "the lane is free")
            assert server.active == 3
            contents = await asyncio.gather(
                *(
                    finish(peer, tid, first)
                    for peer, (first, tid) in zip(peers, starts, strict=True)
                )
            )
            assert contents == [FILES[name] for name in names]
            for peer in peers:
                peer.close()
        assert sorted((e.filename, e.status, e.transferred) for e in events) == sorted(
            (name, "ok", len(FILES[name])) for name in names
        )

    asyncio.run(body())


def test_a_lane_sees_a_lost_ack_and_resends() -> None:
    async def body() -> None:
        async with running(timeout=0.2) as server:
            peer = await Peer.open()
            peer.send(encode(ReadRequest("lane.bin")), server.address)
            first, tid = await peer.receive()
            assert server.lane_busy
            # No ACK: the lane's timer resends block 1 after the timeout.
            again, source = await peer.receive(within=1.0)
            assert (again, source) == (first, tid)
            assert await finish(peer, tid, first) == FILES["lane.bin"]
            peer.close()

    asyncio.run(body())


def test_open_files_limit_is_raised() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if hard != resource.RLIM_INFINITY:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))

        async def body() -> None:
            async with running():
                pass

        asyncio.run(body())
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] in (hard, min(1024, hard))
        if hard != resource.RLIM_INFINITY:
            assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1), hard))


# Uploads.


def test_uploads_are_refused_without_a_write_callback() -> None:
    async def body() -> None:
        events: list[TftpEvent] = []
        async with running(events=events) as server:
            peer = await Peer.open()
            peer.send(encode(WriteRequest("log.txt")), server.address)
            assert await peer.receive() == (error(2, "Access violation"), server.address)
            peer.close()
        assert [(e.operation, e.status, e.reason) for e in events] == [
            ("write", "error", "uploads are disabled")
        ]

    asyncio.run(body())


@pytest.mark.parametrize("keep", [True, False])
def test_upload_with_a_write_callback(keep: bool) -> None:
    stored: list[tuple[str, bytes]] = []

    async def write(name: str, client: tuple[str, int], content: bytes) -> bool:
        stored.append((name, content))
        return keep

    async def body() -> None:
        events: list[TftpEvent] = []
        async with running(write=write, events=events, max_upload=10_000, grace=0.0) as server:
            peer = await Peer.open()
            peer.send(encode(WriteRequest("phone.log", Mode.NETASCII)), server.address)
            reply, tid = await peer.receive()
            assert reply == encode(Ack(0))
            peer.send(encode(Data(1, b"x" * 512)), tid)
            assert await peer.receive() == (encode(Ack(1)), tid)
            peer.send(encode(Data(2, b"end\r\n")), tid)
            expected = encode(Ack(2)) if keep else error(2, "Access violation")
            assert await peer.receive() == (expected, tid)
            peer.close()
        assert stored == [("phone.log", b"x" * 512 + b"end\n")]
        assert events[0].status == ("ok" if keep else "error")
        assert events[0].transferred == 517

    asyncio.run(body())


def test_upload_over_the_cap_is_refused() -> None:
    async def write(name: str, client: tuple[str, int], content: bytes) -> bool:
        raise AssertionError("never called")

    async def body() -> None:
        async with running(write=write, max_upload=100) as server:
            peer = await Peer.open()
            peer.send(encode(WriteRequest("big", options=(("tsize", "101"),))), server.address)
            assert (await peer.receive())[0] == error(3, "Disk full or allocation exceeded")
            peer.close()

    asyncio.run(body())


@pytest.mark.parametrize("limit", [0, -1, "raise"])
def test_upload_limit_refuses_before_any_data(limit: int | str) -> None:
    async def write(name: str, client: tuple[str, int], content: bytes) -> bool:
        raise AssertionError("never called")

    async def upload_limit(name: str, client: tuple[str, int]) -> int:
        assert (name, client[0]) == ("0004f2123456-app.log", "127.0.0.1")
        if isinstance(limit, str):
            raise RuntimeError("store is down")
        return limit

    async def body() -> None:
        events: list[TftpEvent] = []
        async with running(write=write, upload_limit=upload_limit, events=events) as server:
            peer = await Peer.open()
            peer.send(encode(WriteRequest("0004f2123456-app.log")), server.address)
            assert await peer.receive() == (error(2, "Access violation"), server.address)
            assert server.active == 0
            peer.close()
        reason = "upload check failed" if limit == "raise" else "refused by the upload_limit"
        assert [(e.status, e.reason[: len(reason)]) for e in events] == [("error", reason)]

    asyncio.run(body())


def test_upload_limit_lowers_the_cap_for_that_upload() -> None:
    stored: list[bytes] = []

    async def write(name: str, client: tuple[str, int], content: bytes) -> bool:
        stored.append(content)
        return True

    async def upload_limit(name: str, client: tuple[str, int]) -> int:
        return 600 if name == "small.log" else 10_000

    async def body() -> None:
        async with running(write=write, upload_limit=upload_limit, max_upload=5_000) as server:
            peer = await Peer.open()
            for name, size, fits in (("small.log", 700, False), ("other.log", 700, True)):
                peer.send(encode(WriteRequest(name)), server.address)
                reply, tid = await peer.receive()
                assert reply == encode(Ack(0))
                peer.send(encode(Data(1, b"x" * 512)), tid)
                assert await peer.receive() == (encode(Ack(1)), tid)
                peer.send(encode(Data(2, b"y" * (size - 512))), tid)
                expected = encode(Ack(2)) if fits else error(3, "Disk full or allocation exceeded")
                assert await peer.receive() == (expected, tid)
            peer.close()
        assert stored == [b"x" * 512 + b"y" * 188]

    asyncio.run(body())

"""The asyncio adapter against peers the tests control: a raw UDP socket, TCP and TLS servers.

The raw-socket phone misbehaves on purpose (malformed, oversized,
unsolicited and mismatched datagrams before the real answer); the stream
servers split, pad, garble or drop their answers. Every test runs its
coroutine on a fresh event loop and bounds every wait; the loop's clock can
be moved forward, so a test of a timer makes it due instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest

from provisioner.serve._tls import self_signed, server_context
from provisioner.sip import (
    Headers,
    MessageError,
    Notifier,
    NotifierStats,
    NotifyOutcome,
    NotifyRequest,
    Request,
    Response,
    StreamFramer,
    cseq,
    encode,
    parse,
)
from tests.peers import free_port
from tests.waiting import eventually_async

T = TypeVar("T")
Transport = Literal["udp", "tcp", "tls"]
LIMIT = 10.0  # seconds any one test may take


class ClockLoop(asyncio.SelectorEventLoop):
    """The usual event loop, with a clock a test can move forward (see :func:`advance`)."""

    def __init__(self) -> None:
        super().__init__()
        self.ahead = 0.0

    def time(self) -> float:
        return super().time() + self.ahead


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, LIMIT)

    with asyncio.Runner(loop_factory=ClockLoop) as runner:
        return runner.run(bounded())


def advance(seconds: float) -> None:
    """Move the running loop's clock ahead: timers due by then fire on its next turn."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, ClockLoop)
    loop.ahead += seconds


def notify_to(
    port: int, transport: Transport = "udp", user: str = "201", **changes: Any
) -> NotifyRequest:
    request = NotifyRequest(
        host="127.0.0.1",
        port=port,
        transport="udp",
        request_uri=f"sip:{user}@127.0.0.1:{port}",
        to_uri=f"sip:{user}@pbx.example.com",
        from_uri="sip:provisioner@pbx.example.com",
        event="check-sync;reboot=false",
    )
    return replace(request, transport=transport, **changes)


def reply(
    request: Request,
    status: int,
    reason: str = "OK",
    *,
    branch: str | None = None,
    method: str | None = None,
    extra: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """A response to ``request``, optionally with another top Via branch or CSeq method."""
    fields = []
    for name, value in request.headers:
        if name == "Via" and branch is not None:
            value = value.replace(value.split("branch=")[1].split(";")[0], branch)
        elif name == "CSeq" and method is not None:
            value = value.replace("NOTIFY", method)
        if name in {"Via", "From", "To", "Call-ID", "CSeq"}:
            fields.append((name, value))
    return encode(Response(status, reason, Headers([*fields, *extra])))


class UdpPhone:
    """A raw UDP socket on loopback, playing the phone (a context manager: it closes)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Room for hundreds of NOTIFYs at once: the kernel charges a small
        # datagram far more than its size, so the default buffer holds ~100.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]

    def __enter__(self) -> UdpPhone:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sock.close()

    async def receive(self, within: float = 5.0) -> tuple[Request, tuple[str, int]]:
        loop = asyncio.get_running_loop()
        data, peer = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 65536), within)
        message = parse(data)
        assert isinstance(message, Request)
        return message, peer

    async def send(self, data: bytes, peer: tuple[str, int]) -> None:
        await asyncio.get_running_loop().sock_sendto(self.sock, data, peer)


async def settle(condition: Callable[[], bool]) -> None:
    """Give datagrams already sent on loopback time to arrive, until ``condition()``."""
    await eventually_async(condition, "the datagrams sent have arrived", LIMIT / 2)


def test_misbehaving_phone_then_the_right_answer() -> None:
    async def body() -> tuple[NotifyOutcome, Notifier]:
        with UdpPhone() as phone:
            async with Notifier(bind_host="127.0.0.1") as notifier:
                task = asyncio.create_task(notifier.send(notify_to(phone.port)))
                notify, peer = await phone.receive()
                branch = (notify.headers.get("Via") or "").split("branch=")[1].split(";")[0]
                request = Request("OPTIONS", "sip:x@y", Headers([("CSeq", "1 OPTIONS")]))
                garbage = [
                    # malformed: not SIP; no end of headers; a truncated body
                    b"\x00\xff\x13not SIP at all",
                    b"SIP/2.0 200 OK\r\nVia: x",
                    b"SIP/2.0 200 OK\r\nContent-Length: 9\r\n\r\nshort",
                    # oversized (the cap is 16 KiB)
                    reply(notify, 200) + b"x" * 20_000,
                    # unsolicited: a request; an unknown branch; no Via at all
                    encode(request),
                    reply(notify, 200, branch="z9hG4bKnobody"),
                    encode(Response(200, "OK", Headers([("CSeq", "1 NOTIFY")]))),
                    # mismatched: our branch, another CSeq method
                    reply(notify, 200, method="SUBSCRIBE"),
                    # then a provisional, the answer (branches compare case-insensitively)
                    # and a retransmission of it, absorbed by Timer K
                    reply(notify, 100, "Trying"),
                    reply(notify, 200, "OK", branch=branch.upper()),
                    reply(notify, 200, "OK"),
                ]
                for datagram in garbage:
                    await phone.send(datagram, peer)
                outcome = await task
                await settle(lambda: notifier.stats.received == len(garbage))
        return outcome, notifier

    outcome, notifier = run(body())
    assert outcome == NotifyOutcome(True, 200, "OK", 1, outcome.elapsed)
    stats = notifier.stats
    assert (stats.malformed, stats.oversized, stats.unsolicited, stats.mismatched) == (3, 1, 3, 1)
    assert (stats.sent, stats.retransmissions, stats.received, stats.absorbed) == (1, 0, 11, 1)


def test_timer_k_keeps_only_the_branch_and_then_forgets_it() -> None:
    async def body() -> tuple[list[int], NotifierStats]:
        with UdpPhone() as phone:
            async with Notifier(bind_host="127.0.0.1", t4=0.3) as notifier:
                counts = []
                task = asyncio.create_task(notifier.send(notify_to(phone.port)))
                notify, peer = await phone.receive()
                await phone.send(reply(notify, 200), peer)
                assert (await task).ok
                counts.append(notifier.in_flight)  # absorbing
                await phone.send(reply(notify, 200), peer)  # retransmitted: absorbed
                await phone.send(reply(notify, 200, method="SUBSCRIBE"), peer)
                await settle(lambda: notifier.stats.received == 3)
                advance(0.3)  # T4: Timer K is due
                await eventually_async(lambda: notifier.in_flight == 0, "Timer K", LIMIT / 2)
                counts.append(notifier.in_flight)
                await phone.send(reply(notify, 200), peer)
                await settle(lambda: notifier.stats.received == 4)
        return counts, notifier.stats

    counts, stats = run(body())
    assert counts == [1, 0]
    assert (stats.absorbed, stats.mismatched, stats.unsolicited) == (1, 1, 1)


def test_many_in_flight_are_routed_by_branch() -> None:
    """300 NOTIFYs at once; the phone answers them in reverse order, the status set by the user."""
    count = 300

    async def body() -> list[NotifyOutcome]:
        with UdpPhone() as phone:
            async with Notifier(bind_host="127.0.0.1") as notifier:
                tasks = [
                    asyncio.create_task(notifier.send(notify_to(phone.port, user=str(n))))
                    for n in range(count)
                ]
                received: dict[str, tuple[Request, tuple[str, int]]] = {}
                while len(received) < count:  # retransmissions may come too: one answer each
                    notify, peer = await phone.receive()
                    received.setdefault(notify.headers.get("Call-ID") or "", (notify, peer))
                for notify, peer in reversed(received.values()):
                    user = int(notify.uri.split(":")[1].split("@")[0])
                    status, reason = (200, "OK") if user % 2 == 0 else (486, "Busy Here")
                    await phone.send(reply(notify, status, reason), peer)
                outcomes = await asyncio.gather(*tasks)
                assert notifier.stats.unsolicited == notifier.stats.mismatched == 0
        return outcomes

    outcomes = run(body())
    assert [o.status for o in outcomes] == [200 if n % 2 == 0 else 486 for n in range(count)]


def test_silence_times_out_after_timer_f() -> None:
    async def body() -> tuple[NotifyOutcome, int, Notifier]:
        with UdpPhone() as phone:
            async with Notifier(bind_host="127.0.0.1", t1=0.1) as notifier:
                outcome = await notifier.send(notify_to(phone.port))
                seen = 0
                while True:
                    try:
                        await phone.receive(within=0.1)
                    except TimeoutError:
                        break
                    seen += 1
                in_flight = notifier.in_flight
        assert in_flight == 0
        return outcome, seen, notifier

    outcome, seen, notifier = run(body())
    assert (outcome.ok, outcome.status, outcome.reason) == (False, None, "timeout")
    assert outcome.elapsed == pytest.approx(6.4, abs=0.3)
    assert seen == notifier.stats.sent == notifier.stats.retransmissions + 1
    assert notifier.stats.retransmissions == 6  # 0.1, 0.3, 0.7, 1.5, 3.1, 6.3 s


def test_wildcard_bind_puts_the_route_address_in_via() -> None:
    async def body() -> tuple[Request, int]:
        with UdpPhone() as phone:
            async with Notifier() as notifier:  # 0.0.0.0, an ephemeral port
                task = asyncio.create_task(notifier.send(notify_to(phone.port)))
                notify, peer = await phone.receive()
                await phone.send(reply(notify, 200), peer)
                assert (await task).ok
                port = notifier.local_address[1]
        assert peer[1] == port  # sent from the socket Via names
        return notify, port

    notify, port = run(body())
    assert (notify.headers.get("Via") or "").startswith(f"SIP/2.0/UDP 127.0.0.1:{port};branch=")
    assert notify.headers.get("Contact") == f"<sip:127.0.0.1:{port}>"


def test_dual_stack_bind_reaches_ipv4_and_names() -> None:
    async def body() -> list[NotifyOutcome]:
        with UdpPhone() as phone:
            async with Notifier(bind_host="::") as notifier:
                outcomes = []
                for host in ("127.0.0.1", "localhost"):
                    task = asyncio.create_task(notifier.send(notify_to(phone.port, host=host)))
                    notify, peer = await phone.receive()
                    assert "Via" in notify.headers
                    await phone.send(reply(notify, 200), peer)
                    outcomes.append(await task)
        return outcomes

    assert [o.ok for o in run(body())] == [True, True]


def test_unreachable_targets_are_outcomes() -> None:
    async def body() -> list[NotifyOutcome]:
        async with Notifier(bind_host="127.0.0.1") as notifier:
            return [
                await notifier.send(notify_to(5060, host="::1")),
                await notifier.send(notify_to(5060, host="name.invalid")),
                await notifier.send(notify_to(5060, transport="tls")),
            ]

    v6, unknown, tls = run(body())
    assert (v6.status, v6.reason) == (
        None,
        "cannot reach ::1: an IPv6 address, but bind_host is IPv4",
    )
    assert unknown.reason.startswith("cannot reach name.invalid")
    assert tls.reason == "no TLS context configured"
    assert not v6.ok
    assert not unknown.ok
    assert not tls.ok


def test_cancel_and_close() -> None:
    async def body() -> tuple[NotifyOutcome, int, int]:
        with UdpPhone() as phone:
            notifier = Notifier(bind_host="127.0.0.1")
            await notifier.start()
            cancelled = asyncio.create_task(notifier.send(notify_to(phone.port)))
            await phone.receive()
            cancelled.cancel()
            with pytest.raises(asyncio.CancelledError):
                await cancelled
            after_cancel = notifier.in_flight
            waiting = asyncio.create_task(notifier.send(notify_to(phone.port)))
            await phone.receive()
            await notifier.close()
            outcome = await waiting
        return outcome, after_cancel, notifier.in_flight

    outcome, after_cancel, after_close = run(body())
    assert after_cancel == after_close == 0
    assert outcome == NotifyOutcome(False, None, "notifier closed", 1, outcome.elapsed)


def test_not_started() -> None:
    notifier = Notifier()
    with pytest.raises(RuntimeError, match="not running"):
        _ = notifier.local_address
    with pytest.raises(RuntimeError, match="not running"):
        run(notifier.send(notify_to(5060)))


# TCP and TLS: a server that answers through a callback.

Answer = Callable[[Request], Awaitable[list[bytes]]]


async def serve_stream(
    answer: Answer, tls: ssl.SSLContext | None = None
) -> tuple[asyncio.Server, int, list[int]]:
    """A SIP-over-TCP/TLS "phone": each request is answered with the chunks ``answer`` gives.

    Returns the server, its port and a list that gets one entry per connection.
    """
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        framer = StreamFramer()
        try:
            while data := await reader.read(4096):
                for message in framer.feed(data):
                    assert isinstance(message, Request)
                    for chunk in await answer(message):
                        if chunk == b"<close>":
                            writer.close()
                            return
                        writer.write(chunk)
                        await writer.drain()
        except (MessageError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    return server, server.sockets[0].getsockname()[1], connections


def test_tcp_answers_reuse_one_connection() -> None:
    async def answer(request: Request) -> list[bytes]:
        response = reply(request, 200)
        # Split mid-header, with CRLF keep-alives before it (RFC 5626 §3.5.1).
        return [b"\r\n\r\n", response[:7], response[7:30], response[30:]]

    async def body() -> tuple[list[NotifyOutcome], int, int, str]:
        server, port, connections = await serve_stream(answer)
        async with server, Notifier(bind_host="127.0.0.1") as notifier:
            first = await notifier.send(notify_to(port, transport="tcp"))
            together = await asyncio.gather(
                *(notifier.send(notify_to(port, transport="tcp", user=str(n))) for n in range(20))
            )
            opened = notifier.stats.connections
        return [first, *together], opened, len(connections), ""

    outcomes, opened, accepted, _ = run(body())
    assert all(o.ok for o in outcomes)
    assert all(o.transactions == 1 for o in outcomes)
    assert opened == accepted == 1


def test_tcp_challenge_on_the_same_connection() -> None:
    challenge = ("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth"')

    async def answer(request: Request) -> list[bytes]:
        number = cseq(request)
        if number is not None and number[0] == 1:
            return [reply(request, 401, "Unauthorized", extra=(challenge,))]
        assert (request.headers.get("Authorization") or "").startswith('Digest username="201"')
        assert (request.headers.get("Via") or "").startswith("SIP/2.0/TCP 127.0.0.1:")
        return [reply(request, 200)]

    async def body() -> tuple[NotifyOutcome, int]:
        server, port, connections = await serve_stream(answer)
        async with server, Notifier(bind_host="127.0.0.1") as notifier:
            request = notify_to(port, transport="tcp", username="201", password="pw")
            return await notifier.send(request), len(connections)

    outcome, connections = run(body())
    assert (outcome.ok, outcome.transactions, connections) == (True, 2, 1)


@pytest.mark.parametrize(
    "chunks",
    [
        [b"SIP/2.0 200 OK\r\nCSeq: 1 NOTIFY\r\n\r\n"],  # no Content-Length on a stream
        [b"\x16\x03\x01 garbage\r\n\r\n"],
        [b"<close>"],  # the phone hangs up without answering
    ],
)
def test_tcp_broken_streams_fail_at_once(chunks: list[bytes]) -> None:
    async def answer(request: Request) -> list[bytes]:
        return chunks

    async def body() -> tuple[NotifyOutcome, int]:
        server, port, _ = await serve_stream(answer)
        async with server, Notifier(bind_host="127.0.0.1") as notifier:
            outcome = await notifier.send(notify_to(port, transport="tcp"))
            again = await notifier.send(notify_to(port, transport="tcp"))  # a new connection
            assert again.reason == "connection lost"
            return outcome, notifier.stats.connections

    outcome, connections = run(body())
    assert (outcome.ok, outcome.status, outcome.reason) == (False, None, "connection lost")
    assert outcome.elapsed < 5  # at once, not after Timer F
    assert connections == 2


def test_tcp_connect_refused() -> None:
    async def body() -> NotifyOutcome:
        async with Notifier(bind_host="127.0.0.1") as notifier:
            return await notifier.send(notify_to(free_port(), transport="tcp"))

    outcome = run(body())
    assert (outcome.ok, outcome.status, outcome.transactions) == (False, None, 0)
    assert outcome.reason.startswith("connect failed: ")


def tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key = self_signed(tmp_path / "tls", ["127.0.0.1"])
    client = ssl.create_default_context(cafile=str(cert))
    return server_context(cert, key), client


def test_tls(tmp_path: Path) -> None:
    server_tls, client_tls = tls_contexts(tmp_path)

    async def answer(request: Request) -> list[bytes]:
        assert (request.headers.get("Via") or "").startswith("SIP/2.0/TLS 127.0.0.1:")
        assert (request.headers.get("Contact") or "").startswith("<sips:127.0.0.1:")
        return [reply(request, 200)]

    async def body() -> NotifyOutcome:
        server, port, _ = await serve_stream(answer, tls=server_tls)
        async with server, Notifier(bind_host="127.0.0.1", tls_context=client_tls) as notifier:
            return await notifier.send(notify_to(port, transport="tls"))

    assert run(body()).ok


async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A TCP peer that accepts and never speaks (no TLS handshake either)."""
    await reader.read()
    writer.close()


def test_tls_handshake_bounded_by_connect_timeout(tmp_path: Path) -> None:
    """A peer that accepts TCP but never speaks TLS: the connect timeout ends it."""
    _, client_tls = tls_contexts(tmp_path)

    async def body() -> NotifyOutcome:
        server = await asyncio.start_server(mute, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with (
            server,
            Notifier(
                bind_host="127.0.0.1", tls_context=client_tls, connect_timeout=0.3
            ) as notifier,
        ):
            return await notifier.send(notify_to(port, transport="tls"))

    outcome = run(body())
    assert outcome.reason == "connect failed: TimeoutError"
    assert 0.25 < outcome.elapsed < 2


def test_invalid_requests_raise_and_leave_nothing_behind() -> None:
    async def body() -> int:
        async with Notifier(bind_host="127.0.0.1") as notifier:
            with pytest.raises(ValueError, match="CR, LF or NUL"):
                await notifier.send(notify_to(5060, event="check-sync\r\nX-Evil: 1"))
            return notifier.in_flight

    assert run(body()) == 0
    with pytest.raises(ValueError, match="not udp, tcp or tls"):
        notify_to(5060, transport="sctp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside 1..65535"):
        notify_to(0)


def test_close_while_connecting(tmp_path: Path) -> None:
    """close() during a TLS handshake: the waiting send ends as an outcome."""
    _, client_tls = tls_contexts(tmp_path)

    async def body() -> NotifyOutcome:
        hello = asyncio.Event()

        async def hears_hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if await reader.read(1):  # the ClientHello: the handshake has begun
                hello.set()
            await mute(reader, writer)

        server = await asyncio.start_server(hears_hello, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            notifier = Notifier(bind_host="127.0.0.1", tls_context=client_tls)
            await notifier.start()
            sending = asyncio.create_task(notifier.send(notify_to(port, transport="tls")))
            await hello.wait()
            await notifier.close()
            return await sending

    outcome = run(body())
    assert (outcome.ok, outcome.status) == (False, None)
    assert outcome.reason == "connect failed: notifier closed"

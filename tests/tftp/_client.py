"""A small asyncio TFTP client and a raw datagram peer, for tests and the benchmark.

:func:`fetch` is a complete read client: options, windows (acknowledging the
last in-order block on a gap, RFC 7440 §4), block-number wrap,
retransmission on timeout. :class:`Peer` is a bare UDP socket with a receive
queue, for tests that need to send exactly the bytes they choose.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from provisioner.tftp import (
    Ack,
    Data,
    Error,
    ErrorCode,
    Mode,
    OptionAck,
    PacketError,
    ReadRequest,
    decode,
    encode,
)

__all__ = ["FetchResult", "Peer", "fetch"]

Address = tuple[Any, ...]


@dataclass
class FetchResult:
    """What a fetch got: the content, or the ERROR that ended it."""

    data: bytes = b""
    options: dict[str, str] = field(default_factory=dict)
    error: tuple[int, str] | None = None

    @property
    def ok(self) -> bool:
        """True when the whole file arrived."""
        return self.error is None


class _Fetch(asyncio.DatagramProtocol):
    def __init__(
        self, request: bytes, server: Address, timeout: float, retries: int, windowsize: int
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[FetchResult] = self.loop.create_future()
        self.result = FetchResult()
        self.request = request
        self.server = server
        self.peer: Address | None = None
        self.timeout = timeout
        self.retries = retries
        self.attempts = 0
        self.blksize = 512
        self.windowsize = windowsize
        self.buffer = bytearray()
        self.received = 0  # blocks, in order
        self.in_window = 0
        self.gap_acked = False
        self.last = request
        self.timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)
        self._send(self.request, rearm=True)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if self.done.done() or self.transport is None:
            return
        if self.peer is None:
            self.peer = addr  # the server's transfer ID (RFC 1350 §4)
        elif addr[:2] != self.peer[:2]:
            self.transport.sendto(encode(Error(ErrorCode.UNKNOWN_TID, "Unknown transfer ID")), addr)
            return
        try:
            packet = decode(data)
        except PacketError as exc:
            self._finish((-1, f"malformed reply: {exc}"))
            return
        if isinstance(packet, Error):
            self._finish((packet.code, packet.message))
        elif isinstance(packet, OptionAck) and self.received == 0:
            self.result.options = dict(packet.options)
            self.blksize = int(self.result.options.get("blksize", "512"))
            self.windowsize = int(self.result.options.get("windowsize", "1"))
            self._send(encode(Ack(0)), rearm=True)
        elif isinstance(packet, Data):
            self._on_data(packet)

    def _on_data(self, packet: Data) -> None:
        if packet.block != (self.received + 1) & 0xFFFF:
            # A gap or an old block: acknowledge what we have, once per gap.
            if not self.gap_acked:
                self.gap_acked = True
                self.in_window = 0
                self._send(encode(Ack(self.received & 0xFFFF)), rearm=True)
            return
        self.buffer += packet.payload
        self.received += 1
        self.in_window += 1
        self.gap_acked = False
        self.attempts = 0
        if len(packet.payload) < self.blksize:
            self._send(encode(Ack(packet.block)), rearm=False)
            self.result.data = bytes(self.buffer)
            self._finish(None)
        elif self.in_window >= self.windowsize:
            self.in_window = 0
            self._send(encode(Ack(packet.block)), rearm=True)
        else:
            self._arm()

    def _send(self, datagram: bytes, *, rearm: bool) -> None:
        assert self.transport is not None
        self.last = datagram
        self.transport.sendto(datagram, self.peer or self.server)
        if rearm:
            self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(self.timeout, self._on_timeout)

    def _on_timeout(self) -> None:
        if self.done.done():
            return
        if self.attempts >= self.retries:
            self._finish((-1, "timed out"))
            return
        self.attempts += 1
        self.in_window = 0
        self._send(self.last, rearm=True)

    def _finish(self, error: tuple[int, str] | None) -> None:
        self.result.error = error
        if self.timer is not None:
            self.timer.cancel()
        if not self.done.done():
            self.done.set_result(self.result)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors: the timer decides


async def fetch(
    host: str,
    port: int,
    filename: str,
    *,
    options: Iterable[tuple[str, str]] = (),
    mode: Mode = Mode.OCTET,
    interval: float = 1.0,
    retries: int = 5,
) -> FetchResult:
    """Read ``filename`` from the server at ``host``:``port``.

    ``interval`` is the retransmission interval, ``retries`` the number of
    retransmissions without progress before giving up.
    """
    loop = asyncio.get_running_loop()
    options = tuple(options)
    request = encode(ReadRequest(filename, mode, options))
    windowsize = int(dict(options).get("windowsize", "1"))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    local = "::" if family == socket.AF_INET6 else "0.0.0.0"
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Fetch(request, (host, port), interval, retries, windowsize),
        local_addr=(local, 0),
        family=family,
    )
    try:
        return await protocol.done
    finally:
        transport.close()


class _Queue(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.queue.put_nowait((data, addr))


class Peer:
    """A raw UDP endpoint: send any bytes, receive with a timeout."""

    def __init__(self, transport: asyncio.DatagramTransport, protocol: _Queue) -> None:
        self._transport = transport
        self._protocol = protocol

    @classmethod
    async def open(cls, host: str = "127.0.0.1") -> Peer:
        """A peer bound to an ephemeral port on ``host``."""
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(_Queue, local_addr=(host, 0))
        return cls(transport, protocol)

    @property
    def address(self) -> Address:
        """The local address."""
        address: Address = self._transport.get_extra_info("sockname")
        return address

    def send(self, datagram: bytes, address: Address) -> None:
        """Send one datagram."""
        self._transport.sendto(datagram, address)

    async def receive(self, within: float = 2.0) -> tuple[bytes, Address]:
        """The next datagram; raises TimeoutError after ``within`` seconds."""
        return await asyncio.wait_for(self._protocol.queue.get(), within)

    async def silent(self, within: float = 0.3) -> bool:
        """True when nothing arrives within ``within`` seconds."""
        try:
            await self.receive(within)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        """Close the socket."""
        self._transport.close()

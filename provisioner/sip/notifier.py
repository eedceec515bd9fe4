"""The asyncio adapter: sockets, connections and timers around the sans-I/O NOTIFY core.

Everything about SIP is decided in ``_notify.py`` and ``_transaction.py``;
this module only moves bytes and keeps time:

* **UDP**: one socket for every transaction, however many are in flight.
  It is a plain non-blocking socket watched with ``loop.add_reader`` and
  read up to 64 datagrams per wake-up: thousands of answers can arrive at
  once, and asyncio's datagram transport, which reads one per loop
  iteration, let the socket buffer overflow in the benchmark (docs/sip.md).
  A send that would block is dropped, as the network may drop any
  datagram; Timer E resends it.
* **Routing**: responses are routed by their top Via branch (RFC 3261
  §17.1.3), which is random and unguessable, so the source address of a
  response is not checked: a phone may answer from another port (§18.2.2,
  RFC 3581). Via carries ``;rport`` so a NATed phone answers to the port
  we sent from. With a wildcard ``bind_host`` the Via address is the
  source address the kernel picks for the phone (asked once per
  destination, without sending anything).
* **TCP and TLS**: one connection per (transport, host, port), opened on
  demand within ``connect_timeout``, shared by every NOTIFY to that
  destination while it is open, closed after 30 s without one. Responses
  come back on the same connection (§18.2.2), framed by Content-Length
  (``_stream.py``). A connection that closes fails its transactions at
  once (§17.1.4); one whose bytes cannot be framed is closed.
* **Timers**: each exchange has at most one ``loop.call_at`` timer, set
  from ``next_timer()`` (as aioquic does). A deadline that moves later
  keeps the earlier timer, which on firing finds nothing due and re-arms.
* **Garbage**: datagrams over the size limit, malformed messages, requests,
  responses for no live transaction (unknown branch) and responses whose
  CSeq method does not match are ignored and counted in :attr:`stats`.
* Nothing blocks the loop: names are resolved with ``loop.getaddrinfo``.

A NOTIFY's outcome is returned as soon as it is known. Over UDP its
transactions then only absorb retransmitted final responses until Timer K
(T4, 5 s) ends them (§17.1.2.2); for that the exchange itself is dropped and
only its branches are kept, with the time they expire, in one
insertion-ordered table purged by a single timer. At 10,000 NOTIFYs a
second that is 50,000 entries of about 150 bytes instead of 50,000
exchanges of about 2.8 KB (parsed response, closures, future, timer).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import secrets
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provisioner.sip._message import (
    MAX_MESSAGE_SIZE,
    Message,
    MessageError,
    Response,
    cseq,
    parse,
    top_via_branch,
)
from provisioner.sip._notify import NotifyExchange, NotifyOutcome, NotifyRequest
from provisioner.sip._stream import StreamFramer
from provisioner.sip._transaction import Timers
from provisioner.udp import bind_udp, local_address_towards, send_datagram

__all__ = ["Notifier", "NotifierStats"]

_log = logging.getLogger(__name__)

# Room for a burst of answers to thousands of NOTIFYs in flight: the kernel
# charges a small datagram far more than its size, and caps this value at
# net.core.rmem_max / wmem_max (docs/sip.md says when to raise those).
_SOCKET_BUFFER = 4 << 20
_BATCH = 64  # datagrams read per wake-up before other sockets and timers get their turn
_MAX_DATAGRAM = 65536  # read whole: anything over MAX_MESSAGE_SIZE is counted as oversized
_IDLE = 30.0  # seconds a TCP/TLS connection stays open without a NOTIFY
_MAX_TARGETS = 4096  # cached UDP destinations (socket address, our Via sent-by)
Address = tuple[Any, ...]  # a socket address: (host, port) or (host, port, flowinfo, scope_id)
ConnectionKey = tuple[str, str, int]  # transport, host, port


def _token() -> str:
    """64 random bits as hex: unique enough for a branch, tag, Call-ID or cnonce."""
    return secrets.token_hex(8)


@dataclass(slots=True)
class NotifierStats:
    """Counters since start, for logs, metrics and tests."""

    sent: int = 0  # messages sent, retransmissions included
    retransmissions: int = 0  # of those, retransmissions (Timer E)
    received: int = 0  # datagrams and stream messages received
    oversized: int = 0  # datagrams over MAX_MESSAGE_SIZE, ignored
    malformed: int = 0  # unparsable datagrams, or streams that could not be framed
    unsolicited: int = 0  # requests, and responses for no live transaction
    mismatched: int = 0  # responses with a live branch but another CSeq method
    absorbed: int = 0  # retransmitted responses for finished exchanges (Timer K)
    connections: int = 0  # TCP/TLS connections opened


class Notifier:
    """Sends check-sync NOTIFYs over UDP, TCP or TLS and reports each outcome.

    ``bind_host`` and ``bind_port`` are the UDP socket's address (``::``
    serves IPv4 and IPv6; the default ``0.0.0.0`` IPv4 only); TCP and TLS
    connections use ephemeral ports. ``t1``, ``t2`` and ``t4`` are the RFC
    3261 timer bases (Timer F, the give-up time, is 64·T1: 32 s by
    default). ``tls_context`` is required for ``tls`` requests; whether it
    verifies the phone's certificate is the caller's choice.
    ``connect_timeout`` bounds opening a TCP connection, TLS handshake
    included. ``token`` makes the random values (tests pass a deterministic
    one).
    """

    def __init__(
        self,
        *,
        bind_host: str = "0.0.0.0",
        bind_port: int = 0,
        t1: float = 0.5,
        t2: float = 4.0,
        t4: float = 5.0,
        user_agent: str = "provisioner",
        tls_context: ssl.SSLContext | None = None,
        connect_timeout: float = 5.0,
        token: Callable[[], str] = _token,
    ) -> None:
        """Configure; nothing is bound until :meth:`start`."""
        self.stats = NotifierStats()
        self._timers = Timers(t1, t2, t4)
        self._bind_host = bind_host
        self._bind_port = bind_port
        self._user_agent = user_agent
        self._tls = tls_context
        self._connect_timeout = connect_timeout
        self._token = token
        self._sock: socket.socket | None = None
        self._family = socket.AF_INET
        self._wildcard = True
        self._pending: set[_Pending] = set()
        self._by_branch: dict[str, _Pending] = {}
        # Branches of finished UDP exchanges still absorbing (Timer K): branch ->
        # expiry, in expiry order (every entry lives T4 from its insertion).
        self._absorbing: dict[str, float] = {}
        self._absorb_timer: asyncio.TimerHandle | None = None
        self._connections: dict[ConnectionKey, asyncio.Task[_Connection]] = {}
        self._targets: dict[tuple[str, int], tuple[Address, str]] = {}
        self._local = ("", 0)

    @property
    def local_address(self) -> tuple[str, int]:
        """The bound UDP address (host, port), e.g. to learn a port chosen by the OS."""
        if self._sock is None:
            raise RuntimeError("the notifier is not running")
        return self._local

    @property
    def in_flight(self) -> int:
        """Exchanges awaiting an outcome, and transactions absorbing retransmissions."""
        return len(self._pending) + len(self._absorbing)

    async def start(self) -> None:
        """Bind the UDP socket."""
        loop = asyncio.get_running_loop()
        # "::" reaches IPv4 phones too (as v4-mapped addresses).
        buffers = {socket.SO_RCVBUF: _SOCKET_BUFFER, socket.SO_SNDBUF: _SOCKET_BUFFER}
        sock, sockaddr = await bind_udp(self._bind_host, self._bind_port, buffers)
        self._family = sock.family
        self._wildcard = ipaddress.ip_address(sockaddr[0]).is_unspecified
        self._sock = sock
        self._local = sock.getsockname()[:2]
        loop.add_reader(sock.fileno(), self._on_readable)

    async def close(self) -> None:
        """Stop: NOTIFYs still waiting end as failed ("notifier closed"), sockets close."""
        for pending in list(self._pending):
            transactions = len(pending.exchange.transactions)
            self._settle(pending, NotifyOutcome(False, None, "notifier closed", transactions, 0.0))
            self._forget(pending)
        self._absorbing.clear()
        if self._absorb_timer is not None:
            self._absorb_timer.cancel()
            self._absorb_timer = None
        for task in self._connections.values():
            opened = _opened(task)
            if opened is None:
                task.cancel()
            else:
                opened.close()
        self._connections.clear()
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        await asyncio.sleep(0)  # let the transports finish closing

    async def __aenter__(self) -> Notifier:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def send(self, request: NotifyRequest) -> NotifyOutcome:
        """Send one NOTIFY (answering one challenge) and return how it ended.

        Never raises for network trouble: an unresolvable host, a refused
        connection or silence are outcomes with ``status=None``.

        :raises ValueError: when the request would make a malformed message
            (e.g. CR or LF in ``event``).
        :raises RuntimeError: before :meth:`start` or after :meth:`close`.
        """
        sock = self._sock
        if sock is None:
            raise RuntimeError("the notifier is not running")
        loop = asyncio.get_running_loop()
        started = loop.time()
        connection: _Connection | None = None
        if request.transport == "udp":
            try:
                address, sent_by = await self._udp_target(request.host, request.port)
            except OSError as exc:
                return _failure(f"cannot reach {request.host}: {exc}", loop.time() - started)

            def transmit(data: bytes) -> None:
                send_datagram(sock, data, address, _log)

        else:
            if request.transport == "tls" and self._tls is None:
                return _failure("no TLS context configured", 0.0)
            try:
                connection = await self._connection(request)
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                reason = f"connect failed: {str(exc) or type(exc).__name__}"
                return _failure(reason, loop.time() - started)
            if connection.closing:  # it closed between opening and now
                return _failure("connection lost", loop.time() - started)
            sent_by, transmit = connection.sent_by, connection.write
        exchange = NotifyExchange(
            request,
            sent_by=sent_by,
            user_agent=self._user_agent,
            token=self._token,
            timers=self._timers,
        )
        first = exchange.start(loop.time())  # before any bookkeeping: it may raise ValueError
        pending = _Pending(exchange, loop.create_future(), transmit, connection, started)
        self._pending.add(pending)
        if connection is not None:
            connection.attach(pending)
        self._transmit(pending, first)
        self._update(pending)
        try:
            return await pending.future
        finally:
            if pending.future.cancelled():  # the caller gave up: so do we
                self._forget(pending)

    # Receiving

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(_BATCH):
            try:
                data = sock.recv(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. an ICMP error for an earlier datagram
                _log.debug("SIP UDP socket: %s", exc)
                return
            self._on_datagram(data)

    def _on_datagram(self, data: bytes) -> None:
        self.stats.received += 1
        if len(data) > MAX_MESSAGE_SIZE:
            self.stats.oversized += 1
            return
        try:
            message = parse(data)
        except MessageError as exc:
            self.stats.malformed += 1
            _log.debug("SIP: malformed datagram ignored: %s", exc)
            return
        self._dispatch(message)

    def _dispatch(self, message: Message) -> None:
        if not isinstance(message, Response):
            self.stats.unsolicited += 1
            return
        branch = top_via_branch(message)
        pending = None if branch is None else self._by_branch.get(branch)
        if pending is None:
            if branch is not None and branch in self._absorbing:
                number_method = cseq(message)
                if number_method is not None and number_method[1] == "NOTIFY":
                    self.stats.absorbed += 1
                else:
                    self.stats.mismatched += 1
                return
            self.stats.unsolicited += 1
            return
        out = pending.exchange.receive(message, asyncio.get_running_loop().time())
        if out is None:
            self.stats.mismatched += 1
            return
        self._transmit(pending, out)
        self._update(pending)

    # Timers and bookkeeping

    def _on_timer(self, pending: _Pending) -> None:
        pending.timer = None
        out = pending.exchange.handle_timer(asyncio.get_running_loop().time())
        self.stats.retransmissions += len(out)
        self._transmit(pending, out)
        self._update(pending)

    def _transmit(self, pending: _Pending, messages: list[bytes]) -> None:
        for data in messages:
            pending.transmit(data)
        self.stats.sent += len(messages)

    def _update(self, pending: _Pending) -> None:
        """After every input: route new branches, report the outcome, re-arm or finish."""
        exchange = pending.exchange
        if len(exchange.transactions) > pending.routed:
            for branch in exchange.branches[pending.routed :]:
                self._by_branch[branch] = pending
            pending.routed = len(exchange.transactions)
        if exchange.outcome is not None:
            self._settle(pending, exchange.outcome)
            if exchange.finished:
                self._forget(pending)
                return
            if exchange.absorbing:
                self._absorb(pending)
                return
        deadline = exchange.next_timer()
        if deadline is None:
            pending.cancel_timer()
        elif pending.timer is None or deadline < pending.timer_at:
            pending.cancel_timer()
            pending.timer = asyncio.get_running_loop().call_at(deadline, self._on_timer, pending)
            pending.timer_at = deadline

    def _absorb(self, pending: _Pending) -> None:
        """Keep only the branches of a settled exchange, until Timer K would end it."""
        self._forget(pending)
        loop = asyncio.get_running_loop()
        until = loop.time() + self._timers.t4
        for branch in pending.exchange.branches:
            self._absorbing.pop(branch, None)  # re-inserted last: the table stays in order
            self._absorbing[branch] = until
        if self._absorb_timer is None:
            self._absorb_timer = loop.call_at(until, self._purge_absorbing)

    def _purge_absorbing(self) -> None:
        """Timer K for every absorbing transaction whose time has come."""
        self._absorb_timer = None
        now = asyncio.get_running_loop().time()
        absorbing = self._absorbing
        while absorbing:
            branch, until = next(iter(absorbing.items()))
            if until > now:
                self._absorb_timer = asyncio.get_running_loop().call_at(
                    until, self._purge_absorbing
                )
                return
            del absorbing[branch]

    def _settle(self, pending: _Pending, outcome: NotifyOutcome) -> None:
        if not pending.future.done():
            elapsed = asyncio.get_running_loop().time() - pending.started
            pending.future.set_result(dataclasses.replace(outcome, elapsed=elapsed))

    def _forget(self, pending: _Pending) -> None:
        pending.cancel_timer()
        for branch in pending.exchange.branches:
            if self._by_branch.get(branch) is pending:
                del self._by_branch[branch]
        self._pending.discard(pending)
        if pending.connection is not None:
            pending.connection.detach(pending)

    # UDP addressing

    async def _udp_target(self, host: str, port: int) -> tuple[Address, str]:
        """Where to send (a socket address for our socket) and our Via sent-by for it.

        Cached for IP addresses; names are resolved on every send, as DNS may change.
        """
        cached = self._targets.get((host, port))
        if cached is not None:
            return cached
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            usable = [i for i in infos if i[0] == self._family or self._family == socket.AF_INET6]
            if not usable:
                raise OSError(
                    f"no IPv{4 if self._family == socket.AF_INET else 6} address"
                ) from None
            return self._target(ipaddress.ip_address(usable[0][4][0]), port)
        target = self._target(ip, port)
        if len(self._targets) >= _MAX_TARGETS:
            self._targets.clear()
        self._targets[host, port] = target
        return target

    def _target(
        self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int
    ) -> tuple[Address, str]:
        if ip.version == 6 and self._family == socket.AF_INET:
            raise OSError("an IPv6 address, but bind_host is IPv4")
        bound, local_port = self.local_address
        source = self._source(ip, port) if self._wildcard else bound
        sent_by = f"[{source}]:{local_port}" if ":" in source else f"{source}:{local_port}"
        if ip.version == 4 and self._family == socket.AF_INET6:
            return (f"::ffff:{ip}", port, 0, 0), sent_by
        return (str(ip), port), sent_by

    @staticmethod
    def _source(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> str:
        """Our address as ``ip`` sees it, with a wildcard bind: the kernel's route choice."""
        return local_address_towards(str(ip), port)

    # TCP and TLS

    async def _connection(self, request: NotifyRequest) -> _Connection:
        """An open connection to the request's destination, opened if need be."""
        key = (request.transport, request.host, request.port)
        task = self._connections.get(key)
        if task is not None and task.done():
            opened = _opened(task)
            if opened is None or opened.closing:
                task = None
        if task is None:
            task = asyncio.get_running_loop().create_task(self._open(key))
            # Retrieve a failure even if every waiter was cancelled meanwhile.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._connections[key] = task
        # Shielded: one sender giving up must not abort the connection for the others.
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                # close() cancelled the opening, not our caller: an outcome, not an error.
                raise ConnectionError("notifier closed") from None
            raise

    async def _open(self, key: ConnectionKey) -> _Connection:
        transport, host, port = key
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self, key),
                    host,
                    port,
                    ssl=self._tls if transport == "tls" else None,
                    server_hostname=host if transport == "tls" else None,
                )
        except BaseException:
            if self._connections.get(key) is asyncio.current_task():
                del self._connections[key]
            raise
        self.stats.connections += 1
        return connection

    def _connection_lost(self, connection: _Connection) -> None:
        task = self._connections.get(connection.key)
        if task is not None and _opened(task) is connection:
            del self._connections[connection.key]
        now = asyncio.get_running_loop().time()
        for pending in list(connection.pendings):
            pending.exchange.fail("connection lost", now)
            self._update(pending)


def _opened(task: asyncio.Task[_Connection]) -> _Connection | None:
    """The connection a finished opening task made, or ``None`` (pending, failed, cancelled)."""
    if task.done() and not task.cancelled() and task.exception() is None:
        return task.result()
    return None


def _failure(reason: str, elapsed: float) -> NotifyOutcome:
    return NotifyOutcome(ok=False, status=None, reason=reason, transactions=0, elapsed=elapsed)


class _Pending:
    """One exchange in flight: its future, its timer, and how to send its bytes."""

    __slots__ = (
        "connection",
        "exchange",
        "future",
        "routed",
        "started",
        "timer",
        "timer_at",
        "transmit",
    )

    def __init__(
        self,
        exchange: NotifyExchange,
        future: asyncio.Future[NotifyOutcome],
        transmit: Callable[[bytes], None],
        connection: _Connection | None,
        started: float,
    ) -> None:
        self.exchange = exchange
        self.future = future
        self.transmit = transmit
        self.connection = connection
        self.started = started
        self.routed = 0  # transactions whose branch is in the routing table
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class _Connection(asyncio.Protocol):
    """One TCP or TLS connection: framing in, bytes out, and the exchanges using it."""

    def __init__(self, notifier: Notifier, key: ConnectionKey) -> None:
        self.notifier = notifier
        self.key = key
        self.sent_by = ""
        self.pendings: set[_Pending] = set()
        self._transport: asyncio.Transport | None = None
        self._framer = StreamFramer()
        self._idle: asyncio.TimerHandle | None = None

    @property
    def closing(self) -> bool:
        """Closed or closing: not to be used for new NOTIFYs."""
        return self._transport is None or self._transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        host, port = transport.get_extra_info("sockname")[:2]
        self.sent_by = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._schedule_idle()

    def data_received(self, data: bytes) -> None:
        notifier = self.notifier
        try:
            messages = self._framer.feed(data)
        except MessageError as exc:
            notifier.stats.malformed += 1
            _log.debug("SIP %s connection to %s:%d closed: %s", *self.key, exc)
            self.close()
            return
        for message in messages:
            notifier.stats.received += 1
            notifier._dispatch(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._cancel_idle()
        self.notifier._connection_lost(self)

    def write(self, data: bytes) -> None:
        """Send bytes; a closing connection drops them (its transactions fail on close)."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Close the connection; its exchanges fail with "connection lost"."""
        if self._transport is not None:
            self._transport.close()

    def attach(self, pending: _Pending) -> None:
        """An exchange starts using this connection."""
        self.pendings.add(pending)
        self._cancel_idle()

    def detach(self, pending: _Pending) -> None:
        """An exchange is over; the connection closes after :data:`_IDLE` without one."""
        self.pendings.discard(pending)
        if not self.pendings:
            self._schedule_idle()

    def _schedule_idle(self) -> None:
        self._cancel_idle()
        if self._transport is not None:
            self._idle = asyncio.get_running_loop().call_later(_IDLE, self.close)

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

"""The asyncio adapter: sockets and timers around the sans-IO sessions.

Everything about the protocol is decided in ``_session.py`` and
``_upload.py``; this module only moves datagrams and keeps time:

* One request socket (the "well-known port", RFC 1350 §4) takes RRQs and
  WRQs. Each accepted request gets a fresh UDP socket on an ephemeral port,
  which is the server's transfer ID for that transfer; datagrams reaching it
  from any other address or port get ERROR 5 and are otherwise ignored.
* Sockets are plain non-blocking sockets watched with ``loop.add_reader``
  (epoll on Linux, so no FD_SETSIZE ceiling as with ``select``). A send that
  would block is dropped, as the network may drop any datagram; the
  retransmission timer covers both.
* Each transfer has at most one ``loop.call_at`` timer, set from
  ``next_timer()`` (as aioquic does). A deadline that moves later keeps the
  earlier timer, which on firing finds nothing due and re-arms, so the common
  case (each ACK pushes the deadline back) costs no timer churn.
* The ``read`` callback is awaited before the first DATA leaves, so content
  can be rendered on demand. A request repeated while its transfer is being
  prepared or running is ignored rather than served twice.
* A large read (``_LANE_BLOCKS`` blocks or more) that has the server to
  itself is driven by one extra thread, the *lane*: the same session, fed by
  a blocking ``poll`` + ``recvfrom`` loop as tftpd-hpa does it. A lockstep
  transfer is one round trip per block, and the event loop's own cost per
  wake-up (selector, handle, callback) is a good part of our time per block;
  a thread waiting in ``poll`` on one socket wakes straight into the session.
  As soon as another transfer starts, the lane hands the session back to the
  loop: several threads taking turns at the GIL cost more than the loop
  (measured: 8 concurrent 20 MB reads took 1.4 s on the loop and 2.9 s with
  four lanes). The thread holds the GIL only while it handles a datagram.

When bound to a wildcard address on Linux, the request socket reports each
request's destination address (IP_PKTINFO / IPV6_RECVPKTINFO) and the
transfer socket is bound to it, so replies leave from the address the client
sent to, as tftpd-hpa does; on a host with several addresses the client
would otherwise see a stranger answering.

Anyone can send anything to the request port, so nothing a datagram holds
may raise out of it: a malformed one is refused or dropped, reported to
``on_malformed`` (which may count it towards a ban), and logged at most once
per address and ``log_interval`` (``_log_limit.py``). An address the
``banned`` callback names gets no reply and no log line at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import resource
import select
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from provisioner.tftp._log_limit import LogLimiter
from provisioner.tftp._options import Limits
from provisioner.tftp._packets import (
    Error,
    ErrorCode,
    Options,
    PacketError,
    ReadRequest,
    WriteRequest,
    decode,
    encode,
)
from provisioner.tftp._session import TERMINAL, Content, ReadSession, State
from provisioner.tftp._upload import WriteSession
from provisioner.udp import bind_udp, open_udp, send_datagram

__all__ = [
    "BannedCallback",
    "MalformedCallback",
    "ReadCallback",
    "TftpEvent",
    "TftpServer",
    "UploadLimitCallback",
    "WriteCallback",
]

_log = logging.getLogger(__name__)

ReadCallback = Callable[[str, tuple[str, int]], Awaitable[Content | None]]
WriteCallback = Callable[[str, tuple[str, int], bytes], Awaitable[bool]]
UploadLimitCallback = Callable[[str, tuple[str, int]], Awaitable[int]]
MalformedCallback = Callable[[str], None]  # the sender's host address
BannedCallback = Callable[[str], bool]  # whether that host address is banned now
Address = tuple[Any, ...]  # a socket address: (host, port) or (host, port, flowinfo, scope_id)

_MAX_DATAGRAM = 65536  # more than any TFTP packet (4-byte header + 65464-byte block)
_BATCH = 64  # requests read per wake-up before other sockets get their turn
_REQUEST_RCVBUF = 1 << 20  # room for a burst of requests; the kernel caps it at rmem_max
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # 8 on Linux; Python 3.11 lacks the name
_ANCILLARY = socket.CMSG_SPACE(20)  # struct in6_pktinfo, the larger of the two
_UNKNOWN_TID = encode(Error(ErrorCode.UNKNOWN_TID, "Unknown transfer ID"))
_NOT_FOUND = "File not found"
# A transfer gets the lane when it is at least this many blocks (about 94 KB at
# blksize 1468): firmware images, not configuration files, which are a few
# blocks each and would spend more on the thread hand-off than they save.
_LANE_BLOCKS = 64
_LANE_POLL = 0.05  # seconds the lane waits at most before looking at its stop flag


@dataclass(frozen=True, slots=True)
class TftpEvent:
    """One finished request, for metrics and "seen" records (never file contents).

    ``status`` is ``ok``, ``not_found`` (the read callback returned ``None``)
    or ``error`` (everything else; ``reason`` says what). ``transferred`` is
    the number of bytes the client acknowledged (read) or sent (write);
    ``options`` are the options we accepted, as sent in the OACK.
    """

    client: tuple[str, int]
    operation: Literal["read", "write"]
    filename: str
    status: Literal["ok", "not_found", "error"]
    transferred: int
    options: Options
    seconds: float
    reason: str = ""


class TftpServer:
    """A TFTP server (RFC 1350, 2347, 2348, 2349, 7440) serving bytes from callbacks.

    ``read(filename, client)`` gets the filename exactly as the client sent
    it and returns the content or ``None`` (answered with ERROR 1, "File not
    found"). The name is untrusted input: it is never used as a path here.
    Uploads are refused (ERROR 2) unless ``write(filename, client, data)``
    is given; it returns whether the upload was kept, and uploads are capped
    at ``max_upload`` bytes. ``upload_limit(filename, client)``, if given,
    is awaited before a write request is acknowledged: it returns the bytes
    this upload may have (0 refuses it with ERROR 2), so an upload that would
    be refused is never received.

    ``on_malformed(host)`` is called for every malformed datagram at the
    request port (a broken RRQ/WRQ, a DATA/ACK/OACK, an unknown opcode),
    e.g. to count it towards a ban. A host for which ``banned(host)`` is true
    gets no reply at all: its datagrams at the request port are dropped
    without a word or a log line.
    """

    def __init__(
        self,
        read: ReadCallback,
        *,
        host: str,
        port: int,
        max_blksize: int = 1468,
        max_sessions: int = 5000,
        timeout: float = 1.0,
        retries: int = 5,
        write: WriteCallback | None = None,
        max_upload: int = 1 << 20,
        upload_limit: UploadLimitCallback | None = None,
        on_event: Callable[[TftpEvent], None] | None = None,
        lane: bool = True,
        on_malformed: MalformedCallback | None = None,
        banned: BannedCallback | None = None,
        log_interval: float = 60.0,
    ) -> None:
        """Configure; nothing is bound until :meth:`start`.

        ``timeout`` is the retransmission interval in seconds unless a client
        negotiates another, and ``retries`` the retransmissions without
        progress before a transfer is dropped. ``max_sessions`` bounds the
        transfers in progress (each holds one socket); requests beyond it get
        ERROR 0 and the client retries later. ``lane`` lets a large read that
        has the server to itself run in a thread of its own (see the module
        docstring); without it every transfer runs on the event loop.
        Malformed datagrams are logged at most once per sender address and
        ``log_interval`` seconds; the line says how many were not logged.
        """
        self.limits = Limits(max_blksize=max_blksize, timeout=timeout, retries=retries)
        self._read = read
        self._write = write
        self._on_event = on_event
        self._on_malformed = on_malformed
        self._banned = banned
        self._log_limit = LogLimiter(interval=log_interval)
        self._host = host
        self._port = port
        self._max_sessions = max_sessions
        self._max_upload = max_upload
        self._upload_limit = upload_limit
        self._sock: socket.socket | None = None
        self._bind: Address = ()  # where transfer sockets bind when PKTINFO does not say
        self._pktinfo = False
        self._closing = False
        self._progress: asyncio.Event | None = None  # set when a transfer ends (for close)
        self._transfers: dict[tuple[str, int], _Transfer] = {}
        self._lane = lane
        self._lane_pool: ThreadPoolExecutor | None = None
        self._lane_user: _Transfer | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound request address (host, port), e.g. to learn a port chosen by the OS."""
        if self._sock is None:
            raise RuntimeError("the server is not running")
        host, port = self._sock.getsockname()[:2]
        return host, port

    @property
    def active(self) -> int:
        """Transfers in progress, including those waiting for the read callback."""
        return len(self._transfers)

    @property
    def lane_busy(self) -> bool:
        """Whether a transfer is being driven by the lane thread right now."""
        return self._lane_user is not None

    async def start(self) -> None:
        """Bind the request socket and start serving."""
        loop = asyncio.get_running_loop()
        _raise_fd_limit()
        sock, sockaddr = await bind_udp(self._host, self._port, {socket.SO_RCVBUF: _REQUEST_RCVBUF})
        try:
            if sys.platform == "linux" and ipaddress.ip_address(sockaddr[0]).is_unspecified:
                if sock.family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
                else:
                    sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
                self._pktinfo = True
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._bind = (sockaddr[0], 0, *sockaddr[2:])
        self._closing = False
        if self._lane:
            self._lane_pool = ThreadPoolExecutor(1, thread_name_prefix="tftp-lane")
        loop.add_reader(sock.fileno(), self._on_request_readable)
        # provisioner serve logs every listener at INFO; this is for the TFTP server alone.
        _log.debug("event=listening protocol=tftp address=%s port=%d", *self.address)

    async def close(self, grace: float = 0.0) -> None:
        """Stop accepting requests, then end the transfers in progress.

        Transfers get up to ``grace`` seconds to finish; the rest are told
        ERROR 0 ("Server shutting down") and reported as errors. (A finished
        upload that is only dallying is not waited for.)
        """
        loop = asyncio.get_running_loop()
        self._closing = True
        if self._sock is not None:
            loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        until = loop.time() + grace
        while any(not t.reported for t in self._transfers.values()) and loop.time() < until:
            self._progress = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), until - loop.time())
        pending = [t.task for t in self._transfers.values() if t.task is not None]
        for transfer in list(self._transfers.values()):
            transfer.abort("server closed")
        await asyncio.gather(*pending, return_exceptions=True)
        if self._lane_pool is not None:
            self._lane_pool.shutdown(wait=False)  # the lane has returned: gathered above
            self._lane_pool = None

    async def __aenter__(self) -> TftpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _on_request_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(_BATCH):
            try:
                if self._pktinfo:
                    data, ancillary, _, peer = sock.recvmsg(_MAX_DATAGRAM, _ANCILLARY)
                    bind = _destination(ancillary) or self._bind
                else:
                    data, peer = sock.recvfrom(_MAX_DATAGRAM)
                    bind = self._bind
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                _log.warning("TFTP request socket: %s", exc)
                return
            try:
                self._on_request(data, peer, bind)
            except Exception:
                # A bug (ours or a callback's) must cost one datagram, not the
                # rest of this batch, and must not write a traceback per datagram.
                host = _client(peer)[0]
                if self._log_limit.admit(host, time.monotonic()) is not None:
                    _log.exception("TFTP request from %s failed", host)

    def _on_request(self, data: bytes, peer: Address, bind: Address) -> None:
        host = _client(peer)[0]
        if self._banned is not None and self._banned(host):
            return  # no reply, no log line: a banned flood costs one lookup per datagram
        try:
            packet = decode(data)
        except PacketError as exc:
            if data[:2] in (b"\0\1", b"\0\2"):  # a request we cannot honour: say why
                self._refuse(peer, ErrorCode.ILLEGAL_OPERATION, str(exc))
            # Anything else is not even a request: no reply, whoever sent it.
            self._malformed(host, str(exc))
            return
        if isinstance(packet, ReadRequest | WriteRequest):
            self._accept(packet, peer, bind)
        elif not isinstance(packet, Error):  # ERRORs are never answered (RFC 1350 §7)
            self._refuse(peer, ErrorCode.ILLEGAL_OPERATION, "Illegal TFTP operation")
            self._malformed(host, f"{type(packet).__name__} sent to the request port")

    def _malformed(self, host: str, reason: str) -> None:
        """Report a malformed datagram from ``host``, and log it (rate-limited)."""
        # The callback first: should it raise, the traceback takes this line's place.
        if self._on_malformed is not None:
            self._on_malformed(host)
        suppressed = self._log_limit.admit(host, time.monotonic())
        if suppressed is not None:
            # ``reason`` is a PacketError message: ASCII with the sender's bytes
            # escaped, so it cannot forge log lines.
            more = f" ({suppressed} more from this address not logged)" if suppressed else ""
            _log.warning("TFTP malformed datagram from %s: %s%s", host, reason, more)

    def _accept(self, request: ReadRequest | WriteRequest, peer: Address, bind: Address) -> None:
        client = _client(peer)
        if self._closing or client in self._transfers:
            return  # a retransmitted request: its transfer is already under way
        loop = asyncio.get_running_loop()
        transfer = _Transfer(self, loop, request, peer, bind)
        if isinstance(request, WriteRequest) and self._write is None:
            self._refuse(peer, ErrorCode.ACCESS_VIOLATION, "Access violation")
            transfer.report("error", "uploads are disabled")
            return
        if len(self._transfers) >= self._max_sessions:
            self._refuse(peer, ErrorCode.NOT_DEFINED, "Server busy, try again later")
            transfer.report("error", f"more than {self._max_sessions} transfers in progress")
            return
        self._transfers[client] = transfer
        if self._lane_user is not None and self._lane_user.lane_crowded is not None:
            self._lane_user.lane_crowded.set()  # the lane hands its transfer back to the loop
        transfer.task = loop.create_task(transfer.open())

    def _refuse(self, peer: Address, code: ErrorCode, message: str) -> None:
        """ERROR from the request socket: no transfer ID is spent on a refusal."""
        if self._sock is not None:
            send_datagram(self._sock, encode(Error(code, message)), peer, _log)

    def _forget(self, transfer: _Transfer) -> None:
        if self._transfers.get(transfer.client) is transfer:
            del self._transfers[transfer.client]

    def _emit(self, event: TftpEvent) -> None:
        if self._progress is not None:
            self._progress.set()
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            _log.exception("TFTP on_event callback failed")


class _Transfer:
    """The I/O side of one transfer: its socket, its timer and its callbacks."""

    __slots__ = (
        "bind",
        "client",
        "delivering",
        "lane_crowded",
        "lane_stop",
        "loop",
        "peer",
        "reported",
        "request",
        "server",
        "session",
        "sock",
        "started",
        "stop_reason",
        "task",
        "timer",
        "timer_at",
    )

    def __init__(
        self,
        server: TftpServer,
        loop: asyncio.AbstractEventLoop,
        request: ReadRequest | WriteRequest,
        peer: Address,
        bind: Address,
    ) -> None:
        self.server = server
        self.loop = loop
        self.request = request
        self.peer = peer
        self.client = _client(peer)
        self.bind = bind
        self.sock: socket.socket | None = None
        self.session: ReadSession | WriteSession | None = None
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.started = loop.time()
        self.reported = False
        self.delivering = False
        # Both exist while the lane drives the session; the loop sets them.
        self.lane_stop: threading.Event | None = None
        self.lane_crowded: threading.Event | None = None
        self.stop_reason = ""

    async def open(self) -> None:
        """Get the content (reads), open the transfer socket and send the first packet."""
        try:
            await self._open()
        except Exception as exc:  # a bug must cost one transfer, not the server
            _log.exception("TFTP transfer for %s failed", self.client)
            self.abort(f"internal error: {exc!r}")

    async def _open(self) -> None:
        server, request = self.server, self.request
        session: ReadSession | WriteSession
        if isinstance(request, WriteRequest):
            limit = await self._upload_limit()
            if limit <= 0:
                return
            session = WriteSession(
                request.options, mode=request.mode, limits=server.limits, max_size=limit
            )
        else:
            try:
                # A client gives up after its own retries; waiting longer is pointless.
                async with asyncio.timeout(self._patience()):
                    data = await server._read(request.filename, self.client)
            except Exception as exc:
                # Logged in full, answered like any missing file: the client learns
                # nothing about which names exist.
                _log.exception("TFTP read callback failed for %r", request.filename)
                self._refuse(ErrorCode.FILE_NOT_FOUND, _NOT_FOUND, f"read failed: {exc!r}")
                return
            if data is None:
                self._refuse(ErrorCode.FILE_NOT_FOUND, _NOT_FOUND, "", "not_found")
                return
            session = ReadSession(data, request.options, mode=request.mode, limits=server.limits)
        try:
            self.sock = self._open_socket()
        except OSError as exc:
            _log.warning("TFTP transfer socket for %s: %s", self.client, exc)
            self._refuse(ErrorCode.NOT_DEFINED, "Server busy", f"no socket: {exc}")
            return
        self.session = session
        self._send(session.start(self.loop.time()))
        pool = server._lane_pool
        if (
            pool is not None
            and server._lane_user is None
            and len(server._transfers) == 1
            and isinstance(session, ReadSession)
            and session.size // session.negotiated.blksize >= _LANE_BLOCKS
        ):
            await self._run_in_lane(pool, self.sock, session)
            return
        self.loop.add_reader(self.sock.fileno(), self._on_readable)
        self._update()

    async def _run_in_lane(
        self, pool: ThreadPoolExecutor, sock: socket.socket, session: ReadSession
    ) -> None:
        """Let the lane drive the session while it is alone, then carry on here."""
        server = self.server
        stop = self.lane_stop = threading.Event()
        crowded = self.lane_crowded = threading.Event()
        server._lane_user = self
        try:
            await self.loop.run_in_executor(pool, _drive, sock, session, self.peer, stop, crowded)
        except asyncio.CancelledError:
            stop.set()  # the thread sees it within _LANE_POLL and lets go of the socket
            raise
        finally:
            server._lane_user = None
            self.lane_stop = self.lane_crowded = None
        if session.state in TERMINAL:
            self._update()  # DONE or FAILED, no timer left: report and close
        elif stop.is_set():
            self.abort(self.stop_reason)  # stopped part-way by abort()
        else:  # another transfer started: the loop takes over where the lane was
            self.loop.add_reader(sock.fileno(), self._on_readable)
            self._update()

    async def _upload_limit(self) -> int:
        """Bytes this upload may have: ``max_upload``, lowered by the ``upload_limit``
        callback; 0 after refusing it (ERROR 2, before any data is taken)."""
        server, name = self.server, self.request.filename
        if server._upload_limit is None:
            return server._max_upload
        try:
            async with asyncio.timeout(self._patience()):
                allowed = await server._upload_limit(name, self.client)
        except Exception as exc:
            _log.exception("TFTP upload_limit callback failed for %r", name)
            allowed, why = 0, f"upload check failed: {exc!r}"
        else:
            why = "refused by the upload_limit callback"
        if allowed <= 0:
            self._refuse(ErrorCode.ACCESS_VIOLATION, "Access violation", why)
            return 0
        return min(allowed, server._max_upload)

    def _open_socket(self) -> socket.socket:
        family = socket.AF_INET6 if len(self.bind) == 4 else socket.AF_INET
        return open_udp(family, self.bind)

    def _patience(self) -> float:
        limits = self.server.limits
        return limits.timeout * (limits.retries + 1)

    def _on_readable(self) -> None:
        # One datagram per call: the selector is level-triggered and calls
        # again while more are queued, and on a transfer socket there rarely
        # are (one ACK per window), whereas trying to read on until the socket
        # would block costs a raised exception on every lockstep round trip.
        sock, session = self.sock, self.session
        if sock is None or session is None:
            return
        data = _receive(sock, self.peer)
        if data is None:
            return
        for datagram in session.receive(data, self.loop.time()):
            send_datagram(sock, datagram, self.peer, _log)
        self._update()

    def _on_timer(self) -> None:
        self.timer = None
        if self.session is not None:
            self._send(self.session.handle_timer(self.loop.time()))
            self._update()

    def _update(self) -> None:
        """After every input: re-arm the timer, deliver an upload, report, or finish."""
        session = self.session
        if session is None:
            return
        state = session.state
        deadline = session.next_timer()
        if deadline is None:
            self._cancel_timer()
        else:
            # A later deadline keeps the earlier timer, which re-arms on firing.
            if self.timer is None or deadline < self.timer_at:
                self._arm(deadline)
            if state is State.TRANSFERRING or state is State.NEGOTIATING:
                return  # the common case: nothing else to do
        if state is State.RECEIVED and not self.delivering:
            self.delivering = True
            self.task = self.loop.create_task(self._deliver())
        elif state is State.DONE or state is State.FAILED:
            if not self.reported:
                self.report("ok" if state is State.DONE else "error", session.reason)
            if deadline is None:
                self._close()

    def _arm(self, deadline: float) -> None:
        self._cancel_timer()
        self.timer = self.loop.call_at(deadline, self._on_timer)
        self.timer_at = deadline

    async def _deliver(self) -> None:
        """Hand a complete upload to the write callback, then acknowledge or refuse it."""
        session, write = self.session, self.server._write
        if not isinstance(session, WriteSession) or write is None:
            return
        try:
            async with asyncio.timeout(self._patience()):
                kept = await write(self.request.filename, self.client, session.data)
        except Exception as exc:
            _log.exception("TFTP write callback failed for %r", self.request.filename)
            kept, why = False, f"write failed: {exc!r}"
        else:
            why = "refused by the write callback"
        if session.state is State.RECEIVED:
            self._send(session.accept(self.loop.time()) if kept else session.reject(why))
            self._update()

    def abort(self, reason: str) -> None:
        """End now: tell a client mid-transfer ERROR 0, report, release everything.

        A transfer in the lane is only asked to stop: its own task finishes the
        abort once the thread has let go of the session and the socket.
        """
        if self.lane_stop is not None:
            self.stop_reason = reason
            self.lane_stop.set()
            return
        if (
            self.task is not None
            and not self.task.done()
            and self.task is not asyncio.current_task()
        ):
            self.task.cancel()
        session = self.session
        if session is not None and session.state not in TERMINAL:
            self._send([encode(Error(ErrorCode.NOT_DEFINED, "Server shutting down"))])
        if not self.reported:
            self.report("error", reason)
        self._close()

    def report(self, status: Literal["ok", "not_found", "error"], reason: str) -> None:
        """Tell the server's ``on_event`` how this request ended (once)."""
        self.reported = True
        session = self.session
        self.server._emit(
            TftpEvent(
                client=self.client,
                operation="write" if isinstance(self.request, WriteRequest) else "read",
                filename=self.request.filename,
                status=status,
                transferred=0 if session is None else session.transferred,
                options=() if session is None else session.negotiated.reply,
                seconds=self.loop.time() - self.started,
                reason=reason,
            )
        )

    def _refuse(
        self,
        code: ErrorCode,
        message: str,
        reason: str,
        status: Literal["not_found", "error"] = "error",
    ) -> None:
        self.server._refuse(self.peer, code, message)
        self.report(status, reason)
        self._close()

    def _send(self, datagrams: list[bytes]) -> None:
        sock = self.sock
        if sock is not None:
            for datagram in datagrams:
                send_datagram(sock, datagram, self.peer, _log)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _close(self) -> None:
        self._cancel_timer()
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        self.server._forget(self)


def _drive(
    sock: socket.socket,
    session: ReadSession,
    peer: Address,
    stop: threading.Event,
    crowded: threading.Event,
) -> None:
    """Run a read session in this thread (the lane) while it is the only transfer.

    Returns when the session ends, or when the loop sets ``stop`` or
    ``crowded`` (another transfer started), looked at after every wake-up.
    The session gets the same inputs the event loop would give it, from a
    blocking ``poll`` on the transfer socket; nothing else touches it until
    this returns, and this touches nothing of the server's. Reporting and
    closing are left to the loop.
    """
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    clock = time.monotonic  # what asyncio's loop.time() reads, so deadlines compare
    while not (stop.is_set() or crowded.is_set()):
        deadline = session.next_timer()
        if deadline is None:
            return  # DONE or FAILED
        now = clock()
        if now >= deadline:
            for datagram in session.handle_timer(now):
                send_datagram(sock, datagram, peer, _log)
            continue
        if not poller.poll(min(deadline - now, _LANE_POLL) * 1000):
            continue
        data = _receive(sock, peer)
        if data is not None:
            for datagram in session.receive(data, clock()):
                send_datagram(sock, datagram, peer, _log)


def _receive(sock: socket.socket, peer: Address) -> bytes | None:
    """One datagram from the transfer socket if it came from ``peer``, else ``None``.

    A datagram from anyone else is answered with ERROR 5 and otherwise
    ignored (RFC 1350 §4), unless it is itself an ERROR, which is never
    answered, lest two servers argue forever. Whole socket addresses compare
    equal for the same sender: the kernel reports them the same way on the
    request socket and the transfer socket.
    """
    try:
        data, source = sock.recvfrom(_MAX_DATAGRAM)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError as exc:
        _log.debug("TFTP transfer socket for %s: %s", peer[:2], exc)
        return None
    if source != peer:
        if data[:2] != b"\0\5":
            send_datagram(sock, _UNKNOWN_TID, source, _log)
        return None
    return data


def _client(peer: Address) -> tuple[str, int]:
    """(host, port) for callbacks and events; IPv4 as dotted quads even on a "::" socket."""
    host: str = peer[0]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return host, peer[1]


def _destination(ancillary: list[tuple[int, int, bytes]]) -> Address | None:
    """The bind address for replies to a request, from its IP_PKTINFO/IPV6_PKTINFO."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == _IP_PKTINFO and len(data) >= 12:
            v4 = ipaddress.IPv4Address(data[8:12])  # struct in_pktinfo: ipi_addr
            if v4.is_multicast or v4 == ipaddress.IPv4Address("255.255.255.255"):
                return None  # never reply from a group or broadcast address
            return (str(v4), 0)
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(data) >= 20:
            v6 = ipaddress.IPv6Address(data[:16])  # struct in6_pktinfo: ipi6_addr, ifindex
            if v6.is_multicast:
                return None
            mapped = v6.ipv4_mapped
            if mapped is not None and (mapped.is_multicast or mapped.packed == b"\xff" * 4):
                return None
            scope = int.from_bytes(data[16:20], sys.byteorder) if v6.is_link_local else 0
            return (str(v6), 0, 0, scope)
    return None


def _raise_fd_limit() -> None:
    """Lift the soft open-files limit to the hard one: each transfer holds a socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or soft >= hard:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        _log.warning("could not raise the open-files limit to %d: %s", hard, exc)

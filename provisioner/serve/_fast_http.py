"""The phone port's common case without aiohttp: GET and HEAD of rendered files.

aiohttp's request and response objects cost most of a request on the phone
port (docs/performance-notes.md): a bare aiohttp server returning fixed bytes
reached a third of nginx on the development machine, a bare
:class:`asyncio.Protocol` over ``httptools`` (llhttp, the parser uvicorn
uses) several times that. So a plain HTTP connection starts on
:class:`FastConnection`, which answers the requests phones make all day —
``GET``/``HEAD`` of a path, with at most conditional and authorization
headers — from the gateway's reply, with the same status, headers and body
as :mod:`provisioner.serve._http` would send.

Anything else is handed, with the bytes of the request that is not taken
and everything after them, to aiohttp's handler of the connection
(:class:`~provisioner.serve._connections._Connection`), which keeps the
connection from then on: other methods (uploads), request bodies, HTTP/1.0
or ``Connection: close``, targets with ``%``-escapes or not starting with
``/``, ``/healthz`` and ``/metrics``, headers that do not parse, and heads
larger than :data:`_MAX_HEAD`. A request whose reply is a file on disk
(firmware, with ``Range``) is handed over with the reply already made, so
the gateway is not asked twice (``_Connection.decided``).

The header timeout is kept as aiohttp keeps it: from the accept and from
each answer until the next request's head is complete, not reset by data
arriving meanwhile. Requests are answered in order; bytes that arrive while
a reply is awaited (a digest answer being claimed for the cluster) wait.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING

import httptools
from aiohttp.http import SERVER_SOFTWARE

from provisioner.serve._forwarded import forwarded_client, forwarded_secure
from provisioner.serve._model import (
    Fetch,
    Pending,
    Protocol,
    Reply,
    ReplyOutcome,
    ServedFile,
    Status,
)

if TYPE_CHECKING:
    from provisioner.serve._connections import Connections

__all__ = ["NOT_FOUND_BODY", "UNAUTHORIZED_BODY", "FastConnection", "Outbox", "fresh"]

log = logging.getLogger("provisioner.http")
NOT_FOUND_BODY = b"Not Found\n"
UNAUTHORIZED_BODY = b"Unauthorized\n"

_MAX_HEAD = 8190  # aiohttp's limit for one line or field; larger heads go to aiohttp
_MAX_BUFFERED = 64 * 1024  # read while a reply is awaited, before reading pauses
# Answer bytes one connection may have in the outbox before it answers no more until
# they are written (asyncio's default high-water mark of a transport's buffer).
_MAX_QUEUED = 64 * 1024
_END = b"\r\n\r\n"
_SERVER = f"Server: {SERVER_SOFTWARE}\r\n".encode()  # as aiohttp's answers say
# Fixed headers of the answers that do not depend on the file, in aiohttp's order.
_404 = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n" % len(
    NOT_FOUND_BODY
)
_401 = b"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\n"
_401_LENGTH = b"Content-Length: %d\r\n" % len(UNAUTHORIZED_BODY)
# Headers the fast path reads; any others are ignored, as the handler ignores them.
_WANTED = frozenset(
    {
        b"user-agent",
        b"authorization",
        b"if-none-match",
        b"if-modified-since",
        b"x-forwarded-for",
        b"x-forwarded-proto",
    }
)
# Heads with these go to aiohttp: a body, or a protocol switch.
_HANDED = frozenset({b"content-length", b"transfer-encoding", b"upgrade", b"expect"})


def fresh(if_none_match: str | None, since: str | None, etag: str, last_modified: int) -> bool:
    """True when the client's cached copy is current (RFC 9110 §13.1.2, §13.1.3).

    ``if_none_match`` and ``since`` are the request's ``If-None-Match`` and
    ``If-Modified-Since`` headers, if it has them.
    """
    if if_none_match is not None:
        tags = [tag.strip() for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags or f"W/{etag}" in tags
    if since is None:
        return False
    try:
        return int(parsedate_to_datetime(since).timestamp()) >= last_modified
    except (TypeError, ValueError, OverflowError):
        return False


class _Dates:
    """The end of every answer's head: ``Date`` and ``Server``, made once a second."""

    __slots__ = ("_second", "_tail")

    def __init__(self) -> None:
        self._second = -1
        self._tail = b""

    def tail(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            date = formatdate(now, usegmt=True).encode("ascii")
            self._tail = b"Date: %s\r\n%s\r\n" % (date, _SERVER)
        return self._tail


_DATES = _Dates()


def _file_headers(file: ServedFile) -> bytes:
    """The validators and caching headers of a rendered file (every 200 and 304 carries them)."""
    return (
        f"ETag: {file.etag}\r\nLast-Modified: {file.last_modified_http}\r\n"
        "Cache-Control: private, no-cache\r\n"
    ).encode("latin-1")


class _Heads:
    """The heads of 200 answers (but ``Date`` and ``Server``) of files answered lately.

    A fleet's phones fetch the same shared files (a vendor's common
    configuration, directories) over and over during a boot storm, and
    building the head was a tenth of a fast-path answer. Not kept on the
    file itself: at 100,000 phones that would be some 250 bytes more per
    rendered file (docs/scaling.md, memory). Keyed by the file object,
    which a new render replaces; bounded, cleared when full.
    """

    __slots__ = ("_made",)

    _MAX = 4096

    def __init__(self) -> None:
        self._made: dict[int, tuple[ServedFile, bytes]] = {}

    def ok(self, file: ServedFile) -> bytes:
        """The status line and headers of a 200 answer with ``file``."""
        found = self._made.get(id(file))
        if found is not None and found[0] is file:
            return found[1]
        head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\n%sContent-Length: %d\r\n" % (
            file.content_type.encode("latin-1"),
            _file_headers(file),
            file.size,
        )
        if len(self._made) >= self._MAX:
            self._made.clear()
        # The file is held beside its head, so its id cannot be reused meanwhile.
        self._made[id(file)] = (file, head)
        return head


_HEADS = _Heads()


class _Head:
    """One parsed request head (what :class:`_Reader`'s parser found in it)."""

    __slots__ = ("handed", "headers", "keep_alive", "method", "url")

    def __init__(self) -> None:
        self.url = b""
        self.method = b""
        self.headers: dict[bytes, list[bytes]] = {}
        self.handed = False  # something only aiohttp handles
        self.keep_alive = False  # HTTP/1.1 without Connection: close

    def first(self, name: bytes) -> str | None:
        values = self.headers.get(name)
        return None if values is None else _text(values[0])

    def all(self, name: bytes) -> list[str]:
        return [_text(value) for value in self.headers.get(name, ())]


class _Reader:
    """A connection's request parser: one ``httptools`` parser for all its heads.

    Making a parser costs more than parsing a phone's head with it (about
    8.6 against 3.3 µs here), so it is kept across the connection's
    requests. That is sound because only complete messages are fed: every
    head served here ends its message (a head announcing a body or an
    upgrade is ``handed``, and the connection, parser and all, goes to
    aiohttp), and after a parse error the connection goes too.
    """

    __slots__ = ("head", "parser")

    def __init__(self) -> None:
        self.head = _Head()
        self.parser = httptools.HttpRequestParser(self)

    def read(self, data: bytes) -> _Head | None:
        """The head in ``data`` (one complete head), or None if it does not parse."""
        head = self.head = _Head()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            return None
        head.method = self.parser.get_method()
        # HTTP/1.1 only (an HTTP/1.0 keep-alive is aiohttp's). Read off the request
        # line, which llhttp accepted: ``get_http_version()`` formats a string per
        # call, a sixth of parsing a phone's head (docs/performance-notes.md).
        if head.keep_alive and not data.endswith(b" HTTP/1.1", 0, data.find(b"\r\n")):
            head.keep_alive = False
        return head

    def on_headers_complete(self) -> None:
        # llhttp knows the connection's fate only until the message is complete.
        self.head.keep_alive = self.parser.should_keep_alive()

    def on_url(self, url: bytes) -> None:
        self.head.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.lower()
        if key in _WANTED:
            self.head.headers.setdefault(key, []).append(value)
        elif key in _HANDED:
            self.head.handed = True


def _text(value: bytes) -> str:
    # As aiohttp decodes header values, so both paths record the same text
    # (bytes that are not UTF-8 become lone surrogates, cleaned where stored).
    return value.decode("utf-8", "surrogateescape")


class Outbox:
    """The fast path's answers, written together at the end of the event loop's pass.

    Writing each answer as it is made interleaves the kernel's send path
    (TCP, the loopback or NIC queue, waking the reader) with the next
    request's Python, and each evicts the other from the CPU's caches.
    Queued here and written in one callback after the pass, the requests
    that arrived together are answered in one go: under wrk with 64
    connections the server's CPU per request fell by about a third
    (docs/performance-notes.md, "Answers written together"). A single
    request waits one pass of the loop longer, which runs at once.

    Only answers with a file (200, 304) wait here: a failure (401, 404) is
    written at once, before the bookkeeping the gateway left for after it
    (:meth:`FastConnection._reply`). One per server (``Connections.outbox``).
    Each connection's answers keep their order; a connection stops answering
    once :data:`_MAX_QUEUED` bytes of its answers wait here, and goes on
    when they are written. A connection handed to aiohttp, or closed after
    a failed answer, has its answers written first.
    """

    __slots__ = ("_queued",)

    def __init__(self) -> None:
        self._queued: list[tuple[FastConnection, bytes]] = []

    def put(self, connection: FastConnection, data: bytes) -> None:
        """Queue ``data`` for ``connection``; written at the end of this pass of the loop."""
        if not self._queued:
            asyncio.get_running_loop().call_soon(self.flush)
        self._queued.append((connection, data))

    def flush(self) -> None:
        """Write what is queued, then let the connections that held back go on."""
        queued, self._queued = self._queued, []
        for connection, data in queued:
            connection.write(data)
        for connection in dict.fromkeys(connection for connection, _ in queued):
            connection.written()


class FastConnection(asyncio.Protocol):
    """One plain HTTP connection, answered here until something needs aiohttp."""

    def __init__(
        self,
        connections: Connections,
        peer: str,
        hand_over: Callable[[asyncio.Transport, bytes, Reply | None], None],
    ) -> None:
        """``hand_over(transport, data, reply)`` gives the connection to aiohttp.

        ``data`` is what aiohttp is to read first; ``reply``, when not None,
        is the gateway's answer to the first request in it.
        """
        self._connections = connections
        self._gateway = connections.gateway
        self._peer = peer
        self._hand_over = hand_over
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._reader = _Reader()
        self._waiting: Pending | asyncio.Task[None] | None = None  # a reply being awaited
        self._paused = False  # the transport's buffer is full: answer nothing more yet
        self._outbox = connections.outbox
        self._queued = 0  # bytes of answers waiting in the outbox
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    # --- the connection ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is None:
            return  # handed over: aiohttp's handler releases the connection
        self._transport = None
        self._disarm()
        self._connections.release(self._peer)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiting is None and not self._paused and self._queued < _MAX_QUEUED:
            self._serve()
        elif len(self._buffer) > _MAX_BUFFERED and self._transport is not None:
            # Requests queued behind one being answered: read more once it is.
            self._transport.pause_reading()

    def eof_received(self) -> bool | None:
        return None  # close: phones do not half-close and wait for answers

    def pause_writing(self) -> None:
        # A client that does not read its answers (pipelined requests of a large
        # file) gets no more answers, and nothing more is read from it, until it does.
        self._paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._paused = False
        if self._transport is not None and self._waiting is None:
            self._transport.resume_reading()
            self._serve()

    # --- the outbox ------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Send an answer the outbox held (dropped if the connection is gone)."""
        if self._transport is not None:
            self._transport.write(data)

    def written(self) -> None:
        """The outbox wrote this connection's answers: answer what waited behind them."""
        held = self._queued >= _MAX_QUEUED
        self._queued = 0
        if held and self._waiting is None:
            self._go_on()

    def _close(self) -> None:
        """Close the connection after the answers already made."""
        self._outbox.flush()
        if self._transport is not None:
            self._transport.close()

    # --- the header timeout ------------------------------------------------------

    def _arm(self) -> None:
        """Start the header timeout (at accept and after each answer)."""
        self._deadline = self._loop.time() + self._connections.header_timeout
        if self._timer is None:
            self._timer = self._loop.call_at(self._deadline, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self._transport is None or self._waiting is not None or self._paused:
            return  # gone, or answering: re-armed after the answer
        if self._loop.time() < self._deadline:
            # Answered since the timer was set: wait for the deadline of the last answer.
            self._timer = self._loop.call_at(self._deadline, self._expired)
            return
        self._transport.close()

    # --- requests --------------------------------------------------------------

    def _serve(self) -> None:
        """Answer the complete heads in the buffer, in order, until one must wait."""
        while (
            self._transport is not None
            and self._waiting is None
            and not self._paused
            and self._queued < _MAX_QUEUED
        ):
            end = self._buffer.find(_END, 0, _MAX_HEAD + 4)
            if end < 0:
                if len(self._buffer) > _MAX_HEAD:
                    self._give_up(None)  # aiohttp applies its limits to lines and fields
                return
            started = time.monotonic()
            head_bytes = self._buffer[: end + 4]
            request = self._parse(head_bytes)
            if request is None:
                self._give_up(None)
                return
            fetch, head = request
            if fetch.path in ("/healthz", "/metrics"):
                self._give_up(None)
                return
            answer = self._gateway.begin(fetch)
            if isinstance(answer, Reply):
                self._reply(fetch, head, answer, len(head_bytes), started)
                continue
            if isinstance(answer, Pending):
                # A digest answer being claimed: a callback, not a task per request.
                self._waiting = answer
                answer.then(
                    functools.partial(self._answered, fetch, head, len(head_bytes), started)
                )
                return
            self._waiting = self._loop.create_task(
                self._later(fetch, head, answer, len(head_bytes), started)
            )

    def _answered(
        self, fetch: Fetch, head: _Head, size: int, started: float, outcome: ReplyOutcome
    ) -> None:
        """Send the reply the gateway settled, then go on with what queued."""
        self._waiting = None
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, asyncio.CancelledError):
                log.error("event=request_failed client=%s", fetch.client, exc_info=outcome)
            self._close()
            return
        if self._transport is None:
            return
        self._reply(fetch, head, outcome, size, started)
        self._go_on()

    async def _later(
        self,
        fetch: Fetch,
        head: _Head,
        answer: Awaitable[Reply],
        size: int,
        started: float,
    ) -> None:
        try:
            reply = await answer
        except Exception:  # aiohttp would answer 500; a phone retries on a new connection
            log.exception("event=request_failed client=%s", fetch.client)
            self._close()
            return
        finally:
            self._waiting = None
        if self._transport is None:
            return
        self._reply(fetch, head, reply, size, started)
        self._go_on()

    def _go_on(self) -> None:
        """After an awaited answer: read and answer what queued behind it."""
        if self._transport is not None and not self._paused:
            self._transport.resume_reading()
            self._serve()

    def _parse(self, data: bytes) -> tuple[Fetch, _Head] | None:
        """The request in a complete head, or None when aiohttp must have it."""
        head = self._reader.read(data)
        if head is None:
            return None
        method, url = head.method, head.url
        if (
            head.handed
            or method not in (b"GET", b"HEAD")
            or not head.keep_alive
            or not url.startswith(b"/")
            or b"%" in url
            or b"#" in url
        ):
            return None
        try:
            target = url.decode("ascii")
        except UnicodeDecodeError:
            return None
        client, protocol = self._peer, Protocol.HTTP
        trusted = self._connections.trusted_proxies
        if trusted:
            client = forwarded_client(self._peer, head.all(b"x-forwarded-for"), trusted)
            if forwarded_secure(self._peer, head.all(b"x-forwarded-proto"), trusted):
                protocol = Protocol.HTTPS
        fetch = Fetch(
            protocol,
            target.partition("?")[0],
            client,
            head.first(b"user-agent") or "",
            head.first(b"authorization"),
            "GET" if method == b"GET" else "HEAD",
            target,
        )
        return fetch, head

    def _reply(self, fetch: Fetch, request: _Head, reply: Reply, size: int, started: float) -> None:
        """Send the answer to one request (or hand it over with the connection)."""
        if reply.status is Status.OK and reply.disk is not None:
            self._give_up(reply)
            return
        assert self._transport is not None
        body = b""
        if reply.status is Status.CHALLENGE:
            status = 401
            challenges = (f"WWW-Authenticate: {v}\r\n".encode() for v in reply.challenge)
            head = b"".join((_401, *challenges, _401_LENGTH))
            body = UNAUTHORIZED_BODY
        elif reply.status is not Status.OK or reply.file is None:
            status, head, body = 404, _404, NOT_FOUND_BODY
        else:
            file = reply.file
            since = request.first(b"if-modified-since")
            if fresh(request.first(b"if-none-match"), since, file.etag, file.last_modified):
                status, head = 304, b"HTTP/1.1 304 Not Modified\r\n" + _file_headers(file)
            else:
                status, head = 200, _HEADS.ok(file)
                if fetch.method != "HEAD":  # a HEAD's length is known without inflating
                    body = file.data
        if fetch.method == "HEAD":
            body = b""
        out = b"".join((head, _DATES.tail(), body))
        if status < 400:
            self._queued += len(out)
            self._outbox.put(self, out)
        else:
            # A failure is written at once, after what this connection queued: its
            # bookkeeping (failure counting, logging) waits for the answer to be out,
            # and must not run before it, or an unknown MAC's answer would come
            # later than a known one's (security goal 2; bench/security.py).
            if self._queued:
                self._outbox.flush()
            self._transport.write(out)
        self._buffer = self._buffer[size:]
        self._arm()
        access = self._connections.access
        if access is not None and access.enabled:
            access.record(
                protocol=fetch.protocol.value,
                client=fetch.client,
                path=fetch.path,
                status=status,
                size=len(out),
                seconds=time.monotonic() - started,
                user_agent=fetch.user_agent,
            )

    def _give_up(self, reply: Reply | None) -> None:
        """Hand the connection, from the first unanswered request on, to aiohttp."""
        self._outbox.flush()  # the answers made so far go before aiohttp's
        transport = self._transport
        assert transport is not None
        self._transport = None
        self._disarm()
        if self._paused:
            transport.resume_reading()  # aiohttp waits for its own pause_writing
        self._hand_over(transport, self._buffer, reply)
        self._buffer = b""

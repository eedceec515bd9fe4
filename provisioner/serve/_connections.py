"""HTTP(S) connections: timeouts, a cap per address, bans at accept, malformed requests.

aiohttp on its own keeps a connection that never completes its headers for
an hour (its keep-alive timer, 3630 s), asyncio gives a silent TLS
handshake 60 s, nothing limits how many connections one address holds, and
every malformed request is logged with a traceback and counts towards no
ban. Here:

- The **header timeout** is aiohttp's keep-alive timer, which runs from the
  accept (after the TLS handshake) and from the end of each response until
  a request's headers are complete; data that arrives meanwhile does not
  reset it, so a request dribbled a byte at a time is cut off too. An idle
  keep-alive connection is closed after the same time.
- The **TLS handshake** is done here, after admission, with asyncio's
  ``start_tls`` and the handshake timeout (which also bounds the closing
  ``close_notify`` exchange): asyncio's own TLS servers call the protocol
  only after the handshake, too late to count the connection or refuse a
  banned address without working for it.
- The **cap** counts open connections (handshakes included) per TCP peer;
  one over it is closed at once, unread. Trusted reverse proxies carry many
  clients and are not capped. Entries exist only while an address has
  connections open, so nothing is left once they close (security goal 3).
- A **banned** address's connections are closed at accept, unread.
- A **malformed request** (bad request line, bad or oversized headers, bad
  chunked body) gets 400 and a close as before, but one log line and a
  failure towards the sender's ban (the gateway's ``failed``) instead of a
  traceback. While an address is banned its malformed requests are not
  logged again, so one address writes at most the ban limit of lines per
  ban.

All of this costs per connection. Plain HTTP starts on the fast path
(:mod:`provisioner.serve._fast_http`), which keeps the same header timeout
and hands the connection to aiohttp's handler (:class:`_Connection`) for
anything but GET/HEAD of rendered files; HTTPS is aiohttp's throughout.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import traceback
from collections import Counter
from functools import partial

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from provisioner.serve._access_log import AccessLog
from provisioner.serve._fast_http import FastConnection, Outbox
from provisioner.serve._forwarded import forwarded_client, forwarded_secure
from provisioner.serve._front import FrontGateway
from provisioner.serve._model import Network, Protocol, Reply, allowed

__all__ = ["Connections", "Site", "decided_reply", "request_client", "request_secure"]

log = logging.getLogger("provisioner.http")


def request_client(request: web.BaseRequest, trusted_proxies: tuple[Network, ...]) -> str:
    """The client: the TCP peer, or whom a trusted proxy's X-Forwarded-For names."""
    peer = request.remote or ""
    if not trusted_proxies:
        return peer
    return forwarded_client(peer, request.headers.getall("X-Forwarded-For", ()), trusted_proxies)


def request_secure(request: web.BaseRequest, trusted_proxies: tuple[Network, ...]) -> bool:
    """Whether the phone used TLS: to us, or to a trusted proxy that says so."""
    if request.secure:
        return True
    if not trusted_proxies:
        return False
    values = request.headers.getall("X-Forwarded-Proto", ())
    return forwarded_secure(request.remote or "", values, trusted_proxies)


def decided_reply(request: web.BaseRequest) -> Reply | None:
    """The gateway's reply to ``request`` when the fast path made it before handing over.

    Taken once: only the first request aiohttp reads on the connection has one.
    """
    handler = request.protocol
    if not isinstance(handler, _Connection) or handler.decided is None:
        return None
    reply, handler.decided = handler.decided, None
    return reply


class Connections:
    """Limits shared by the HTTP and HTTPS sites, and the count of open connections."""

    def __init__(
        self,
        gateway: FrontGateway,
        *,
        per_address: int,
        header_timeout: float,
        handshake_timeout: float,
        trusted_proxies: tuple[Network, ...] = (),
        access: AccessLog | None = None,
    ) -> None:
        """``trusted_proxies`` are neither capped nor refused at accept when banned.

        ``access`` gets every finished request while it is enabled.
        """
        self.gateway = gateway
        self.access = access
        self.per_address = per_address
        self.header_timeout = header_timeout
        self.handshake_timeout = handshake_timeout
        self.trusted_proxies = trusted_proxies
        self.outbox = Outbox()  # the fast path's answers, written at the end of a loop pass
        self.open = 0  # every open connection, TLS handshakes and proxies included
        self.refused: Counter[str] = Counter()  # by reason: "limit", "banned"
        self._by_address: dict[str, int] = {}  # capped addresses with connections open
        self._logged: set[str] = set()  # over the cap, logged since their last connection closed

    def _proxy(self, peer: str) -> bool:
        return bool(self.trusted_proxies) and allowed(peer, self.trusted_proxies)

    def admit(self, peer: str) -> bool:
        """Count a new connection from ``peer``; False (nothing counted) when it must be closed."""
        if self.gateway.banned(peer) and not self._proxy(peer):
            self.refused["banned"] += 1
            return False
        count = self._by_address.get(peer, 0)
        if count >= self.per_address:
            self.refused["limit"] += 1
            if peer not in self._logged:
                # One line per episode: until every connection of the address has closed.
                self._logged.add(peer)
                log.warning("event=connection_limit client=%s limit=%d", peer, self.per_address)
            return False
        if count or not self._proxy(peer):
            self._by_address[peer] = count + 1
        self.open += 1
        return True

    def release(self, peer: str) -> None:
        """A connection :meth:`admit` counted has closed."""
        self.open -= 1
        count = self._by_address.get(peer)
        if count is None:  # a trusted proxy: never counted
            return
        if count > 1:
            self._by_address[peer] = count - 1
        else:
            del self._by_address[peer]
            self._logged.discard(peer)

    def malformed(self, peer: str, protocol: Protocol) -> None:
        """A request from ``peer`` could not be parsed: one line, and a failure towards its ban."""
        if self._proxy(peer):
            # The proxy is not the sender, and which client was is unknown: log, do not count.
            log.warning("event=malformed_request proxy=%s protocol=%s", peer, protocol)
        elif not self.gateway.banned(peer):
            self.gateway.failed(peer, protocol, "malformed_request")

    def exposition(self) -> str:
        """Prometheus lines for ``/metrics``."""
        return (
            "# TYPE provisioner_http_connections gauge\n"
            f"provisioner_http_connections {self.open}\n"
            "# TYPE provisioner_http_connections_refused_total counter\n"
            + "".join(
                f'provisioner_http_connections_refused_total{{reason="{reason}"}} '
                f"{self.refused[reason]}\n"
                for reason in ("banned", "limit")
            )
        )


class Site(web.BaseSite):
    """A TCP listener of the runner whose connections pass through :class:`Connections`.

    With ``ssl_context`` the site does the TLS handshake itself, after the
    connection was admitted (see the module's docstring).
    """

    __slots__ = ("_connections", "_fast", "_handshakes", "_host", "_port", "_tls")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        connections: Connections,
        ssl_context: ssl.SSLContext | None = None,
        *,
        backlog: int = 1024,
        fast: bool = False,
    ) -> None:
        """Listen on ``host``:``port`` once started (``runner`` must be set up).

        ``backlog`` is the queue of connections the kernel completes before we
        accept them (``--backlog``; capped by ``net.core.somaxconn``). With
        ``fast``, plain HTTP starts on the phone port's fast path (rendered
        files from the gateway); without it (the admin API) every request goes
        to the runner's handler.
        """
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._connections = connections
        self._tls = ssl_context
        self._fast = fast
        self._handshakes: set[asyncio.Task[None]] = set()

    def use_tls(self, ssl_context: ssl.SSLContext) -> None:
        """Handshakes from now on use ``ssl_context`` (reloaded certificates, CRLs)."""
        self._tls = ssl_context

    @property
    def name(self) -> str:
        """The site's URL, as aiohttp's sites name themselves."""
        return f"{'https' if self._tls else 'http'}://{self._host}:{self._port}"

    async def start(self) -> None:
        """Start listening."""
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Gate(self), self._host, self._port, backlog=self._backlog
        )

    async def stop(self) -> None:
        """Stop listening and give up TLS handshakes in progress."""
        await super().stop()
        for task in self._handshakes:
            task.cancel()
        await asyncio.gather(*self._handshakes, return_exceptions=True)

    def accept(self, transport: asyncio.Transport) -> None:
        """A connection was accepted: close it at once, or hand it on."""
        peer = str(transport.get_extra_info("peername")[0])
        if not self._connections.admit(peer):
            transport.abort()
            return
        if self._tls is None and self._fast:
            # Plain HTTP starts on the fast path, which hands over to aiohttp when it must.
            fast = FastConnection(self._connections, peer, partial(self._handed, peer))
            transport.set_protocol(fast)
            fast.connection_made(transport)
            return
        if self._tls is None:
            self._serve(transport, peer, Protocol.HTTP)
            return
        task = asyncio.create_task(self._handshake(transport, peer, self._tls))
        self._handshakes.add(task)
        task.add_done_callback(self._handshakes.discard)

    async def _handshake(
        self, transport: asyncio.Transport, peer: str, tls: ssl.SSLContext
    ) -> None:
        early = _Early()
        timeout = self._connections.handshake_timeout
        secure = None  # stays None unless the handshake succeeds with the connection still open
        try:
            secure = await asyncio.get_running_loop().start_tls(
                transport,
                early,
                tls,
                server_side=True,
                ssl_handshake_timeout=timeout,
                ssl_shutdown_timeout=timeout,
            )
        except OSError as exc:
            # A failed or timed-out handshake (ssl.SSLError, ConnectionAbortedError) or a
            # peer that left: asyncio has closed the transport and logs it at debug level.
            # The exception's frames hold the handshake's future, which holds the
            # exception: a cycle that would keep the TLS state (a 256 KiB buffer each)
            # until the garbage collector's next full pass. Clearing them frees it now.
            traceback.clear_frames(exc.__traceback__)
        finally:
            if secure is None:
                self._connections.release(peer)
        if secure is not None:
            self._serve(secure, peer, Protocol.HTTPS, early.data)

    def _handed(
        self, peer: str, transport: asyncio.Transport, data: bytes, decided: Reply | None
    ) -> None:
        """Plain HTTP the fast path gives up: aiohttp reads ``data`` first."""
        self._serve(transport, peer, Protocol.HTTP, data, decided)

    def _serve(
        self,
        transport: asyncio.Transport,
        peer: str,
        protocol: Protocol,
        data: bytes = b"",
        decided: Reply | None = None,
    ) -> None:
        runner_server = self._runner.server
        assert runner_server is not None  # sites exist only while the runner is set up
        handler = _Connection(runner_server, self._connections, peer, protocol)
        handler.decided = decided
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if data:
            handler.data_received(data)


class _Gate(asyncio.Protocol):
    """The first protocol of an accepted connection; it hands the connection on at once."""

    __slots__ = ("_site",)

    def __init__(self, site: Site) -> None:
        self._site = site

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._site.accept(transport)


class _Early(asyncio.Protocol):
    """Holds what arrives after the TLS handshake until the request handler takes over.

    ``start_tls`` passes on data as soon as the handshake completes, before
    it returns the new transport; a client sends its request right behind
    its last handshake message.
    """

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = b""

    def data_received(self, data: bytes) -> None:
        self.data += data


class _Connection(web.RequestHandler):
    """aiohttp's handler of one connection, which frees its slot and reports malformed requests."""

    __slots__ = ("_connections", "_peer", "_protocol", "decided")

    def __init__(
        self, manager: web.Server, connections: Connections, peer: str, protocol: Protocol
    ) -> None:
        # The keep-alive timer is the header timeout (module docstring). aiohttp's
        # own access log formatting costs throughput; ours (serve/_access_log.py)
        # is hooked in through its access logger class and returns at once while
        # switched off. aiohttp documents None as "no access log" but annotates a Logger.
        super().__init__(
            manager,
            loop=asyncio.get_running_loop(),
            keepalive_timeout=connections.header_timeout,
            access_log_class=_AccessLogger,
            access_log=log if connections.access is not None else None,  # type: ignore[arg-type]
        )
        self._connections = connections
        self._peer = peer
        self._protocol = protocol
        self.decided: Reply | None = None  # the fast path's reply to the first request

    def record_access(
        self, request: web.BaseRequest, response: web.StreamResponse, seconds: float
    ) -> None:
        """Hand a finished request to the access log, if it is on."""
        access = self._connections.access
        if access is None or not access.enabled:
            return
        trusted = self._connections.trusted_proxies
        secure = request_secure(request, trusted)
        access.record(
            protocol=(Protocol.HTTPS if secure else Protocol.HTTP).value,
            client=request_client(request, trusted),
            path=request.path,
            status=response.status,
            size=response.body_length,
            seconds=seconds,
            user_agent=request.headers.get("User-Agent", ""),
        )

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self._connections.release(self._peer)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        # The request could not be parsed (aiohttp answers 400 and closes); a bad
        # chunked upload body surfaces here too, from the handler's read.
        self._connections.malformed(self._peer, self._protocol)
        if request.writer.output_size > 0:
            raise ConnectionError("a response was already under way; closing")
        response = web.Response(status=400, text="Bad Request\n")
        response.force_close()
        return response


class _AccessLogger(AbstractAccessLogger):
    """aiohttp's access-log hook, passed on to the connection's :meth:`record_access`."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        handler = request.protocol
        if isinstance(handler, _Connection):
            handler.record_access(request, response, time)

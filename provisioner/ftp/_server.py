"""The FTP server: one pyftpdlib IOLoop thread for every connection.

Theory of operation
-------------------
:meth:`FtpServer.start` binds the control socket and starts one daemon
thread that runs pyftpdlib's asynchronous server: every control and data
connection is a dispatcher on that thread's IOLoop, so an idle connection
costs a socket and some memory, not a thread. Backend calls may block, so
they never run on that thread: a session hands each one to a small pool of
backend threads (:class:`~provisioner.ftp._calls.BackendCalls`) and answers
when the result comes back; meanwhile the loop serves everyone else.
:meth:`FtpServer.close` stops listening, lets transfers in progress finish
within a grace period, disconnects every session, and waits for backend
calls in progress.

Connections that have not logged in are closed ``login_timeout`` seconds
after they connected, and when every slot is taken a newcomer replaces the
oldest of them (:meth:`_Acceptor.admit`), so idle connections cannot lock
phones out.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import Generic

from provisioner.ftp._authorizer import Authorizer
from provisioner.ftp._backend import FtpBackend, IdentityT
from provisioner.ftp._calls import BackendCalls
from provisioner.ftp._descriptors import raise_descriptor_limit
from provisioner.ftp._pyftpdlib import FTPServer, IOLoop
from provisioner.ftp._session import Session, SessionConfig

__all__ = ["FtpServer"]

log = logging.getLogger("provisioner.ftp")
_DRAIN_POLL = 0.05  # seconds between looks at the sessions while draining


class _Acceptor(FTPServer):
    """pyftpdlib's asynchronous server, with its own loop and session limit."""

    def __init__(
        self,
        address: tuple[str, int],
        config: SessionConfig,
        max_connections: int,
        max_connections_per_ip: int,
        backend_threads: int,
    ) -> None:
        self.config = config
        self.max_cons = max_connections
        self.max_cons_per_ip = max_connections_per_ip
        # Admitted sessions, oldest first (dicts keep insertion order).
        self.sessions: dict[Session, None] = {}
        super().__init__(address, Session, ioloop=IOLoop())
        self.calls = BackendCalls(self.ioloop, backend_threads)

    def _accept_new_cons(self) -> bool:
        # pyftpdlib asks this when accepting a connection, before its
        # per-address check, and before each data connection, counting every
        # socket of the loop. Data connections do not count, and sessions are
        # counted by admit() once the per-address check has passed.
        return True

    def admit(self, session: Session) -> bool:
        """Take ``session`` in, making room if need be; ``False`` refuses it (421).

        When every slot is taken, the oldest session that has not logged in
        and is not waiting for the backend is closed to make room: an idle
        connection can hold a slot for at most ``login_timeout`` seconds, and
        a flood of them pushes each other out rather than the phones.
        """
        if len(self.sessions) >= self.max_cons:
            oldest = next((s for s in self.sessions if s.evictable), None)
            if oldest is None:
                return False
            oldest.handle_max_cons()
        self.sessions[session] = None
        return True

    def handle_error(self) -> None:
        # pyftpdlib closes the listening socket on an unexpected accept error,
        # which would leave FTP down for good; log it and keep listening.
        log.exception("FTP accept failed")


class FtpServer(Generic[IdentityT]):
    """An FTP server whose files and logins all come from ``backend``.

    :param backend: see :class:`~provisioner.ftp.FtpBackend`; called from the
        server's backend threads.
    :param host: address to listen on: an IPv4 or IPv6 address or a name;
        ``"::"`` accepts IPv4 and IPv6 where the system allows dual-stack
        sockets.
    :param port: control port; 0 picks a free one (see :attr:`address`).
    :param passive_ports: ports for passive data connections, or ``None``
        for any free port. When all are in use PASV/EPSV answer 425.
    :param max_connections: simultaneous control connections. When all are
        taken, a newcomer replaces the oldest connection that has not logged
        in; when every one has, the newcomer is answered 421 and closed.
    :param max_connections_per_ip: simultaneous control connections from one
        address (0 = no limit); phones behind one NAT share an address.
    :param banner: the 220 greeting; it should not name the software.
    :param login_timeout: seconds a connection may take from connecting to
        logging in; then it is answered 421 and closed.
    :param idle_timeout: seconds a control connection may stay silent.
    :param data_timeout: seconds to wait for a data connection, and for a
        stalled transfer to make progress.
    :param login_failure_delay: seconds before a refused login is answered,
        to slow password guessing; the session's other commands wait too.
    :param backend_threads: threads that run backend calls; sessions whose
        call is not running yet wait in turn.
    """

    def __init__(
        self,
        backend: FtpBackend[IdentityT],
        *,
        host: str,
        port: int,
        passive_ports: range | None = None,
        max_connections: int = 1000,
        max_connections_per_ip: int = 32,
        banner: str = "FTP server ready.",
        login_timeout: float = 30.0,
        idle_timeout: float = 60.0,
        data_timeout: float = 30.0,
        login_failure_delay: float = 2.0,
        backend_threads: int = 4,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"FTP port {port} is not between 0 and 65535")
        if passive_ports is not None and (
            len(passive_ports) == 0 or passive_ports[0] < 1 or passive_ports[-1] > 65535
        ):
            raise ValueError(f"FTP passive ports {passive_ports!r} are not within 1-65535")
        if max_connections < 1 or max_connections_per_ip < 0:
            raise ValueError("FTP connection limits must be positive (per address: 0 = none)")
        if "\r" in banner or "\n" in banner:
            raise ValueError("the FTP banner must be one line")
        if login_timeout <= 0 or min(idle_timeout, data_timeout, login_failure_delay) < 0:
            raise ValueError("FTP timeouts must not be negative, nor the login timeout 0")
        if backend_threads < 1:
            raise ValueError("FTP backend threads must be at least 1")
        self._address = (host, port)
        self._max_connections = max_connections
        self._max_connections_per_ip = max_connections_per_ip
        self._backend_threads = backend_threads
        self._config = SessionConfig(
            # The sessions never look inside identities, so the type is erased here.
            backend=backend,
            authorizer=Authorizer(backend),
            banner=banner,
            passive_ports=passive_ports,
            login_timeout=login_timeout,
            idle_timeout=idle_timeout,
            data_timeout=data_timeout,
            login_failure_delay=login_failure_delay,
        )
        self._stopping = threading.Event()
        self._drain_until = 0.0
        self._thread: threading.Thread | None = None
        self._acceptor: _Acceptor | None = None

    def start(self) -> None:
        """Bind the control socket and start serving in a daemon thread.

        Raises the process's soft open-file limit towards the hard one when
        ``max_connections`` need more descriptors. Raises :class:`OSError`
        when the address cannot be bound, and :class:`RuntimeError` on a
        second call (a server starts once).
        """
        if self._thread is not None:
            raise RuntimeError("an FtpServer can only be started once")
        raise_descriptor_limit(self._max_connections)
        acceptor = _Acceptor(
            self._address,
            self._config,
            self._max_connections,
            self._max_connections_per_ip,
            self._backend_threads,
        )
        host, port = acceptor.socket.getsockname()[:2]
        self._address = (host, port)
        self._acceptor = acceptor
        self._thread = threading.Thread(
            target=self._serve, args=(acceptor,), name=f"ftp-server-{port}", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port) once started; the configured one before."""
        return self._address

    @property
    def connections(self) -> int:
        """Control connections admitted and not closed yet (0 when not serving)."""
        return 0 if self._acceptor is None else len(self._acceptor.sessions)

    def close(self, grace: float = 0.0) -> None:
        """Stop serving, disconnect every session and join the threads.

        New connections are refused at once; transfers in progress (and
        backend calls, an upload's delivery) get up to ``grace`` seconds to
        finish before every session is disconnected. Blocks until done: call
        it from a thread (``asyncio.to_thread``), not the event loop. Backend
        calls in progress are waited for; those not started yet are dropped.
        Safe to call more than once, or before :meth:`start`.
        """
        self._drain_until = time.monotonic() + grace
        self._stopping.set()
        if self._thread is not None and self._acceptor is not None:
            self._acceptor.calls.wake()
            self._thread.join()

    def _drain(self, acceptor: _Acceptor) -> None:
        """Stop listening; run the loop while a session transfers, until the grace ends."""
        acceptor.close()
        ioloop = acceptor.ioloop
        while any(s.transferring for s in acceptor.sessions):
            left = self._drain_until - time.monotonic()
            if left <= 0:
                return
            ioloop.poll(min(left, _DRAIN_POLL))
            ioloop.sched.poll()

    def __enter__(self) -> FtpServer[IdentityT]:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _serve(self, acceptor: _Acceptor) -> None:
        # pyftpdlib's own serve_forever() cannot be stopped from another
        # thread, and its IOLoop.loop() installs a stderr log handler when
        # the application has not configured logging yet; so poll directly.
        # close() wakes the poll through the backend calls' waker.
        ioloop = acceptor.ioloop
        try:
            timeout: float | None = None
            while not self._stopping.is_set():
                ioloop.poll(timeout)
                timeout = ioloop.sched.poll()
            self._drain(acceptor)
        except Exception:
            log.exception("FTP server loop failed; FTP is no longer served")
        finally:
            acceptor.close_all()
            acceptor.calls.close()

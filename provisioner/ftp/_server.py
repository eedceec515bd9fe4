"""The FTP server: pyftpdlib on threads of its own, never on the asyncio loop.

Theory of operation
-------------------
:meth:`FtpServer.start` binds the control socket and starts one daemon
thread that accepts connections (pyftpdlib's IOLoop, polled by our own loop
so it can be stopped). Each accepted connection then runs in a thread of its
own (pyftpdlib's ``ThreadedFTPServer``), because every backend call may
block: the application's backend waits on its asyncio loop from there.
:meth:`FtpServer.close` stops accepting, disconnects every session, and
joins all the threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic

from provisioner.ftp._authorizer import Authorizer
from provisioner.ftp._backend import FtpBackend, IdentityT
from provisioner.ftp._pyftpdlib import IOLoop, ThreadedFTPServer
from provisioner.ftp._session import Session, SessionConfig

__all__ = ["FtpServer"]

log = logging.getLogger("provisioner.ftp")

# How often the threads look for close(): the longest close() waits for a
# thread that is not inside a backend call. The accepting thread is one, so it
# can afford to wake often; there is a session thread per connection.
_ACCEPT_POLL_SECONDS = 0.05
_SESSION_POLL_SECONDS = 0.2


class _Acceptor(ThreadedFTPServer):
    """pyftpdlib's threaded server with per-instance state and daemon threads."""

    poll_timeout = _SESSION_POLL_SECONDS

    def __init__(
        self,
        address: tuple[str, int],
        config: SessionConfig,
        max_connections: int,
        max_connections_per_ip: int,
    ) -> None:
        # pyftpdlib keeps the stop flag and lock on the class, shared by every
        # server in the process: closing one would end another's sessions.
        self._exit = threading.Event()
        self._lock = threading.Lock()
        self.config = config
        self.accepting_thread: threading.Thread | None = None
        self.max_cons = max_connections
        self.max_cons_per_ip = max_connections_per_ip
        super().__init__(address, Session, ioloop=IOLoop())

    def _start_task(
        self, target: Callable[..., object], args: tuple[object, ...], name: str
    ) -> threading.Thread:
        # A session must not keep the process alive after the application
        # stopped without close().
        return threading.Thread(target=target, args=args, name=name, daemon=True)

    def _accept_new_cons(self) -> bool:
        # pyftpdlib asks this when accepting a session (on the accepting
        # thread) and again before each data connection (on the session's
        # thread). Only sessions take a thread, so only they are limited, and
        # the running ones (not counting the one being accepted) must be fewer
        # than the limit: pyftpdlib's "<=" admitted one session too many.
        if threading.current_thread() is not self.accepting_thread:
            return True
        return self._map_len() < self.max_cons

    def handle_error(self) -> None:
        # pyftpdlib closes the listening socket on an unexpected accept error,
        # which would leave FTP down for good; log it and keep listening.
        log.exception("FTP accept failed")


class FtpServer(Generic[IdentityT]):
    """An FTP server whose files and logins all come from ``backend``.

    :param backend: see :class:`~provisioner.ftp.FtpBackend`; called from the
        server's threads.
    :param host: address to listen on: an IPv4 or IPv6 address or a name;
        ``"::"`` accepts IPv4 and IPv6 where the system allows dual-stack
        sockets.
    :param port: control port; 0 picks a free one (see :attr:`address`).
    :param passive_ports: ports for passive data connections, or ``None``
        for any free port. When all are in use PASV/EPSV answer 425.
    :param max_connections: simultaneous control connections; more are
        answered 421 and closed.
    :param max_connections_per_ip: simultaneous control connections from one
        address (0 = no limit); phones behind one NAT share an address.
    :param banner: the 220 greeting; it should not name the software.
    :param idle_timeout: seconds a control connection may stay silent.
    :param data_timeout: seconds to wait for a data connection, and for a
        stalled transfer to make progress.
    :param login_failure_delay: seconds before a refused login is answered,
        to slow password guessing; the session's other work waits too.
    """

    def __init__(
        self,
        backend: FtpBackend[IdentityT],
        *,
        host: str,
        port: int,
        passive_ports: range | None = None,
        max_connections: int = 256,
        max_connections_per_ip: int = 32,
        banner: str = "FTP server ready.",
        idle_timeout: float = 60.0,
        data_timeout: float = 30.0,
        login_failure_delay: float = 2.0,
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
        if min(idle_timeout, data_timeout, login_failure_delay) < 0:
            raise ValueError("FTP timeouts must not be negative")
        self._address = (host, port)
        self._max_connections = max_connections
        self._max_connections_per_ip = max_connections_per_ip
        self._config = SessionConfig(
            # The sessions never look inside identities, so the type is erased here.
            backend=backend,
            authorizer=Authorizer(backend),
            banner=banner,
            passive_ports=passive_ports,
            idle_timeout=idle_timeout,
            data_timeout=data_timeout,
            login_failure_delay=login_failure_delay,
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the control socket and start serving in a daemon thread.

        Raises :class:`OSError` when the address cannot be bound, and
        :class:`RuntimeError` on a second call (a server starts once).
        """
        if self._thread is not None:
            raise RuntimeError("an FtpServer can only be started once")
        acceptor = _Acceptor(
            self._address, self._config, self._max_connections, self._max_connections_per_ip
        )
        host, port = acceptor.socket.getsockname()[:2]
        self._address = (host, port)
        self._thread = threading.Thread(
            target=self._serve, args=(acceptor,), name=f"ftp-server-{port}", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port) once started; the configured one before."""
        return self._address

    def close(self) -> None:
        """Stop serving, disconnect every session and join all threads.

        Blocks until done: call it from a thread (``asyncio.to_thread``), not
        the event loop. A session busy in a backend call is waited for.
        Safe to call more than once, or before :meth:`start`.
        """
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

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
        ioloop = acceptor.ioloop
        acceptor.accepting_thread = threading.current_thread()
        try:
            while not self._stopping.is_set():
                ioloop.poll(_ACCEPT_POLL_SECONDS)
                ioloop.sched.poll()
        except Exception:
            log.exception("FTP server loop failed; FTP is no longer served")
        finally:
            acceptor.close_all()

"""What the FTP front end asks of the rest of the application.

The FTP package knows nothing about phones, tenants or the database. It
calls one object implementing :class:`FtpBackend`, synchronously, from a
few backend threads of its own (never the asyncio loop's thread, and never
the thread that runs the FTP connections), so an implementation must be
thread-safe and may block: the application's implementation bridges into
its asyncio loop with ``asyncio.run_coroutine_threadsafe(...).result(timeout)``.
A call that blocks holds up only its own session and one backend thread,
but :meth:`FtpServer.close` waits for it, so give such waits a timeout.
``on_event`` is the exception: it runs on the connections' thread and must
return at once.

Exceptions raised by a backend method are logged (logger
``provisioner.ftp``) and answered like a refusal: login refused, the
uniform not-found, upload refused. ``on_event`` failures are logged and
ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

__all__ = ["Client", "FtpBackend", "FtpEvent", "IdentityT"]

Client = tuple[str, int]
"""The peer of a control connection: IP address text and port.

IPv4 peers of a dual-stack (``::``) listener are given as plain IPv4
(``192.0.2.7``), never as IPv4-mapped IPv6 (``::ffff:192.0.2.7``), so
address allowlists work the same for both kinds of listener.
"""

IdentityT = TypeVar("IdentityT")
"""Whatever :meth:`FtpBackend.authenticate` returns for a login; opaque here."""


@dataclass(frozen=True, slots=True)
class FtpEvent:
    """One finished FTP request, for logs, metrics and ban counting.

    Never holds a password or file contents. ``user`` and ``path`` are
    client-supplied text: format them with ``%r`` (they may hold control
    characters or anything else a client chose to send).
    """

    client: Client
    user: str  # the login name ("" before USER)
    command: str  # FTP verb: "PASS" for a login attempt, "RETR", "STOR", "DELE", …
    path: str | None  # the argument as sent (truncated to 300 characters); None for logins
    status: int  # the final FTP reply code (226, 550, 552, 530, …)
    transferred: int  # bytes moved over the data connection
    seconds: float = 0.0  # from the transfer's 1xx reply to its final one (0 for other commands)


class FtpBackend(Protocol[IdentityT]):
    """The decisions the FTP front end delegates; every method is synchronous.

    ``path`` is exactly what the client asked for, after stripping one
    leading ``/`` or ``./``. The front end has already refused paths with
    ``..``, ``.`` or empty segments, backslashes, NUL or other control
    characters, and paths over 255 characters, so ``path`` is a non-empty
    relative name made of ``/``-separated segments. It is still untrusted:
    match it against known names, never join it onto a filesystem path.
    """

    def authenticate(self, username: str, password: str, client: Client) -> IdentityT | None:
        """The identity for a login, or ``None`` to refuse it (reply 530).

        Never log or store ``password``. Anonymous logins (``anonymous``,
        ``ftp``) are refused before this is called.
        """
        ...

    def read(self, identity: IdentityT, path: str, client: Client) -> bytes | Path | None:
        """The file's bytes, a file on disk to send, or ``None`` for the uniform not-found (550).

        A :class:`~pathlib.Path` (firmware, device files) is opened read-only
        and sent in pieces; it must name a file the backend chose, never one
        built from ``path``.

        Called for RETR, and for SIZE (whose bytes then serve a RETR of the
        same file that follows it directly, as curl and lftp send).
        """
        ...

    def upload_limit(self, identity: IdentityT, path: str, client: Client) -> int:
        """How many bytes an upload to ``path`` may have; 0 refuses it (reply 550).

        Asked before any data is accepted, so refusing costs no transfer.
        """
        ...

    def write(self, identity: IdentityT, path: str, client: Client, data: bytes) -> bool:
        """Store a complete upload; ``False`` refuses it (reply 550).

        Called once per upload, only after the client closed the data
        connection normally and within :meth:`upload_limit`.
        """
        ...

    def on_event(self, event: FtpEvent) -> None:
        """Record one finished request (see :class:`FtpEvent`); must not block."""
        ...

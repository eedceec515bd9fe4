"""What a session reports: events instead of pyftpdlib's log lines.

pyftpdlib logs every command line, reply and transfer through methods of
its handler. :class:`SessionEvents` overrides all of them: the log lines are
dropped (at DEBUG they hold raw command lines, where a confused client may
have put a password), and one :class:`FtpEvent` per finished request
(logins, and every command that names a path) goes to ``backend.on_event``
instead. No password ever reaches a log line or an event. Unexpected errors
are still logged, with their traceback and no session state.

:class:`~provisioner.ftp._session.Session` builds on it; a transfer's event
waits for its data connection (:meth:`SessionEvents.transfer_done`).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from typing import Any

from provisioner.ftp._backend import Client, FtpBackend, FtpEvent
from provisioner.ftp._pyftpdlib import FTPHandler

__all__ = ["LogFun", "SessionEvents", "discard"]

log = logging.getLogger("provisioner.ftp")

LogFun = Callable[[str], object]

# Client-chosen text in events is cut here, well past any legitimate path.
_EVENT_PATH_MAX = 300


def discard(message: str) -> None:
    """A pyftpdlib ``logfun`` that drops the line (events replace its logging)."""


def _peer_address(ip: str) -> str:
    """``ip`` without the IPv4-mapped IPv6 form a dual-stack socket reports."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return ip


class SessionEvents(FTPHandler):
    """The reporting part of a session's pyftpdlib handler."""

    # Where events go: set by the session before pyftpdlib's __init__ runs.
    _event_sink: FtpBackend[Any]
    # The path command whose transfer the last 1xx reply started, reported
    # when its data connection closes.
    _transfer: tuple[str, str, float] | None = None  # command, path, when it began

    @property
    def client(self) -> Client:
        """The peer of the control connection."""
        return _peer_address(self.remote_ip), int(self.remote_port)

    # --- pyftpdlib's log lines, dropped

    def log(self, msg: str, logfun: LogFun = discard) -> None:
        """Dropped: :class:`FtpEvent` records what matters."""

    def logline(self, msg: str, logfun: LogFun = discard) -> None:
        """Dropped: at DEBUG pyftpdlib logs raw command lines."""

    def log_transfer(
        self,
        cmd: str,
        filename: str,
        receive: bool,
        completed: bool,
        elapsed: float,
        bytes: int,
    ) -> None:
        """Dropped: the data connection reports transfers with their final status."""

    def log_exception(self, instance: object) -> None:
        """Log an unexpected error with its traceback (no session state)."""
        log.exception("unexpected error in FTP session")

    # --- events

    def log_cmd(self, cmd: str, arg: str, respcode: int, respstr: str) -> None:
        """Report a finished path command; a transfer waits for its data connection."""
        # Commands that name a file or directory are those of the session's
        # table (the offered ones) that pyftpdlib checks a permission letter
        # for: each one finished is an event. Never USER/PASS: their
        # argument is not a path, and may be a secret.
        spec = self.proto_cmds.get(cmd)
        if spec is None or not spec["perm"]:
            return
        if respcode < 200:
            self._transfer = (cmd, arg, time.monotonic())
        else:
            self._emit(cmd, arg, respcode)

    def on_login(self, username: str) -> None:
        """Report a successful login."""
        self._emit("PASS", None, 230)

    def on_login_failed(self, username: str, password: str) -> None:
        """Report a refused login (the password is not used)."""
        self._emit("PASS", None, 530, user=username)

    def transfer_done(self, status: int, transferred: int) -> None:
        """Report the transfer started by the last 1xx reply."""
        if self._transfer is not None:
            cmd, arg, began = self._transfer
            self._transfer = None
            self._emit(cmd, arg, status, transferred, seconds=time.monotonic() - began)

    def _emit(
        self,
        command: str,
        path: str | None,
        status: int,
        transferred: int = 0,
        *,
        user: str | None = None,
        seconds: float = 0.0,
    ) -> None:
        event = FtpEvent(
            client=self.client,
            user=self.username if user is None else user,
            command=command,
            path=None if path is None else path[:_EVENT_PATH_MAX],
            status=status,
            transferred=transferred,
            seconds=seconds,
        )
        try:
            self._event_sink.on_event(event)
        except Exception:
            log.exception("FTP backend on_event failed")

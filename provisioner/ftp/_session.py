"""One FTP control connection, its data connections, and what it reports.

pyftpdlib's :class:`FTPHandler` runs the protocol; this subclass changes
only what the provisioning server needs:

* configuration comes from the server instance (:class:`SessionConfig`),
  not from class attributes shared by every server in the process;
* every 550 reply carries the same text (:data:`UNAVAILABLE`), whatever
  pyftpdlib would have said, so refused, malformed and missing paths look
  alike;
* pyftpdlib's per-command log lines are replaced by one
  :class:`FtpEvent` per finished request (logins, and every command that
  names a path), given to ``backend.on_event``; no password ever reaches
  a log line or an event;
* SIZE costs one backend read; resuming (REST), unique names (STOU) and
  timestamps (MDTM, MFMT) are not offered at all, so FEAT does not list them;
* uploads are delivered to the backend only after a complete transfer
  within the size limit (:class:`Transfer`);
* passive data connections use only the configured port range: when it is
  exhausted the reply is 425, where pyftpdlib would silently fall back to a
  port a firewall will not pass (:class:`PassiveListener`).

In FTP stream mode the end of an upload *is* the client closing the data
connection (RFC 959 §3.4.1), so an upload cut short by a client that closes
cleanly cannot be told from a complete one; a reset connection cannot either,
as pyftpdlib treats it as end of file. Backends should validate what they
store.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from provisioner.ftp._account import Account
from provisioner.ftp._authorizer import Authorizer
from provisioner.ftp._backend import Client, FtpBackend, FtpEvent
from provisioner.ftp._files import Upload, UploadTooLarge
from provisioner.ftp._filesystem import VirtualFS
from provisioner.ftp._pyftpdlib import (
    PROTO_CMDS,
    ActiveDTP,
    DTPHandler,
    FilesystemError,
    FTPHandler,
    IOLoop,
    PassiveDTP,
)
from provisioner.ftp._replies import NO_PASSIVE_PORT, TOO_LARGE, UNAVAILABLE

__all__ = ["Session", "SessionConfig"]

log = logging.getLogger("provisioner.ftp")

LogFun = Callable[[str], object]

_NOT_OFFERED = frozenset({"REST", "STOU", "MDTM", "MFMT"})
_COMMANDS = {name: spec for name, spec in PROTO_CMDS.items() if name not in _NOT_OFFERED}
# Commands that name a file or directory (pyftpdlib checks a permission
# letter for exactly these): each one finished is an event.
_PATH_COMMANDS = frozenset(name for name, spec in _COMMANDS.items() if spec["perm"])
# Client-chosen text in events is cut here, well past any legitimate path.
_EVENT_PATH_MAX = 300
# A transfer closed without a reply of its own (client gone, ABOR) is reported as aborted.
_ABORTED = 426


def _discard(message: str) -> None:
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


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What every session of one server shares."""

    backend: FtpBackend[Any]
    authorizer: Authorizer
    banner: str
    passive_ports: range | None
    idle_timeout: float
    data_timeout: float
    login_failure_delay: float


class _Server(Protocol):
    config: SessionConfig


class NoPassivePort(Exception):
    """Every port of the configured passive range is in use."""


class Transfer(DTPHandler):
    """One data connection: delivers uploads, enforces their limit, reports."""

    def __init__(self, sock: socket.socket, cmd_channel: Session) -> None:
        self.timeout = cmd_channel.data_timeout
        self._session = cmd_channel
        super().__init__(sock, cmd_channel)

    def handle_read(self) -> None:
        """Receive upload data; past the limit, abort with 552 and keep nothing."""
        try:
            super().handle_read()
        except UploadTooLarge:
            self.transfer_finished = False
            self._resp = (TOO_LARGE, _discard)
            self.close()

    # pyftpdlib aliases this to its own handle_read, bypassing the override.
    handle_read_event = handle_read

    def close(self) -> None:
        """Deliver a complete upload, then reply and report as pyftpdlib would."""
        if self._closed:
            return
        upload = self.file_obj
        if (
            self.receive
            and self.transfer_finished
            and isinstance(upload, Upload)
            and not self._session.account.write(upload.name, upload.getvalue())
        ):
            self._resp = (UNAVAILABLE, _discard)
        super().close()
        status = int(self._resp[0][:3]) if self._resp else _ABORTED
        self._session.transfer_done(status, self.get_transmitted_bytes())


class PassiveListener(PassiveDTP):
    """PASV/EPSV listener confined to the configured port range."""

    def __init__(self, cmd_channel: Session, extmode: bool = False) -> None:
        self.timeout = cmd_channel.data_timeout
        self._ranged = cmd_channel.passive_ports is not None
        self._tried_range = False
        super().__init__(cmd_channel, extmode)

    def bind(self, addr: tuple[str, int]) -> None:
        """Bind, but never to a kernel-chosen port once the range was tried.

        pyftpdlib binds port 0 twice: first to learn the address family on
        an IPv6 listener (harmless, that socket is closed), and again as its
        fallback when every port of the range is taken, which is refused.
        """
        if addr[1]:
            self._tried_range = True
        elif self._ranged and self._tried_range:
            self.close()
            raise NoPassivePort
        super().bind(addr)


class ActiveConnector(ActiveDTP):
    """PORT/EPRT connection to the client, with the configured timeout."""

    def __init__(self, ip: str, port: int, cmd_channel: Session) -> None:
        self.timeout = cmd_channel.data_timeout
        super().__init__(ip, port, cmd_channel)


class Session(FTPHandler):
    """The pyftpdlib handler for one control connection."""

    abstracted_fs = VirtualFS
    dtp_handler = Transfer
    passive_dtp = PassiveListener
    active_dtp = ActiveConnector
    proto_cmds = _COMMANDS
    use_sendfile = False  # downloads are in memory; there is no file descriptor
    fs: VirtualFS | None

    def __init__(self, conn: socket.socket, server: _Server, ioloop: IOLoop | None = None) -> None:
        config = server.config
        self._config = config
        self._account: Account[Any] | None = None
        self._transfer: tuple[str, str] | None = None
        self.data_timeout = config.data_timeout
        # pyftpdlib reads these as attributes of the handler.
        self.authorizer = config.authorizer
        self.banner = config.banner
        self.passive_ports = config.passive_ports
        self.timeout = config.idle_timeout
        self.auth_failed_timeout = config.login_failure_delay
        super().__init__(conn, server, ioloop)

    # --- identity

    @property
    def client(self) -> Client:
        """The peer of the control connection."""
        return _peer_address(self.remote_ip), int(self.remote_port)

    @property
    def account(self) -> Account[Any]:
        """The backend access granted at login."""
        if self._account is None:
            raise RuntimeError("FTP session is not logged in")
        return self._account

    def logged_in(self, account: Account[Any]) -> None:
        """Called by the authorizer when the backend accepted a login."""
        self._account = account

    # --- replies

    def respond(self, resp: str, logfun: LogFun = _discard) -> None:
        """Send a reply; every 550 is the one uniform text."""
        if resp.startswith("550"):
            resp = UNAVAILABLE
        super().respond(resp, logfun)

    def ftp_SIZE(self, path: str) -> None:
        """SIZE from one backend read, in binary mode only.

        pyftpdlib would first ask ``isfile`` (a second read). In ASCII mode
        the size would not match what RETR sends, so it is refused, as
        pyftpdlib does.
        """
        # pyftpdlib runs SIZE only after login, so fs is set; the check is for the type checker.
        if self._current_type == "a" or self.fs is None:
            self.respond(UNAVAILABLE)
            return
        try:
            size = self.fs.getsize(path)
        except FilesystemError:
            self.respond(UNAVAILABLE)
        else:
            self.respond(f"213 {size}")

    def _on_dtp_close(self) -> None:
        # When the client vanishes mid-transfer, the data connection's final
        # reply fails to send and closes this control connection first;
        # pyftpdlib would then re-arm the idle timer on the closed session,
        # keeping its thread (and a connection slot) until the timer fires.
        if self._closed:
            self.data_channel = None
            return
        super()._on_dtp_close()

    def _make_epasv(self, extmode: bool = False) -> None:
        try:
            super()._make_epasv(extmode)
        except NoPassivePort:
            self.respond(NO_PASSIVE_PORT)

    # --- events instead of pyftpdlib's log lines

    def log(self, msg: str, logfun: LogFun = _discard) -> None:
        """Dropped: :class:`FtpEvent` records what matters."""

    def logline(self, msg: str, logfun: LogFun = _discard) -> None:
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
        """Dropped: :class:`Transfer` reports transfers with their final status."""

    def log_exception(self, instance: object) -> None:
        """Log an unexpected error with its traceback (no session state)."""
        log.exception("unexpected error in FTP session")

    def log_cmd(self, cmd: str, arg: str, respcode: int, respstr: str) -> None:
        """Report a finished path command; a transfer waits for its data connection."""
        if cmd not in _PATH_COMMANDS:
            return  # never USER/PASS: their argument is not a path, and may be a secret
        if respcode < 200:
            self._transfer = (cmd, arg)
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
            cmd, arg = self._transfer
            self._transfer = None
            self._emit(cmd, arg, status, transferred)

    def _emit(
        self,
        command: str,
        path: str | None,
        status: int,
        transferred: int = 0,
        *,
        user: str | None = None,
    ) -> None:
        event = FtpEvent(
            client=self.client,
            user=self.username if user is None else user,
            command=command,
            path=None if path is None else path[:_EVENT_PATH_MAX],
            status=status,
            transferred=transferred,
        )
        try:
            self._config.backend.on_event(event)
        except Exception:
            log.exception("FTP backend on_event failed")

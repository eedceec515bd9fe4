"""One FTP control connection.

pyftpdlib's :class:`FTPHandler` runs the protocol; this subclass changes
only what the provisioning server needs:

* configuration comes from the server instance (:class:`SessionConfig`),
  not from class attributes shared by every server in the process;
* every 550 reply carries the same text (:data:`UNAVAILABLE`), whatever
  pyftpdlib would have said, so refused, malformed and missing paths look
  alike;
* the backend is never called on the loop thread every session shares: a
  command that needs it (PASS, RETR, SIZE, STOR, and an upload's delivery)
  asks on a backend thread and is run again, or answered, when the answer
  is back; until then the session is *busy* and the commands that follow
  wait in order (:meth:`Session.found_terminator`);
* a connection must log in within ``login_timeout`` seconds of connecting
  (not of its last command), so idle or chatty connections that never log
  in cannot hold their slots;
* SIZE costs one backend read; resuming (REST), unique names (STOU) and
  timestamps (MDTM, MFMT) are not offered at all, so FEAT does not list them;
* uploads are delivered to the backend only after a complete transfer
  within the size limit (:meth:`Session.deliver`, called by the data
  connection);
* when the passive port range is exhausted the reply is 425.

What it reports (events instead of pyftpdlib's log lines, no password
ever in either) is :class:`~provisioner.ftp._events.SessionEvents`', which
it builds on; its data connections, and the passive port range, are in
:mod:`provisioner.ftp._data`.

In FTP stream mode the end of an upload *is* the client closing the data
connection (RFC 959 §3.4.1), so an upload cut short by a client that closes
cleanly cannot be told from a complete one; a reset connection cannot either,
as pyftpdlib treats it as end of file. Backends should validate what they
store.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from provisioner.ftp._account import Account
from provisioner.ftp._authorizer import Authorizer
from provisioner.ftp._backend import FtpBackend
from provisioner.ftp._calls import BackendCalls
from provisioner.ftp._data import ActiveConnector, NoPassivePort, PassiveListener, Transfer
from provisioner.ftp._events import LogFun, SessionEvents, discard
from provisioner.ftp._filesystem import VirtualFS
from provisioner.ftp._pyftpdlib import PROTO_CMDS, FilesystemError, IOLoop
from provisioner.ftp._replies import (
    LOGIN_REFUSED,
    LOGIN_TIMED_OUT,
    NO_PASSIVE_PORT,
    TOO_MANY_COMMANDS,
    UNAVAILABLE,
)

if TYPE_CHECKING:
    from provisioner.ftp._pyftpdlib import CallLater

__all__ = ["Session", "SessionConfig"]

_NOT_OFFERED = frozenset({"REST", "STOU", "MDTM", "MFMT"})
_COMMANDS = {name: spec for name, spec in PROTO_CMDS.items() if name not in _NOT_OFFERED}
# Command bytes a busy session keeps for later. Clients send a command or a
# short pipeline (lftp: TYPE, SIZE, EPSV, RETR) and wait; more than this
# while the session waits on the backend is a flood, and ends the session.
_HELD_MAX_BYTES = 4096

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What every session of one server shares."""

    backend: FtpBackend[Any]
    authorizer: Authorizer
    banner: str
    passive_ports: range | None
    login_timeout: float
    idle_timeout: float
    data_timeout: float
    login_failure_delay: float


class _Server(Protocol):
    config: SessionConfig
    calls: BackendCalls
    sessions: dict[Session, None]

    def admit(self, session: Session) -> bool: ...


class Session(SessionEvents):
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
        self._event_sink = config.backend
        self._server = server
        self._account: Account[Any] | None = None
        # Calls to the backend (or a refused login's delay) not finished yet:
        # command lines that arrive meanwhile are held, in order, and run
        # afterwards. A command's call and an upload's delivery may overlap.
        self._busy = 0
        self._held: deque[bytes] = deque()
        self._held_bytes = 0
        self._delivering = False  # an upload's delivery holds back its reply
        self._login_deadline: CallLater | None = None
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
    def account(self) -> Account[Any]:
        """The backend access granted at login."""
        if self._account is None:
            raise RuntimeError("FTP session is not logged in")
        return self._account

    @property
    def transferring(self) -> bool:
        """Whether a transfer, an upload's delivery or a backend call is under way."""
        return self._transfer is not None or self._busy > 0 or self._delivering

    @property
    def evictable(self) -> bool:
        """Whether the server may close this session to admit another: not logged in."""
        return not self.authenticated and not self._closed

    # --- admission and the login deadline

    def handle(self) -> None:
        """Greet a connection the server admits; answer 421 and close otherwise."""
        if not self._server.admit(self):
            self.handle_max_cons()
            return
        self._start_login_deadline()
        super().handle()

    def close(self) -> None:
        """Close the connection and give its slot back."""
        self._server.sessions.pop(self, None)
        super().close()

    def flush_account(self) -> None:
        """Log out (REIN, or USER after a login): the login deadline starts again."""
        super().flush_account()
        self._start_login_deadline()

    def _start_login_deadline(self) -> None:
        # Measured from connecting (or logging out), not reset by commands as
        # the idle timer is: a NOOP now and then must not keep a connection
        # that never logs in.
        if self._login_deadline is not None:
            self._login_deadline.cancel()
        self._login_deadline = self.call_later(self._config.login_timeout, self._login_expired)

    def _login_expired(self) -> None:
        if not self.authenticated:
            self.respond(LOGIN_TIMED_OUT)
            self.close_when_done()

    # --- backend calls, off the loop

    def found_terminator(self) -> None:
        """Run a complete command line, or hold it while the session is busy.

        Lines that arrive once the session is closing (after QUIT, a 421 or
        the last refused login) are dropped, so a client that keeps sending
        cannot pile up replies that will never be read.
        """
        if not self._busy and not self._held and not self._ending:
            super().found_terminator()
            return
        line = b"".join(self._in_buffer)
        self._in_buffer = []
        self._in_buffer_len = 0
        if self._ending:
            return
        self._held_bytes += len(line) + 2
        if self._held_bytes > _HELD_MAX_BYTES:
            self.respond(TOO_MANY_COMMANDS)
            self.close_when_done()
            return
        self._held.append(line)

    def _ask(self, call: Callable[[], _T], then: Callable[[_T], object]) -> None:
        """Run ``call`` on a backend thread and ``then(result)`` back here; busy meanwhile."""
        self._busy += 1
        self._server.calls.run(call, lambda result: self._answered(then, result))

    @property
    def _ending(self) -> bool:
        """Closed, or closing once its last replies are sent: nothing more to run."""
        return self._closed or self._closing

    def _answered(self, then: Callable[[_T], object], result: _T) -> None:
        self._busy -= 1
        try:
            then(result)
        except Exception:
            self.handle_error()  # logged, and the session closed, as pyftpdlib does
            return
        self._resume()

    def _resume(self) -> None:
        """Run the held lines, until one makes the session busy again."""
        while self._held and not self._busy and not self._ending:
            line = self._held.popleft()
            self._held_bytes -= len(line) + 2
            self._in_buffer = [line]
            self._in_buffer_len = len(line)
            super().found_terminator()

    def _ask_then_run(
        self, command: str, arg: str, call: Callable[[], _T], keep: Callable[[VirtualFS, _T], None]
    ) -> None:
        """Get the backend's answer for ``command`` first, then run the command with it."""

        def run(answer: _T) -> None:
            if self.fs is not None and not self._ending:
                keep(self.fs, answer)
                self.process_command(command, arg)

        self._ask(call, run)

    def _read_first(self, command: str, raw: str) -> bool:
        """Ask for the file ``command`` needs unless it is at hand; True when asked."""
        path = self.fs.wants_read(raw) if self.fs is not None else None
        if path is None:
            return False
        account = self.account
        self._ask_then_run(
            command, raw, lambda: account.read(path), lambda fs, data: fs.give_read(path, data)
        )
        return True

    # --- commands that need the backend

    def ftp_PASS(self, line: str) -> None:
        """Check the login on a backend thread; the session waits for the answer."""
        if self.authenticated or not self.username:
            super().ftp_PASS(line)  # the 503 replies: nothing to check
            return
        username, client, authorizer = self.username, self.client, self._config.authorizer
        self._ask(
            lambda: authorizer.login(username, line, client),
            lambda account: self._login_checked(username, account),
        )

    def _login_checked(self, username: str, account: Account[Any] | None) -> None:
        if self._ending:
            return
        if account is None:
            # pyftpdlib would take the socket out of the loop for the delay;
            # the session stays busy instead, so what follows waits in order.
            self.username = ""
            self._busy += 1
            self.call_later(self._config.login_failure_delay, self._login_refused, username)
            return
        self._account = account
        if self._login_deadline is not None:
            self._login_deadline.cancel()
        authorizer = self._config.authorizer
        # No password kept: no operating-system user is impersonated.
        self.handle_auth_success(
            authorizer.get_home_dir(username), "", authorizer.get_msg_login(username)
        )

    def _login_refused(self, username: str) -> None:
        self.attempted_logins += 1
        if self.attempted_logins >= self.max_login_attempts:
            self.respond(f"530 {LOGIN_REFUSED} Disconnecting.")
            self.close_when_done()
        else:
            self.respond(f"530 {LOGIN_REFUSED}")
        self.on_login_failed(username, "")
        self._busy -= 1
        self._resume()

    def ftp_RETR(self, file: str) -> None:
        """RETR, once the backend's answer for the file is at hand."""
        if not self._read_first("RETR", file):
            super().ftp_RETR(file)

    def ftp_STOR(self, file: str, mode: str = "w") -> None:
        """STOR, once the backend's upload limit for the file is at hand.

        pyftpdlib also runs APPE (mode ``a``) through here; the permissions
        refuse it before, and the filesystem would.
        """
        path = self.fs.wants_limit(file) if self.fs is not None and mode == "w" else None
        if path is None:
            super().ftp_STOR(file, mode)
            return
        account = self.account
        self._ask_then_run(
            "STOR",
            file,
            lambda: account.upload_limit(path),
            lambda fs, limit: fs.give_limit(path, limit),
        )

    def deliver(self, name: str, data: bytes, reply: str, transferred: int) -> None:
        """Hand a complete upload to the backend, then send ``reply`` (or 550 if refused).

        Called by the upload's data connection as it closes. The idle timer,
        and a QUIT sent during the transfer, wait for the reply. The upload
        is delivered even if the client leaves meanwhile.
        """
        self._delivering = True
        account = self.account
        self._ask(
            lambda: account.write(name, data),
            lambda stored: self._delivered(reply if stored else UNAVAILABLE, transferred),
        )

    def _delivered(self, reply: str, transferred: int) -> None:
        self._delivering = False
        if not self._ending:
            self.respond(reply)
            super()._on_dtp_close()
        self.transfer_done(int(reply[:3]), transferred)

    # --- replies

    def respond(self, resp: str, logfun: LogFun = discard) -> None:
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
        if self._read_first("SIZE", path):
            return
        try:
            size = self.fs.getsize(path)
        except FilesystemError:
            self.respond(UNAVAILABLE)
        else:
            self.respond(f"213 {size}")

    def _on_dtp_close(self) -> None:
        # When the client vanished mid-transfer, the data connection's final
        # reply failed to send and closed this control connection first;
        # pyftpdlib would then re-arm the idle timer on the closed session,
        # keeping a connection slot until the timer fires. During an upload's
        # delivery, the reply and the timer wait for the backend (deliver()).
        if self._closed or self._delivering:
            self.data_channel = None
            return
        super()._on_dtp_close()

    def _make_epasv(self, extmode: bool = False) -> None:
        try:
            super()._make_epasv(extmode)
        except NoPassivePort:
            self.respond(NO_PASSIVE_PORT)

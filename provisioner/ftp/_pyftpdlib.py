"""The one place pyftpdlib is imported: typed views of the parts we use.

pyftpdlib ships no type information. Rather than a mypy override, this module
imports it once (the single ``type: ignore`` below) and, for the type checker
only, declares the attributes and methods the FTP package touches, so every
other module stays ``mypy --strict`` clean. At run time the names are the
real pyftpdlib classes. The declarations describe pyftpdlib 2.x; the tests
exercise every one of them against the installed release.

Importing this module also quiets pyftpdlib's own logging (see
:func:`_warnings_only`).
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

with warnings.catch_warnings():
    # pyftpdlib 2.x is built on asyncore/asynchat, which warn on import under
    # Python 3.11 (they are gone in 3.12, where pyftpdlib uses backports).
    # The project turns warnings into errors, so silence exactly these two.
    warnings.filterwarnings(
        "ignore",
        message="The (asyncore|asynchat) module is deprecated",
        category=DeprecationWarning,
    )
    from pyftpdlib import exceptions, filesystems, handlers, ioloop, servers  # type: ignore[import-untyped]

__all__ = [
    "PROTO_CMDS",
    "AbstractedFS",
    "ActiveDTP",
    "DTPHandler",
    "FTPHandler",
    "FTPServer",
    "FilesystemError",
    "IOLoop",
    "PassiveDTP",
]


def _warnings_only(record: logging.LogRecord) -> bool:
    """Keep pyftpdlib's warnings and errors, drop its INFO/DEBUG chatter.

    Those records (session opened, ``<- USER x``, transfers, debug dumps of
    handler state) duplicate what :class:`provisioner.ftp.FtpEvent` reports,
    and at DEBUG they include raw command lines a confused client may have
    put a password into. The session overrides the handler's logging methods
    as well (:mod:`provisioner.ftp._events`); this filter catches the
    module-level calls.
    """
    return record.levelno >= logging.WARNING


_pyftpdlib_log = logging.getLogger("pyftpdlib")
if _warnings_only not in _pyftpdlib_log.filters:
    _pyftpdlib_log.addFilter(_warnings_only)


if TYPE_CHECKING:
    import socket
    from collections.abc import Callable, Sequence
    from typing import Any

    LogFun = Callable[[str], object]

    PROTO_CMDS: dict[str, dict[str, Any]]

    class FilesystemError(Exception): ...

    class CallLater:
        cancelled: bool

        def cancel(self) -> None: ...

    class _Scheduler:
        def poll(self) -> float | None: ...

    class IOLoop:
        READ: int
        sched: _Scheduler

        def register(self, fd: int, instance: object, events: int) -> None: ...
        def unregister(self, fd: int) -> None: ...
        def poll(self, timeout: float | None) -> None: ...
        def close(self) -> None: ...

    class _Dispatcher:
        timeout: float
        ioloop: IOLoop
        _closed: bool
        _closing: bool

        def call_later(
            self, seconds: float, target: Callable[..., object], *args: object
        ) -> CallLater: ...
        def close(self) -> None: ...
        def close_when_done(self) -> None: ...

    class PassiveDTP(_Dispatcher):
        def __init__(self, cmd_channel: FTPHandler, extmode: bool = False) -> None: ...
        def bind(self, addr: tuple[str, int]) -> None: ...

    class ActiveDTP(_Dispatcher):
        def __init__(self, ip: str, port: int, cmd_channel: FTPHandler) -> None: ...

    class DTPHandler(_Dispatcher):
        file_obj: object | None
        receive: bool
        transfer_finished: bool
        _resp: tuple[str, LogFun] | tuple[()]

        def __init__(self, sock: socket.socket, cmd_channel: FTPHandler) -> None: ...
        def handle_read(self) -> None: ...
        def get_transmitted_bytes(self) -> int: ...

    class FTPHandler(_Dispatcher):
        authorizer: object
        abstracted_fs: type[object]
        active_dtp: type[ActiveDTP]
        passive_dtp: type[PassiveDTP]
        dtp_handler: type[DTPHandler]
        proto_cmds: dict[str, dict[str, Any]]
        banner: str
        passive_ports: Sequence[int] | None
        use_sendfile: bool
        auth_failed_timeout: float
        max_login_attempts: int
        attempted_logins: int
        authenticated: bool
        remote_ip: str
        remote_port: int
        username: str
        data_channel: DTPHandler | None
        _current_type: str
        _in_buffer: list[bytes]
        _in_buffer_len: int

        def __init__(
            self, conn: socket.socket, server: object, ioloop: IOLoop | None = None
        ) -> None: ...
        def handle(self) -> None: ...
        def handle_max_cons(self) -> None: ...
        def handle_error(self) -> None: ...
        def handle_auth_success(self, home: str, password: str, msg_login: str) -> None: ...
        def flush_account(self) -> None: ...
        def found_terminator(self) -> None: ...
        def process_command(self, cmd: str, *args: str) -> None: ...
        def respond(self, resp: str, logfun: LogFun = ...) -> None: ...
        def ftp_PASS(self, line: str) -> None: ...
        def ftp_RETR(self, file: str) -> None: ...
        def ftp_STOR(self, file: str, mode: str = "w") -> None: ...
        def _make_epasv(self, extmode: bool = False) -> None: ...
        def _on_dtp_close(self) -> None: ...

    class AbstractedFS:
        def __init__(self, root: str, cmd_channel: Any) -> None: ...

    class FTPServer:
        ioloop: IOLoop
        socket: socket.socket
        max_cons: int
        max_cons_per_ip: int

        def __init__(
            self,
            address_or_socket: tuple[str, int],
            handler: type[FTPHandler],
            ioloop: IOLoop | None = None,
            backlog: int = 100,
        ) -> None: ...
        def close(self) -> None: ...  # stops listening; sessions stay
        def close_all(self) -> None: ...

else:
    PROTO_CMDS = handlers.FTPHandler.proto_cmds
    FilesystemError = exceptions.FilesystemError
    IOLoop = ioloop.IOLoop
    AbstractedFS = filesystems.AbstractedFS
    FTPHandler = handlers.FTPHandler
    DTPHandler = handlers.DTPHandler
    PassiveDTP = handlers.FTPHandler.passive_dtp
    ActiveDTP = handlers.FTPHandler.active_dtp
    FTPServer = servers.FTPServer

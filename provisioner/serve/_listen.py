"""Opening a listener, and saying in one line why one could not be opened.

``serve`` binds HTTP, HTTPS, TFTP, FTP and the SIP notifier's socket after
rendering; a port another program holds, a privileged port without the
capability, or an address this host does not have would otherwise end in a
traceback. :func:`listening` turns the operating system's refusal into a
:class:`~provisioner.errors.ProvisionerError` naming the listener, what is
wrong and which option changes it.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

from provisioner.errors import ProvisionerError

__all__ = ["ListenError", "listening"]

_T = TypeVar("_T")


class ListenError(ProvisionerError):
    """A listener could not be opened (a runtime error: exit status 1)."""


_OPTION = {
    "http": "--http-port",
    "https": "--https-port",
    "tftp": "--tftp-port",
    "ftp": "--ftp-port",
    "sip": "--sip-port",
    "api": "--api-port",
}


def refusal(protocol: str, host: str, port: int, exc: OSError) -> str:
    """What is wrong and what to do, for the refusal ``exc`` of ``protocol`` on ``host:port``."""
    where = f"cannot listen for {protocol.upper()} on {host} port {port}"
    option = _OPTION[protocol]
    if isinstance(exc, socket.gaierror):
        return (
            f"{where}: {host} is not an address of this host ({exc.strerror}); "
            "give --bind one of its addresses, or 0.0.0.0 or :: for all"
        )
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: another program uses that port; stop it or choose another {option}"
    if exc.errno == errno.EACCES:
        return (
            f"{where}: permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE "
            f"(contrib/systemd/provisioner.service grants it), or choose {option} above 1023"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"{where}: no interface of this host has that address; "
            "give --bind one of its addresses, or 0.0.0.0 or :: for all"
        )
    return f"{where}: {exc.strerror or exc}"


async def listening(protocol: str, host: str, port: int, start: Callable[[], Awaitable[_T]]) -> _T:
    """Await ``start()`` (which binds ``host:port``); a refusal becomes a :class:`ListenError`."""
    try:
        return await start()
    except OSError as exc:
        raise ListenError(refusal(protocol, host, port, exc)) from None

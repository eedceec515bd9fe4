"""A session's data connections: transfers, and how they are opened.

pyftpdlib opens one data connection per transfer or listing; these
subclasses change only what the provisioning server needs:

* every data connection (:class:`Transfer`) uses the session's
  ``data_timeout``; an upload past its size limit is aborted with 552 and
  nothing kept, a complete one is handed to the session for delivery
  (:meth:`Session.deliver`), and every transfer is reported to the session
  with its final status (:meth:`Session.transfer_done`);
* passive data connections use only the configured port range: when it is
  exhausted the listener raises :class:`NoPassivePort` (the session answers
  425), where pyftpdlib would silently fall back to a port a firewall will
  not pass (:class:`PassiveListener`);
* active connections (:class:`ActiveConnector`) use the data timeout too.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from provisioner.ftp._events import discard
from provisioner.ftp._files import Upload, UploadTooLarge
from provisioner.ftp._pyftpdlib import ActiveDTP, DTPHandler, PassiveDTP
from provisioner.ftp._replies import TOO_LARGE

if TYPE_CHECKING:
    from provisioner.ftp._session import Session

__all__ = ["ActiveConnector", "NoPassivePort", "PassiveListener", "Transfer"]

# A transfer closed without a reply of its own (client gone, ABOR) is reported as aborted.
_ABORTED = 426


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
            self._resp = (TOO_LARGE, discard)
            self.close()

    # pyftpdlib aliases this to its own handle_read, bypassing the override.
    handle_read_event = handle_read

    def close(self) -> None:
        """Close, reply and report as pyftpdlib would; a complete upload is delivered first.

        The delivery is a backend call, so the session makes it and sends
        the reply this connection would have sent (:meth:`Session.deliver`).
        """
        if self._closed:
            return
        upload = self.file_obj
        if self.receive and self.transfer_finished and isinstance(upload, Upload) and self._resp:
            reply, self._resp = self._resp[0], ()
            # Before super().close(), which closes the upload and drops its bytes.
            transferred = self.get_transmitted_bytes()
            self._session.deliver(upload.name, upload.getvalue(), reply, transferred)
            super().close()
            return
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

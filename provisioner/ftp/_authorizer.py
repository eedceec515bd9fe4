"""Logins checked by the backend; sessions may only read and upload.

The session asks :meth:`Authorizer.login` on a backend thread; pyftpdlib
would call ``validate_authentication`` on its loop, where no backend call may
run, so that method is not offered. Before every filesystem command
pyftpdlib asks whether the user holds that command's permission letter.
This authorizer grants exactly ``e`` (CWD), ``l`` (listings, SIZE), ``r``
(RETR) and ``w`` (STOR), so pyftpdlib itself refuses DELE, RMD, MKD, RNFR,
RNTO, APPE, SITE CHMOD and MFMT before any of them reaches the filesystem
(which would refuse them too).
"""

from __future__ import annotations

import logging
from typing import Any

from provisioner.ftp._account import Account
from provisioner.ftp._backend import Client, FtpBackend

__all__ = ["PERMISSIONS", "Authorizer"]

log = logging.getLogger("provisioner.ftp")

PERMISSIONS = "elrw"
# RFC 1635 anonymous FTP; never offered, whatever the backend would say.
_ANONYMOUS = frozenset({"anonymous", "ftp"})


class Authorizer:
    """The pyftpdlib authorizer interface, backed by :meth:`FtpBackend.authenticate`."""

    def __init__(self, backend: FtpBackend[Any]) -> None:
        self._backend = backend

    def login(self, username: str, password: str, client: Client) -> Account[Any] | None:
        """The session's backend access, or ``None`` when the login is refused (reply 530).

        Anonymous names are refused without asking. A backend exception is a
        refusal; only its type is logged, since its message could echo the
        credentials. Runs on a backend thread.
        """
        if username.lower() in _ANONYMOUS:
            return None
        try:
            identity = self._backend.authenticate(username, password, client)
        except Exception as exc:
            log.error("FTP backend authenticate failed: %s", type(exc).__name__)
            return None
        if identity is None:
            return None
        return Account(self._backend, identity, client)

    def get_home_dir(self, username: str) -> str:
        """Every session sees the same virtual root."""
        return "/"

    def get_msg_login(self, username: str) -> str:
        """The 230 reply text."""
        return "Login successful."

    def get_msg_quit(self, username: str) -> str:
        """The 221 reply text."""
        return "Goodbye."

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        """Whether ``perm`` is one of :data:`PERMISSIONS` (whatever the path)."""
        return perm in PERMISSIONS

    def get_perms(self, username: str) -> str:
        """The permission letters every session holds."""
        return PERMISSIONS

    def impersonate_user(self, username: str, password: str) -> None:
        """Nothing to do: no operating-system user is involved."""

    def terminate_impersonation(self, username: str) -> None:
        """Nothing to do: no operating-system user is involved."""

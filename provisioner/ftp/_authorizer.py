"""Logins checked by the backend; sessions may only read and upload.

pyftpdlib asks its authorizer to validate a login and, before every
filesystem command, whether the user holds that command's permission letter.
This authorizer grants exactly ``e`` (CWD), ``l`` (listings, SIZE), ``r``
(RETR) and ``w`` (STOR), so pyftpdlib itself refuses DELE, RMD, MKD, RNFR,
RNTO, APPE, SITE CHMOD and MFMT before any of them reaches the filesystem
(which would refuse them too).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from provisioner.ftp._account import Account
from provisioner.ftp._backend import Client, FtpBackend
from provisioner.ftp._pyftpdlib import AuthenticationFailed
from provisioner.ftp._replies import LOGIN_REFUSED

__all__ = ["PERMISSIONS", "Authorizer"]

log = logging.getLogger("provisioner.ftp")

PERMISSIONS = "elrw"
# RFC 1635 anonymous FTP; never offered, whatever the backend would say.
_ANONYMOUS = frozenset({"anonymous", "ftp"})


class _Session(Protocol):
    @property
    def client(self) -> Client: ...

    def logged_in(self, account: Account[Any]) -> None: ...


class Authorizer:
    """The pyftpdlib authorizer interface, backed by :meth:`FtpBackend.authenticate`."""

    def __init__(self, backend: FtpBackend[Any]) -> None:
        self._backend = backend

    def validate_authentication(self, username: str, password: str, handler: _Session) -> None:
        """Ask the backend; raise :class:`AuthenticationFailed` (reply 530) when it refuses.

        Anonymous names are refused without asking. A backend exception is a
        refusal; only its type is logged, since its message could echo the
        credentials.
        """
        if username.lower() in _ANONYMOUS:
            raise AuthenticationFailed(LOGIN_REFUSED)
        client = handler.client
        try:
            identity = self._backend.authenticate(username, password, client)
        except Exception as exc:
            log.error("FTP backend authenticate failed: %s", type(exc).__name__)
            raise AuthenticationFailed(LOGIN_REFUSED) from None
        if identity is None:
            raise AuthenticationFailed(LOGIN_REFUSED)
        handler.logged_in(Account(self._backend, identity, client))

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

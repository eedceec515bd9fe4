"""The FTP front end's backend: tenant logins and files, through the gateway.

The FTP server calls these from its backend threads; every call here hands
the work to the event loop with ``run_coroutine_threadsafe`` and waits
(bounded), so the gateway and cache are only ever touched from the loop
thread. ``on_event`` runs on the FTP connections' thread: a finished
download or upload goes to the access log on the loop (the rest is
recorded by the gateway already).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from provisioner.ftp import FtpEvent
from provisioner.serve._access_log import AccessLog
from provisioner.serve._front import FrontGateway
from provisioner.serve._model import Fetch, Protocol, Status, allowed

__all__ = ["GatewayFtpBackend"]

_T = TypeVar("_T")
_TIMEOUT = 30.0


class GatewayFtpBackend:
    """Implements :class:`provisioner.ftp.FtpBackend` on top of the gateway."""

    def __init__(
        self,
        gateway: FrontGateway,
        loop: asyncio.AbstractEventLoop,
        access: AccessLog | None = None,
    ) -> None:
        self.gateway = gateway
        self.loop = loop
        self.access = access

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(_TIMEOUT)

    def authenticate(self, username: str, password: str, client: tuple[str, int]) -> int | None:
        """The tenant whose FTP login this is, if FTP is on for it and the client allowed."""
        return self._call(self._authenticate(username, password, client[0]))

    async def _authenticate(self, username: str, password: str, client: str) -> int | None:
        if self.gateway.banned(client):
            return None  # refused like a wrong password; guessing on goes nowhere
        match = None
        for tenant in self.gateway.cache.tenants.values():
            policy = tenant.policy
            # Compare with every tenant (constant time), so timing says nothing.
            user_ok = hmac.compare_digest(policy.ftp_user.encode(), username.encode())
            pass_ok = hmac.compare_digest(policy.ftp_password.encode(), password.encode())
            usable = policy.ftp_enabled and bool(policy.ftp_user) and bool(policy.ftp_password)
            if user_ok and pass_ok and usable and allowed(client, policy.ftp_allow):
                match = policy.tenant_id
        if match is None:
            self.gateway.failed(client, Protocol.FTP, "ftp_login_failed")
        return match

    def read(self, identity: object, path: str, client: tuple[str, int]) -> bytes | Path | None:
        """A file for a logged-in tenant (its phones' files, shared and firmware files)."""
        tenant = identity if isinstance(identity, int) else None
        reply = self._call(
            self.gateway.fetch(Fetch(Protocol.FTP, path, client[0], ftp_tenant=tenant))
        )
        if reply.status is not Status.OK:
            return None
        if reply.disk is not None:
            return reply.disk.path
        return reply.file.data if reply.file else None

    def upload_limit(self, identity: int, path: str, client: tuple[str, int]) -> int:
        """How many bytes an upload to ``path`` may have (0: refused)."""
        req = Fetch(Protocol.FTP, path, client[0], ftp_tenant=identity, method="PUT")
        return self._call(self.gateway.upload_limit(req))

    def write(self, identity: int, path: str, client: tuple[str, int], data: bytes) -> bool:
        """Store a complete upload."""
        req = Fetch(Protocol.FTP, path, client[0], ftp_tenant=identity, method="PUT")
        return self._call(self.gateway.upload(req, data))

    def on_event(self, event: FtpEvent) -> None:
        """A finished transfer goes to the access log (on the loop; it reads the cache)."""
        access = self.access
        if access is None or not access.enabled or event.command not in _TRANSFERS:
            return
        self.loop.call_soon_threadsafe(
            functools.partial(
                access.record,
                protocol=Protocol.FTP.value,
                client=event.client[0],
                path=event.path or "",
                status=event.status,
                size=event.transferred,
                seconds=event.seconds,
            )
        )


_TRANSFERS = frozenset({"RETR", "STOR", "APPE", "STOU"})

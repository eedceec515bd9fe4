"""What the front ends (HTTP, TFTP, FTP) ask of the gateway, as a protocol.

The front ends turn wire requests into :class:`~provisioner.serve._model.Fetch`
and answers back into bytes; they depend on this narrow interface, not on
:class:`~provisioner.serve.Gateway`, so that they can be read (and tested)
without the gateway's bookkeeping, and the gateway can change behind it.
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Mapping

from provisioner.serve._cache import TenantEntry
from provisioner.serve._decide import UploadTicket
from provisioner.serve._model import Fetch, Protocol, Reply

__all__ = ["FrontGateway", "ServedState"]


class ServedState(typing.Protocol):
    """What front ends read of the served state: the tenants' FTP logins."""

    @property
    def tenants(self) -> Mapping[int, TenantEntry]:
        """Served tenants by id (their policies hold the FTP logins)."""


class FrontGateway(typing.Protocol):
    """The gateway as HTTP(S), TFTP and FTP call it."""

    @property
    def cache(self) -> ServedState:
        """The served state."""

    async def fetch(self, req: Fetch) -> Reply:
        """Answer a request for a file."""

    def begin(self, req: Fetch) -> Reply | Awaitable[Reply]:
        """Answer a request for a file: the reply now, or an awaitable when it must wait.

        The awaitable is a :class:`~provisioner.serve._model.Pending`, which
        takes a callback, or a coroutine.
        """

    async def authorize_upload(self, req: Fetch) -> tuple[Reply, UploadTicket | None]:
        """Check an upload before its body is read; a ticket when it may be stored."""

    async def store_upload(self, req: Fetch, ticket: UploadTicket, data: bytes) -> Reply:
        """Store an authorised upload."""

    async def upload_limit(self, req: Fetch) -> int:
        """Bytes the upload ``req`` may have; 0 when it is refused."""

    async def upload(self, req: Fetch, data: bytes) -> bool:
        """Check and store a complete upload."""

    def banned(self, client: str) -> bool:
        """Whether ``client`` is banned now."""

    def failed(
        self, client: str, protocol: Protocol, event: str, path: str = "", key: str | None = None
    ) -> None:
        """Count a failure from ``client`` towards its ban."""

"""One logged-in session's access to the backend.

Binds the identity the backend returned at login and the client address to
every later call, and turns backend exceptions into refusals (logged with a
traceback): a failing backend must cost one request, not the session or a
backend thread.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Generic

from provisioner.ftp._backend import Client, FtpBackend, IdentityT

__all__ = ["Account"]

log = logging.getLogger("provisioner.ftp")


class Account(Generic[IdentityT]):
    """What one authenticated FTP session may ask of the backend."""

    def __init__(self, backend: FtpBackend[IdentityT], identity: IdentityT, client: Client) -> None:
        self._backend = backend
        self._identity = identity
        self._client = client

    def read(self, path: str) -> bytes | Path | None:
        """The file's bytes or file, or ``None`` when not found or the backend failed."""
        try:
            return self._backend.read(self._identity, path, self._client)
        except Exception:
            log.exception("FTP backend read failed")
            return None

    def upload_limit(self, path: str) -> int:
        """The upload size limit for ``path``; 0 when refused or the backend failed."""
        try:
            return max(0, self._backend.upload_limit(self._identity, path, self._client))
        except Exception:
            log.exception("FTP backend upload_limit failed")
            return 0

    def write(self, path: str, data: bytes) -> bool:
        """Deliver a complete upload; ``False`` when refused or the backend failed."""
        try:
            return self._backend.write(self._identity, path, self._client, data)
        except Exception:
            log.exception("FTP backend write failed")
            return False

"""The in-memory file objects pyftpdlib transfers from and into.

pyftpdlib reads a download with ``read(n)`` and writes an upload with
``write(chunk)``; it also looks at ``name``, ``closed`` and calls
``close()``. Neither object has a file descriptor, so pyftpdlib never tries
``sendfile()`` and nothing touches the disk.
"""

from __future__ import annotations

import io

__all__ = ["Download", "Upload", "UploadTooLarge"]


class UploadTooLarge(Exception):
    """An upload went past its limit; the transfer is aborted with 552."""


class Download(io.BytesIO):
    """The bytes of one RETR, named by the path the client asked for."""

    def __init__(self, path: str, data: bytes) -> None:
        super().__init__(data)
        self.name = path


class Upload:
    """One STOR collected in memory, refusing to grow past ``limit`` bytes."""

    def __init__(self, path: str, limit: int) -> None:
        self.name = path
        self.limit = limit
        self._chunks: list[bytes] = []
        self._size = 0
        self.closed = False

    def write(self, chunk: bytes) -> int:
        """Append ``chunk``, or raise :class:`UploadTooLarge` past the limit."""
        self._size += len(chunk)
        if self._size > self.limit:
            raise UploadTooLarge
        self._chunks.append(chunk)
        return len(chunk)

    def getvalue(self) -> bytes:
        """Everything received so far."""
        return b"".join(self._chunks)

    def close(self) -> None:
        """Drop the collected bytes: they are delivered, or never will be."""
        self._chunks.clear()
        self.closed = True

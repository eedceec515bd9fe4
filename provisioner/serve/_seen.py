"""Buffering of seen records: one row per (client, protocol, path), flushed in batches.

Requests must not wait for the database, so each request only updates an
in-memory buffer (a few attribute assignments on the hot path);
:meth:`SeenRecorder.take` swaps the buffer out on the event loop and
:meth:`SeenRecorder.write` turns it into rows and stores them, in one
statement, from the worker thread every few seconds. Nothing secret is recorded: no
credentials, no file contents (only the ETag of a rendered file served, which
a preview compares with), and paths are the ones phones asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from provisioner.identify import Identity
from provisioner.store import SeenRow

__all__ = ["SeenRecorder"]

_MAX_BUFFERED = 50_000


class _Entry:
    """The latest request of one (client, protocol, path), updated in place."""

    __slots__ = (
        "address",
        "count",
        "etag",
        "first",
        "identity",
        "known",
        "last",
        "status",
        "user_agent",
    )

    def __init__(
        self,
        identity: Identity,
        address: str,
        user_agent: str,
        status: str,
        known: bool,
        now: int,
        etag: str,
    ) -> None:
        self.identity = identity
        self.etag = etag
        self.address = address
        self.user_agent = user_agent
        self.status = status
        self.known = known
        self.count = 1
        self.first = now
        self.last = now


class SeenWriter(Protocol):
    """Where seen records are kept (:class:`provisioner.store.SeenRepository`)."""

    def record(self, rows: Sequence[SeenRow], max_rows: int) -> None: ...


class SeenRecorder:
    """Collects request records and writes them to the store in batches."""

    def __init__(self, store: SeenWriter, max_rows: int = 100_000) -> None:
        self.store = store
        self.max_rows = max_rows
        self._buffer: dict[tuple[str, str, str], _Entry] = {}

    def add(
        self,
        *,
        identity: Identity,
        address: str,
        protocol: str,
        path: str,
        user_agent: str,
        status: str,
        known: bool,
        now: int,
        etag: str = "",
    ) -> None:
        """Record one request (event loop thread); ``etag``: of the rendered file served."""
        key = (identity.mac or address, protocol, path[:255])
        entry = self._buffer.get(key)
        if entry is None:
            if len(self._buffer) < _MAX_BUFFERED:  # else a flood; the counters still see it
                self._buffer[key] = _Entry(identity, address, user_agent, status, known, now, etag)
            return
        entry.identity = identity
        entry.address = address
        entry.user_agent = user_agent
        entry.status = status
        entry.known = known
        entry.count += 1
        entry.last = now
        entry.etag = etag

    def take(self) -> dict[tuple[str, str, str], _Entry]:
        """Hand over the buffered records (event loop thread; O(1), no copying)."""
        taken, self._buffer = self._buffer, {}
        return taken

    def write(self, taken: dict[tuple[str, str, str], _Entry]) -> None:
        """Store records handed over by :meth:`take` (worker thread)."""
        if not taken:
            return
        rows = [
            SeenRow(
                client_key=client_key,
                mac=entry.identity.mac,
                address=entry.address,
                protocol=protocol,
                path=path,
                user_agent=entry.user_agent[:255],
                vendor=entry.identity.vendor or "",
                model=entry.identity.model or "",
                firmware=(entry.identity.firmware or "")[:64],
                status=entry.status,
                known=entry.known,
                count=entry.count,
                first_seen=entry.first,
                last_seen=entry.last,
                etag=entry.etag,
            )
            for (client_key, protocol, path), entry in taken.items()
        ]
        self.store.record(rows, self.max_rows)

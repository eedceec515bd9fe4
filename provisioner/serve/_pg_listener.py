"""PostgreSQL ``LISTEN``: wake-ups from other nodes, through the database.

Nodes sharing one PostgreSQL database tell each other about shared state
(bans; tenant revisions, :mod:`provisioner.serve._announcements`) with
``NOTIFY`` in the transaction that changes it; a :class:`PgListener` holds
one connection (psycopg's asyncio connection, so nothing blocks the loop)
that listens on every channel and calls each channel's callback on the event
loop with the payload. A payload is a hint, never the state: the callback
reads the database again, so a lost notification (a dropped connection, a
node that was down) costs only promptness. After each (re)connection every
callback is called once with ``None``: what was announced while nobody
listened is caught up. Every node keeps polling on ``--poll-interval`` as
the fallback (docs/cluster.md). On SQLite there is nothing to listen to, and
no listener is started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

__all__ = ["PgListener"]

log = logging.getLogger("provisioner.serve")


class PgListener:
    """Listens on channels of one PostgreSQL database; reconnects until cancelled."""

    def __init__(
        self, url: URL, channels: Mapping[str, Callable[[str | None], None]], *, retry: float
    ) -> None:
        # libpq's own URL: the SQLAlchemy driver suffix is not part of it.
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._channels = dict(channels)
        self._retry = retry  # seconds before connecting again after the connection failed

    async def run(self) -> None:
        """Listen until cancelled, connecting again ``retry`` seconds after a failure."""
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as exc:
                # The class only: a driver message may quote the connection string.
                log.warning(
                    "event=listen_failed error=%s retry=%s", type(exc).__name__, self._retry
                )
            await asyncio.sleep(self._retry)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
            for channel in self._channels:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            log.info("event=listening channels=%s", ",".join(self._channels))
            for callback in self._channels.values():
                callback(None)
            async for note in conn.notifies():
                noted = self._channels.get(note.channel)
                if noted is not None:
                    noted(note.payload)

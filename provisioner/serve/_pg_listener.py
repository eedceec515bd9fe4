"""PostgreSQL ``LISTEN``: wake-ups from other nodes, through the database.

Nodes sharing one PostgreSQL database tell each other about shared state
(bans, today) with ``NOTIFY`` in the transaction that changes it; a
:class:`PgListener` holds one connection that listens on the channels and
calls each channel's callback on the event loop. The notification carries no
state: the callback reads the database again, so a lost notification (a
dropped connection, a node that was down) costs only promptness, and every
node keeps polling on ``--poll-interval`` as the fallback (docs/cluster.md).
On SQLite there is nothing to listen to, and no listener is started.
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
_RETRY = 2.0  # seconds before connecting again after the connection failed


class PgListener:
    """Listens on channels of one PostgreSQL database; reconnects until cancelled."""

    def __init__(self, url: URL, channels: Mapping[str, Callable[[], None]]) -> None:
        # libpq's own URL: the SQLAlchemy driver suffix is not part of it.
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._channels = dict(channels)
        self.listening = asyncio.Event()  # set while LISTEN is in force (for tests)

    async def run(self) -> None:
        """Listen until cancelled; on each (re)connection every callback runs once,
        since what was announced while the connection was down was missed."""
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as exc:
                log.warning("event=listen_failed reason=%s", " ".join(str(exc).split()))
            self.listening.clear()
            await asyncio.sleep(_RETRY)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
            for channel in self._channels:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self.listening.set()
            for callback in self._channels.values():
                callback()
            async for note in conn.notifies():
                wake = self._channels.get(note.channel)
                if wake is not None:
                    wake()

"""Changes announced by PostgreSQL (``LISTEN``), so every node refreshes at once.

Every write that moves a tenant's revision also sends ``NOTIFY`` on
:data:`provisioner.store.CHANGES_CHANNEL` with ``"<tenant id> <revision>"``
(delivered when it commits; :mod:`provisioner.store._feed`). :func:`listen`
holds one connection of its own on the event loop (psycopg's asyncio
connection: nothing blocks the loop) and hands each announcement to a
callback as plain data; the server turns it into a cache refresh. After
connecting (and after every reconnection) the callback is called once with
``None``: whatever was announced while no one listened is caught up.

The poll every ``--poll-interval`` stays: it is the fallback while the
connection is down, and the only mechanism on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import URL

from provisioner.store import CHANGES_CHANNEL

__all__ = ["Announcement", "conninfo", "listen", "parse"]

log = logging.getLogger("provisioner.serve")

Announcement = tuple[int, int]  # tenant id, revision (-1: the tenant was removed)


def conninfo(url: URL) -> str:
    """A libpq connection string for a SQLAlchemy PostgreSQL URL (any driver)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def parse(payload: str) -> Announcement | None:
    """``"<tenant id> <revision>"`` as numbers, or ``None`` for anything else."""
    parts = payload.split()
    if len(parts) != 2:
        return None
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        return None


async def listen(
    dsn: str, announced: Callable[[Announcement | None], None], *, retry: float
) -> None:
    """Pass every announcement to ``announced``, until cancelled; reconnect after ``retry`` s."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANGES_CHANNEL}")
                log.info("event=listening channel=%s", CHANGES_CHANNEL)
                announced(None)
                async for note in conn.notifies():
                    found = parse(note.payload)
                    if found is not None:
                        announced(found)
        except psycopg.Error as exc:
            # The class only: a driver message may quote the connection string.
            log.warning("event=listen_failed error=%s retry=%s", type(exc).__name__, retry)
        await asyncio.sleep(retry)

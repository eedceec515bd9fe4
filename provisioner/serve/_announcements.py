"""Changes announced by PostgreSQL, so every node refreshes at once.

Every write that moves a tenant's revision also sends ``NOTIFY`` on
:data:`provisioner.store.CHANGES_CHANNEL` with ``"<tenant id> <revision>"``
(delivered when it commits; :mod:`provisioner.store._feed`). The server's
one :class:`~provisioner.serve._pg_listener.PgListener` hands each payload
here; :func:`parse` makes it plain data, which the server turns into a cache
refresh. The admin API on this node wakes the same refresh after each
write it commits. The poll every ``--poll-interval`` stays: it is the
fallback while the connection is down, and on SQLite for writes made
elsewhere (the command line).
"""

from __future__ import annotations

__all__ = ["Announcement", "parse"]

Announcement = tuple[int, int]  # tenant id, revision (-1: the tenant was removed)


def parse(payload: str) -> Announcement | None:
    """``"<tenant id> <revision>"`` as numbers, or ``None`` for anything else."""
    parts = payload.split()
    if len(parts) != 2:
        return None
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        return None

"""The change feed: what each tenant revision reached, for servers to re-render only that.

Every write that bumps a tenant's revision may record, in the same
transaction, which parts of the tenant it changed (:class:`Reach`). A server
reads the feed since the revision it serves (:func:`read_reach`) and
re-renders those phones only. Whenever the feed cannot say — a revision with
no rows (a write that records none, rows pruned, a firmware activation) —
the answer is "the whole tenant", which is always correct.

On PostgreSQL every bump is also announced with ``pg_notify`` on
:data:`CHANGES_CHANNEL` (delivered at commit, ``"<tenant id> <revision>"``), so the
nodes sharing the database refresh at once instead of at their next poll.
The feed is data the server reads: the store never calls the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.engine import Connection

from provisioner.store import _tables as t

__all__ = [
    "CHANGES_CHANNEL",
    "FEED_MAX_ENTRIES",
    "KEEP_REVISIONS",
    "Reach",
    "announce",
    "current_revision",
    "read_reach",
    "record",
]

CHANGES_CHANNEL = "provisioner_changes"
# Feed rows are kept for this many revisions of a tenant; a server further
# behind re-renders the whole tenant.
KEEP_REVISIONS = 1000
# A write reaching more phones or groups than this records "the whole
# tenant": one row instead of thousands, and the render is large anyway.
FEED_MAX_ENTRIES = 1000


@dataclass(slots=True)
class Reach:
    """What a change (or a run of changes) reached under one tenant."""

    whole: bool = False  # everything under the tenant
    # The tenant directory (phones that show it or have a keys.policy): a line's
    # name or user, or the groups of its phone while a keys.policy.scope is set.
    directory: bool = False
    groups: set[int] = field(default_factory=set)  # by id: their member phones
    macs: set[str] = field(default_factory=set)  # these phones

    def __bool__(self) -> bool:
        return self.whole or self.directory or bool(self.groups) or bool(self.macs)

    def merge(self, other: Reach) -> None:
        """Add what ``other`` reached."""
        self.whole = self.whole or other.whole
        self.directory = self.directory or other.directory
        self.groups |= other.groups
        self.macs |= other.macs


def announce(conn: Connection, tenant_id: int, revision: int) -> None:
    """Tell the other nodes (PostgreSQL ``NOTIFY``, sent at commit) that a tenant moved."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANGES_CHANNEL, "payload": f"{tenant_id} {revision}"},
        )


def record(conn: Connection, tenant_id: int, revision: int, reach: Reach) -> None:
    """Write what ``revision`` of the tenant reached, and prune rows too old to matter."""
    rows: list[tuple[str, str]]
    if reach.whole or len(reach.groups) + len(reach.macs) > FEED_MAX_ENTRIES:
        rows = [("tenant", "")]
    else:
        rows = [("group", str(g)) for g in sorted(reach.groups)]
        rows += [("phone", mac) for mac in sorted(reach.macs)]
        if reach.directory:
            rows.append(("dir", ""))
    if not rows:
        rows = [("none", "")]  # reached no phone (say, a new empty group): nothing to render
    conn.execute(
        insert(t.change_feed),
        [{"tenant_id": tenant_id, "revision": revision, "kind": k, "key": v} for k, v in rows],
    )
    if revision % 100 == 0:  # pruning now and then keeps the table small at little cost
        conn.execute(
            delete(t.change_feed).where(
                t.change_feed.c.tenant_id == tenant_id,
                t.change_feed.c.revision <= revision - KEEP_REVISIONS,
            )
        )


def read_reach(conn: Connection, tenant_id: int, after: int, upto: int) -> Reach:
    """What revisions ``after`` (exclusive) to ``upto`` (inclusive) of a tenant reached.

    Any revision in the range without feed rows makes it the whole tenant.
    """
    reach = Reach()
    if upto - after > KEEP_REVISIONS or after < 0:
        reach.whole = True
        return reach
    feed = t.change_feed
    rows = conn.execute(
        select(feed.c.revision, feed.c.kind, feed.c.key).where(
            feed.c.tenant_id == tenant_id, feed.c.revision > after, feed.c.revision <= upto
        )
    ).all()
    seen: set[int] = set()
    for revision, kind, key in rows:
        seen.add(revision)
        if kind == "tenant":
            reach.whole = True
        elif kind == "dir":
            reach.directory = True
        elif kind == "group":
            reach.groups.add(int(key))
        elif kind == "phone":
            reach.macs.add(key)
    if len(seen) != upto - after:
        reach.whole = True
    return reach


def current_revision(conn: Connection, tenant_id: int) -> int:
    """The tenant's revision as this transaction sees it."""
    return int(
        conn.execute(
            select(func.coalesce(t.tenants.c.revision, 0)).where(t.tenants.c.id == tenant_id)
        ).scalar_one()
    )

"""Digest nonce counts used on any node: one repository for ``digest_nonce_counts``.

Each node still remembers the counts it accepted (``DigestAuth``); this table
makes the memory the cluster's, so an Authorization answer accepted by one
node is refused by every other (RFC 7616 §3.4 across nodes). A claim is one
``INSERT … ON CONFLICT DO NOTHING RETURNING`` for any number of answers: the
rows it returns are the ones no node had used.

The statement is built once and executed with a list of rows, which
SQLAlchemy's "insertmanyvalues" sends as one multi-row ``VALUES`` per page
and caches compiled per dialect. Building ``.values([...])`` afresh instead
made every claim compile a new statement: at 64 answers, 4.7 ms of CPU
against 0.7 ms on SQLite (docs/performance-notes.md), with the event loop
waiting for the interpreter lock meanwhile.

On SQLite a claim can also be made at once, on the caller's thread
(:meth:`NonceCounts.claim_at_once`): the server's event loop does so to
spare a thread hop per batch, which cost about a third of a digest
request's CPU. It must never wait there, so it uses a connection of its
own that gives up when another writer holds the database (no busy timeout)
and never runs a WAL checkpoint (the other connections' commits do); the
caller then claims on a thread as before. There the statement goes to the
driver directly, on one connection held for it, spelled once per batch size
(sqlite3 caches it prepared): through SQLAlchemy's execution path, with a
pool checkout per batch, it cost 2-3 times as much CPU, on the loop
(docs/performance-notes.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import create_engine, delete, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import PoolProxiedConnection

from provisioner.store import _tables as t
from provisioner.store._dialect import upsert_insert

__all__ = ["NonceCounts"]


def _never_wait(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")  # a busy database: refuse, do not wait
    cursor.execute("PRAGMA wal_autocheckpoint=0")  # a checkpoint writes the whole WAL back
    cursor.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: no fsync at commit
    cursor.close()


@lru_cache(maxsize=64)
def _sqlite_claim(rows: int) -> str:
    """The claim of ``rows`` answers as SQLite spells it, for the driver."""
    values = ", ".join(["(?, ?, ?)"] * rows)
    return (
        f"INSERT INTO {t.digest_nonce_counts.name} (nonce, nc, expires) VALUES {values} "
        "ON CONFLICT (nonce, nc) DO NOTHING RETURNING nonce, nc"
    )


class NonceCounts:
    """Claims (nonce, count) pairs once for the whole cluster; nothing else."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        columns = t.digest_nonce_counts.c
        self._claim = (
            upsert_insert(engine, t.digest_nonce_counts)
            .on_conflict_do_nothing(index_elements=["nonce", "nc"])
            .returning(columns.nonce, columns.nc)
        )
        self._at_once: Engine | None = None
        self._held: PoolProxiedConnection | None = None  # the connection claim_at_once keeps
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            self._at_once = create_engine(engine.url, connect_args={"timeout": 0})
            event.listen(self._at_once, "connect", _never_wait)

    @property
    def at_once(self) -> bool:
        """Whether :meth:`claim_at_once` can claim here: a SQLite file (it may find it locked)."""
        return self._at_once is not None

    def claim(self, counts: Sequence[tuple[str, int, float]]) -> set[tuple[str, int]]:
        """Record uses of (nonce, count, expires); returns those no node had used before.

        One statement per thousand counts, in one transaction.
        """
        if not counts:
            return set()
        rows = [{"nonce": n, "nc": c, "expires": e} for n, c, e in counts]
        with self.engine.begin() as conn:
            return {(nonce, int(nc)) for nonce, nc in conn.execute(self._claim, rows)}

    def claim_at_once(
        self, counts: Sequence[tuple[str, int, float]]
    ) -> set[tuple[str, int]] | None:
        """:meth:`claim` without waiting for another writer; ``None`` when it would have to.

        SQLite only (``None`` on PostgreSQL, whose claims are network round
        trips). The outcome, when there is one, is exactly :meth:`claim`'s.
        """
        if self._at_once is None or not counts:
            return None
        if self._held is None:
            self._held = self._at_once.raw_connection()
        driver = self._held.driver_connection
        assert isinstance(driver, sqlite3.Connection)  # the engine is SQLite's
        values = [value for row in counts for value in row]
        try:
            # The driver opens the transaction before the INSERT (its default
            # isolation level); a locked database raises at once (busy_timeout=0).
            found = driver.execute(_sqlite_claim(len(counts)), values).fetchall()
            driver.commit()
        except sqlite3.OperationalError:  # "database is locked": nothing claimed
            driver.rollback()
            return None
        except BaseException:
            driver.rollback()  # the held connection must not stay in a transaction
            raise
        return {(nonce, int(nc)) for nonce, nc in found}

    def close(self) -> None:
        """Release the connection of :meth:`claim_at_once`."""
        if self._held is not None:
            self._held.close()
            self._held = None
        if self._at_once is not None:
            self._at_once.dispose()

    def expire(self, now: float) -> int:
        """Forget counts of nonces that expired (a stale nonce is refused anyway)."""
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(t.digest_nonce_counts).where(t.digest_nonce_counts.c.expires < now)
            )
            return int(gone.rowcount)

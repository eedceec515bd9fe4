"""Digest answers claimed for the whole cluster, many per database statement.

A node accepts a digest answer (nonce + ``nc``) only once in its own memory
(:class:`~provisioner.serve._digest.DigestAuth`); before the file goes out,
the gateway also claims it in the database (``digest_nonce_counts``), so an
answer another node accepted is refused here. Claims arriving while a
statement runs wait for the next one, which carries all of them: under load
the cost per request is a fraction of a statement, at rest it is one. Each
claim's outcome goes to a callback, called once its statement is done: no
future and no scheduled callback per request (docs/performance-notes.md).

On SQLite the statement runs on the event loop (``claim_at_once``), which
never waits for the database's write lock. When another writer of this
process holds it (the seen records' flush, a few milliseconds), the claim is
tried again on the loop every millisecond for a while before it goes to a
thread: there SQLite's busy handler sleeps 1, 2, 5, 10, 15, 20… ms between
looks at the lock, and a thread wanting the interpreter lock from a busy
loop gets it once per switch interval (5 ms), so a claim that met a writer
took 30-45 ms on a thread, and every digest request behind it waited as
long (docs/performance-notes.md, "Digest: a claim that meets a writer").
"""

from __future__ import annotations

import asyncio
import logging
import typing
from collections.abc import Callable, Sequence

__all__ = ["ClaimStore", "NonceClaims", "Outcome"]

log = logging.getLogger("provisioner.nonce_claims")
# Whether no node had accepted the answer before, or why the database could not tell.
Outcome = bool | Exception

# A claim waiting for its batch's statement: nonce, count, expiry, and its callback.
_Waiter = tuple[str, int, float, Callable[[Outcome], None]]
_MAX_BATCH = 1_000  # answers per statement
_RETRY_EVERY = 0.001  # seconds between tries on the loop while another writer holds SQLite
_RETRY_FOR = 0.1  # seconds of such tries before the claim goes to a thread, which waits


class ClaimStore(typing.Protocol):
    """Where answers are claimed (:class:`provisioner.store.NonceCounts`)."""

    @property
    def at_once(self) -> bool:
        """Whether :meth:`claim_at_once` can claim here (it may still find the lock held)."""
        ...

    def claim(self, counts: Sequence[tuple[str, int, float]]) -> set[tuple[str, int]]: ...

    def claim_at_once(
        self, counts: Sequence[tuple[str, int, float]]
    ) -> set[tuple[str, int]] | None: ...


class NonceClaims:
    """Batches claims of digest answers into single statements (on the loop or a thread)."""

    def __init__(self, store: ClaimStore) -> None:
        self._store = store
        self._pending: list[_Waiter] = []
        self._busy = False  # a flush is scheduled or running: new claims join it
        # The task of a flush that waits for the database, held here: the loop keeps
        # only a weak reference to a task, which could be collected mid-flight.
        self._flushing: asyncio.Task[None] | None = None

    def claim(
        self, nonce: str, count: int, expires: float, then: Callable[[Outcome], None]
    ) -> None:
        """Claim ``count`` of ``nonce``; ``then`` gets whether no node had accepted it before.

        ``then`` is called from the event loop once the batch's statement is
        done (with the exception when it failed), never before this returns.
        """
        self._pending.append((nonce, count, expires, then))
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().call_soon(self._flush_now)

    def _take(self) -> list[_Waiter]:
        batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
        return batch

    def _flush_now(self) -> None:
        """Claim what is pending here, on the loop; a task takes over when it must wait.

        A task per batch cost more than the statement's share of a request
        under load; it is made only for PostgreSQL, or a SQLite that is locked.
        """
        if self._store.at_once:
            while self._pending:
                batch = self._take()
                try:
                    fresh = self._store.claim_at_once(_counts(batch))
                except Exception as exc:  # every waiter gets the error, the loop goes on
                    _deliver(batch, exc, set())
                    continue
                if fresh is None:  # another writer holds SQLite: the task tries again
                    self._pending[:0] = batch
                    break
                _deliver(batch, None, fresh)
            else:
                self._busy = False
                return
        self._flushing = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._take()
                try:
                    fresh = await self._claim(_counts(batch))
                except Exception as exc:  # every waiter gets the error, the loop goes on
                    _deliver(batch, exc, set())
                else:
                    _deliver(batch, None, fresh)
        finally:
            self._flushing = None
            self._busy = False

    async def _claim(self, counts: list[tuple[str, int, float]]) -> set[tuple[str, int]]:
        """One batch's statement: on the loop when SQLite's lock is free, else on a thread.

        On the loop it spares the thread hop and never waits for the lock;
        the thread is not the Db thread, as a claim must not queue behind a render.
        """
        store = self._store
        if store.at_once:
            loop = asyncio.get_running_loop()
            give_up = loop.time() + _RETRY_FOR
            while True:
                fresh = store.claim_at_once(counts)
                if fresh is not None:
                    return fresh
                if loop.time() >= give_up:
                    break
                await asyncio.sleep(_RETRY_EVERY)
        return await asyncio.to_thread(store.claim, counts)


def _counts(batch: list[_Waiter]) -> list[tuple[str, int, float]]:
    return [(nonce, count, expires) for nonce, count, expires, _ in batch]


def _deliver(batch: list[_Waiter], error: Exception | None, fresh: set[tuple[str, int]]) -> None:
    """Each waiter's outcome: the error, or whether its answer was fresh."""
    for nonce, count, _, then in batch:
        try:
            then(error if error is not None else (nonce, count) in fresh)
        except Exception:  # one waiter's failure must not strand the others
            log.exception("event=nonce_claim_callback_failed")

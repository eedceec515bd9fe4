"""Digest answers claimed for the whole cluster, many per database statement.

A node accepts a digest answer (nonce + ``nc``) only once in its own memory
(:class:`~provisioner.serve._digest.DigestAuth`); before the file goes out,
the gateway also claims it in the database (``digest_nonce_counts``), so an
answer another node accepted is refused here. Claims arriving while a
statement runs wait for the next one, which carries all of them: under load
the cost per request is a fraction of a statement, at rest it is one. Each
claim's outcome goes to a callback, called once its statement is done: no
future and no scheduled callback per request (docs/performance-notes.md).
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

_MAX_BATCH = 1_000  # answers per statement


class ClaimStore(typing.Protocol):
    """Where answers are claimed (:class:`provisioner.store.NonceCounts`)."""

    def claim(self, counts: Sequence[tuple[str, int, float]]) -> set[tuple[str, int]]: ...

    def claim_at_once(
        self, counts: Sequence[tuple[str, int, float]]
    ) -> set[tuple[str, int]] | None: ...


class NonceClaims:
    """Batches claims of digest answers into single statements on a thread of their own."""

    def __init__(self, store: ClaimStore) -> None:
        self._store = store
        self._pending: list[tuple[str, int, float, Callable[[Outcome], None]]] = []
        self._flushing: asyncio.Task[None] | None = None

    def claim(
        self, nonce: str, count: int, expires: float, then: Callable[[Outcome], None]
    ) -> None:
        """Claim ``count`` of ``nonce``; ``then`` gets whether no node had accepted it before.

        ``then`` is called from the event loop once the batch's statement is
        done (with the exception when it failed), never before this returns.
        """
        self._pending.append((nonce, count, expires, then))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
                counts = [(nonce, count, expires) for nonce, count, expires, _ in batch]
                error: Exception | None = None
                try:
                    # SQLite with no other writer: here, sparing the thread hop
                    # (it never waits for a lock). Else on a thread, not the Db
                    # thread: a claim must not queue behind a render.
                    fresh = self._store.claim_at_once(counts)
                    if fresh is None:
                        fresh = await asyncio.to_thread(self._store.claim, counts)
                except Exception as exc:  # every waiter gets the error, the loop goes on
                    error, fresh = exc, set()
                for nonce, count, _, then in batch:
                    try:
                        then(error if error is not None else (nonce, count) in fresh)
                    except Exception:  # one waiter's failure must not strand the others
                        log.exception("event=nonce_claim_callback_failed")
        finally:
            self._flushing = None

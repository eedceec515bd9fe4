"""Digest answers claimed for the whole cluster, many per database statement.

A node accepts a digest answer (nonce + ``nc``) only once in its own memory
(:class:`~provisioner.serve._digest.DigestAuth`); before the file goes out,
the gateway also claims it in the database (``digest_nonce_counts``), so an
answer another node accepted is refused here. Claims arriving while a
statement runs wait for the next one, which carries all of them: under load
the cost per request is a fraction of a statement, at rest it is one.
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Sequence

__all__ = ["ClaimStore", "NonceClaims"]

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
        self._pending: list[tuple[str, int, float, asyncio.Future[bool]]] = []
        self._flushing: asyncio.Task[None] | None = None

    def claim(self, nonce: str, count: int, expires: float) -> asyncio.Future[bool]:
        """A future of whether no node had accepted ``count`` of ``nonce`` before.

        A future rather than a coroutine: the HTTP front end waits for it with a
        callback instead of a task per request (docs/performance-notes.md).
        """
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((nonce, count, expires, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
                counts = [(nonce, count, expires) for nonce, count, expires, _ in batch]
                try:
                    # SQLite with no other writer: here, sparing the thread hop
                    # (it never waits for a lock). Else on a thread, not the Db
                    # thread: a claim must not queue behind a render.
                    fresh = self._store.claim_at_once(counts)
                    if fresh is None:
                        fresh = await asyncio.to_thread(self._store.claim, counts)
                except Exception as exc:  # every waiter gets the error, the loop goes on
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for nonce, count, _, future in batch:
                    if not future.done():
                        future.set_result((nonce, count) in fresh)
        finally:
            self._flushing = None

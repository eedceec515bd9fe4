"""Claims of digest answers: batched, and on SQLite tried again on the loop while locked."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from provisioner.serve import _nonce_claims
from provisioner.serve._nonce_claims import NonceClaims, Outcome
from provisioner.store import Store

Counts = Sequence[tuple[str, int, float]]


class _Busy:
    """A SQLite-like claim store whose lock another writer holds for ``locked`` tries."""

    at_once = True

    def __init__(self, locked: int) -> None:
        self.locked = locked
        self.tries = 0
        self.on_thread: list[list[tuple[str, int]]] = []
        self.used: set[tuple[str, int]] = set()

    def _take(self, counts: Counts) -> set[tuple[str, int]]:
        fresh = {(nonce, count) for nonce, count, _ in counts} - self.used
        self.used |= fresh
        return fresh

    def claim_at_once(self, counts: Counts) -> set[tuple[str, int]] | None:
        self.tries += 1
        return None if self.tries <= self.locked else self._take(counts)

    def claim(self, counts: Counts) -> set[tuple[str, int]]:
        self.on_thread.append([(nonce, count) for nonce, count, _ in counts])
        return self._take(counts)


async def _claim_all(claims: NonceClaims, answers: list[tuple[str, int]]) -> list[Outcome]:
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in answers]
    for (nonce, count), future in zip(answers, futures, strict=True):
        claims.claim(nonce, count, 1000.0, future.set_result)
    return list(await asyncio.gather(*futures))


def test_claims_made_while_a_statement_runs_go_together_in_the_next() -> None:
    store = _Busy(locked=0)
    store.used.add(("n", 2))  # another node used this one
    outcomes = asyncio.run(_claim_all(NonceClaims(store), [("n", 1), ("n", 2), ("m", 1)]))
    assert store.tries == 1  # one statement for all three
    assert outcomes == [True, False, True]


def test_a_locked_sqlite_is_tried_again_on_the_loop_not_on_a_thread() -> None:
    store = _Busy(locked=3)
    outcomes = asyncio.run(_claim_all(NonceClaims(store), [("n", 1), ("n", 2)]))
    assert outcomes == [True, True]
    assert store.tries == 4
    assert store.on_thread == []  # a thread's busy handler sleeps for tens of ms


def test_a_lock_held_longer_sends_the_claim_to_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_nonce_claims, "_RETRY_FOR", 0.02)
    store = _Busy(locked=10**9)
    outcomes = asyncio.run(_claim_all(NonceClaims(store), [("n", 1)]))
    assert outcomes == [True]
    assert store.tries >= 2
    assert store.on_thread == [[("n", 1)]]


def test_a_store_that_cannot_claim_at_once_claims_on_a_thread() -> None:
    store = _Busy(locked=0)
    store.at_once = False  # PostgreSQL: every claim is a round trip
    outcomes = asyncio.run(_claim_all(NonceClaims(store), [("n", 1)]))
    assert outcomes == [True]
    assert store.tries == 0
    assert store.on_thread == [[("n", 1)]]


def test_a_real_sqlite_lock_released_meanwhile_is_claimed_on_the_loop(
    sqlite_store: Store,
) -> None:
    claims_on_thread: list[object] = []
    nonces = sqlite_store.nonces
    real_claim = nonces.claim

    def on_thread(counts: Counts) -> set[tuple[str, int]]:
        claims_on_thread.append(counts)
        return real_claim(counts)

    nonces.claim = on_thread  # type: ignore[method-assign]
    holder = sqlite_store.engine.raw_connection()
    holder.execute("BEGIN IMMEDIATE")  # another writer (the seen records' flush, say)

    async def run() -> list[Outcome]:
        asyncio.get_running_loop().call_later(0.01, holder.rollback)
        return await _claim_all(NonceClaims(nonces), [("n", 1), ("n", 2)])

    try:
        assert asyncio.run(run()) == [True, True]
    finally:
        holder.close()
    assert claims_on_thread == []
    assert nonces.claim([("n", 1, 1000.0), ("n", 3, 1000.0)]) == {("n", 3)}

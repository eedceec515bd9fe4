"""A pending reply: its callback gets the outcome once, whichever comes first."""

from __future__ import annotations

import asyncio

import pytest

from provisioner.serve._model import Pending, Reply, ReplyOutcome, Status

OK = Reply(Status.OK)


def test_a_callback_given_before_the_outcome_gets_it_when_it_comes() -> None:
    pending, got = Pending(), list[ReplyOutcome]()
    pending.then(got.append)
    assert got == []
    pending.settle(OK)
    assert got == [OK]


def test_a_callback_given_after_the_outcome_gets_it_at_once() -> None:
    pending, got = Pending(), list[ReplyOutcome]()
    pending.settle(OK)
    pending.then(got.append)
    assert got == [OK]


def test_an_awaited_pending_gives_the_reply_or_raises_what_stopped_it() -> None:
    async def settled_later(outcome: ReplyOutcome) -> Reply:
        pending = Pending()
        asyncio.get_running_loop().call_soon(pending.settle, outcome)
        return await pending

    assert asyncio.run(settled_later(OK)) is OK
    with pytest.raises(OSError, match="gone"):
        asyncio.run(settled_later(OSError("gone")))


def test_an_awaiting_caller_that_was_cancelled_is_left_alone() -> None:
    async def cancelled() -> None:
        pending = Pending()
        waiter = asyncio.ensure_future(_wait(pending))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.sleep(0)
        pending.settle(OK)  # no InvalidStateError from the cancelled future
        assert waiter.cancelled()

    asyncio.run(cancelled())


async def _wait(pending: Pending) -> Reply:
    return await pending

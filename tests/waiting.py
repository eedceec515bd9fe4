"""Waiting in tests: ask until a condition holds, within a deadline, instead of sleeping.

A sleep guesses how long something takes: too short and the test fails on a
loaded machine, too long and every run pays for it. :func:`eventually` asks
again and again, returns as soon as the answer is yes, and fails naming what
never happened. The pause between two checks doubles from 10 ms up to 0.25 s,
so a cheap check (a counter) answers at once and a costly one (a CLI process,
an HTTP request) does not take the cores the suite shares from the server it
is waiting for.

:func:`eventually_async` is the same for a coroutine, whose check must not
block the event loop; a blocking check is polled from a thread with
``await asyncio.to_thread(eventually, check, what)``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["eventually", "eventually_async"]

T = TypeVar("T")
_FIRST_PAUSE = 0.01
_LONGEST_PAUSE = 0.25


def eventually(
    check: Callable[[], T | None], what: str | Callable[[], str], limit: float = 20.0
) -> T:
    """Call ``check`` until it returns something true, and return that.

    :raises AssertionError: after ``limit`` seconds, naming ``what`` (a text,
        or a function that gives it when the wait fails, e.g. with the last state).
    """
    deadline = time.monotonic() + limit
    pause = _FIRST_PAUSE
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(_failure(what, limit))
        time.sleep(pause)
        pause = min(2 * pause, _LONGEST_PAUSE)


async def eventually_async(
    check: Callable[[], T | None], what: str | Callable[[], str], limit: float = 20.0
) -> T:
    """:func:`eventually` for a coroutine: the loop runs between two checks."""
    deadline = time.monotonic() + limit
    pause = _FIRST_PAUSE
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(_failure(what, limit))
        await asyncio.sleep(pause)
        pause = min(2 * pause, _LONGEST_PAUSE)


def _failure(what: str | Callable[[], str], limit: float) -> str:
    return f"not within {limit:g} s: {what if isinstance(what, str) else what()}"

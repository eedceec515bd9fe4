"""The event loop ``serve`` runs on: uvloop's (libuv, in C), not asyncio's own.

The phone port's cost per request is mostly the event loop's own work:
reading, writing and running callbacks (docs/performance-notes.md, "The
event loop: uvloop"). uvloop implements asyncio's interfaces over libuv; the
code of this package is written against asyncio's interfaces only. The
in-process tests run on asyncio's loop, every test that starts ``serve``
on this one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

__all__ = ["run_loop"]

_T = TypeVar("_T")


def run_loop(main: Coroutine[Any, Any, _T]) -> _T:
    """Run ``main`` to its end on a new uvloop event loop (as :func:`asyncio.run` does)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)

"""The database thread: every store call and every render, off the event loop, typed.

SQLite has one writer and rendering is CPU-bound, so one thread does both;
the event loop hands it work with :meth:`Db.run` and gets the result back,
typed, without ``run_in_executor`` and its ``Any``. File I/O that is not the
database's (uploads, firmware files) goes to :func:`asyncio.to_thread`
instead, so a slow disk never queues behind a render.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["Db"]

T = TypeVar("T")


class Db:
    """Owns the one worker thread for the database and rendering."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="provisioner-db")

    async def run(self, call: Callable[[], T]) -> T:
        """``call()`` on the database thread; its result (or exception) on the loop."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def close(self) -> None:
        """Finish what was handed over, then stop the thread."""
        self._pool.shutdown(wait=True)

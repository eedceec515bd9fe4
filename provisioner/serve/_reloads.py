"""SIGHUP requests, coalesced: one reload at a time, and one more if asked meanwhile.

A signal handler must not wait, and admins (or logrotate and a certificate
renewal hook together) may send several SIGHUPs in a row. Each request
starts a reload unless one is running; a request during a reload makes
exactly one more run after it, so the last change is always read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

__all__ = ["Reloads"]

log = logging.getLogger("provisioner.serve")


class Reloads:
    """Runs ``reload`` for :meth:`request` calls, never two at once."""

    def __init__(self, reload: Callable[[], Awaitable[None]]) -> None:
        self._reload = reload
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def request(self) -> None:
        """Ask for a reload (from a signal handler: returns at once)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self._reload()
            except Exception:  # a bug in a reload must not end the server
                log.exception("event=reload_failed")
            if not self._again:
                return

    async def wait(self) -> None:
        """Wait for the reload in progress, if any (tests)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def cancel(self) -> None:
        """Stop a reload in progress (shutdown)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

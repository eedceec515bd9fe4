"""Backend calls off the FTP loop: a small thread pool, and the way back.

Every session runs on one pyftpdlib IOLoop thread, which must never wait: a
backend call may block (the application's backend waits on its asyncio
loop, and that may be busy or wait for the database). :class:`BackendCalls` runs such
a call on one of a few worker threads and hands its result back to the loop
thread, which is woken through a socket pair registered in the IOLoop
(pyftpdlib's IOLoop has no thread-safe way to schedule a call).

Only the loop thread touches sessions, sockets and the scheduler; the
workers only run backend calls.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from provisioner.ftp._pyftpdlib import IOLoop

__all__ = ["BackendCalls"]

log = logging.getLogger("provisioner.ftp")

_T = TypeVar("_T")


class _Waker:
    """Runs callables on the IOLoop thread, handed over from any thread.

    Registered in the IOLoop like a pyftpdlib dispatcher: the loop calls
    ``readable``, ``writable`` and ``handle_read_event``, and ``close`` when
    it is closed.
    """

    def __init__(self, ioloop: IOLoop) -> None:
        self._ioloop = ioloop
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._fileno = self._reader.fileno()  # the IOLoop sorts dispatchers by it on close
        self._calls: deque[Callable[[], object]] = deque()  # append/popleft are thread-safe
        ioloop.register(self._fileno, self, ioloop.READ)

    def call_soon(self, call: Callable[[], object]) -> None:
        """Run ``call`` on the loop thread soon; from any thread."""
        self._calls.append(call)
        # A full pair means the loop is awake already; a closed one, that it stopped.
        with contextlib.suppress(OSError):
            self._writer.send(b"\0")

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def handle_read_event(self) -> None:
        # Drain first: a call queued after this point comes with a byte of its own.
        try:
            while self._reader.recv(4096):
                pass
        except BlockingIOError:
            pass
        while self._calls:
            call = self._calls.popleft()
            try:
                call()
            except Exception:
                log.exception("unexpected error in FTP session")

    def handle_error(self) -> None:
        log.exception("unexpected error in FTP session")

    def handle_close(self) -> None:
        """Only ever closed by :meth:`close`."""

    def close(self) -> None:
        self._ioloop.unregister(self._fileno)
        self._reader.close()
        self._writer.close()


class BackendCalls:
    """Runs blocking backend calls on ``threads`` workers, results back on the loop."""

    def __init__(self, ioloop: IOLoop, threads: int) -> None:
        self._waker = _Waker(ioloop)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ftp-backend")

    def run(self, call: Callable[[], _T], then: Callable[[_T], object]) -> None:
        """Run ``call`` on a worker, then ``then(result)`` on the loop thread.

        ``call`` must not raise (the session's calls turn backend exceptions
        into refusals). Nothing runs after :meth:`close`.
        """
        future = self._pool.submit(call)
        future.add_done_callback(partial(self._hand_back, then))

    def wake(self) -> None:
        """Make the loop thread's poll return now (to see that it must stop)."""
        self._waker.call_soon(_nothing)

    def close(self) -> None:
        """Drop the calls not started yet and wait for the running ones.

        Called on the loop thread after the IOLoop was closed (which closed
        the waker), so no result is handed back any more.
        """
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _hand_back(self, then: Callable[[_T], object], future: Future[_T]) -> None:
        if not future.cancelled():
            self._waker.call_soon(partial(then, future.result()))


def _nothing() -> None:
    """A call that only wakes the loop."""

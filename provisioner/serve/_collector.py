"""The cyclic garbage collector in a server that holds a large, long-lived cache.

CPython's full (generation 2) collection walks every container object the
collector tracks, holding the interpreter lock throughout: while it runs,
no request is answered. A server's cache is such a heap — a phone's entry,
its files, its access rules — and a render adds a large transient one (the
snapshot read from the database, the plan's copies of a tenant's phones).
A full collection is triggered by allocations, so during a render it ran
again and again, each time walking the transient heap: at 10,000 phones
each took 45–130 ms (`bench.scale` with a `gc.callbacks` probe), and the
unchanged phones of a 100,000-phone fleet waited 0.5–2.9 s
(docs/scaling.md).

Two rules keep those pauses out of serving:

- :func:`no_full_collections` around a render: the young generations are
  still collected (their cost is proportional to what was allocated since
  the last one), full collections wait for the render's end.
- :class:`Settler` after a render was installed: one full collection, when
  the render's transients are gone; then, once enough phones were
  installed since the last freeze for a full collection of their entries
  to cost more than a few milliseconds, :func:`gc.freeze` moves what
  survived (the cache) out of the collector's reach, so later full
  collections walk only what was allocated since. Counting the phones
  rather than the objects the collector tracks: counting those means
  listing them, 7–12 ms at 95,000 objects on the event loop, on top of the
  collection itself. Frozen objects are still freed by reference counting
  when an entry is replaced; the cache's entries hold no reference cycles,
  so none is kept alive by being frozen. What is frozen with them and
  later becomes cyclic garbage (a request in flight at that moment) is
  never freed: measured with 64 connections fetching without pause, 20
  changes of 1,250 phones each left 551 such objects (about 27 a change;
  docs/scaling.md). Freezing only after large changes keeps that rare.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["FREEZE_AT", "Settler", "no_full_collections"]

# ``threshold2`` counts young (generation 1) collections between full ones;
# no render comes near this many.
_NEVER = 2**31 - 1


@contextmanager
def no_full_collections() -> Iterator[None]:
    """Hold back automatic full collections for the block; young ones still run."""
    young, middle, full = gc.get_threshold()
    gc.set_threshold(young, middle, _NEVER)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, full)


# Phones installed since the last freeze worth freezing: their entries
# (about six tracked objects each: the entry, its files' dictionary, its
# own files, access rules and NOTIFY details) make about 50,000 objects, a
# full collection of which takes a few milliseconds on the machine of
# docs/scaling.md.
FREEZE_AT = 8_000


class Settler:
    """Settles the collector after each install (the cache's ``settle`` hook)."""

    def __init__(self, freeze_at: int = FREEZE_AT) -> None:
        self._freeze_at = freeze_at
        self._since = 0  # phones installed since the last freeze

    def __call__(self, phones: int) -> None:
        """Collect once; freeze the survivors once ``freeze_at`` phones were installed unfrozen."""
        gc.collect()
        self._since += phones
        if self._since >= self._freeze_at:
            gc.freeze()
            self._since = 0

"""Free heap memory handed back to the system after a render (glibc's ``malloc_trim``).

Why: a render allocates and frees far more than the cache keeps (the
snapshot, the templates' output before it is deflated), and glibc keeps
freed pages in its heap. Trimmed after the start-up render and after each
change the cache installs, ``serve`` of ``bench/render.py``'s 10,000
phones was 5 MB lower after start (135 → 130 MB) and after each of two
changes re-rendering half the phones (139 → 134, 140 → 135 MB); in one
process a trim took 1–2 ms (docs/scaling.md "Memory of the cache").
(The cyclic collector is settled separately, by :mod:`._collector`.)
Elsewhere than on glibc (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable

__all__ = ["release_free_memory"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> None:
    """Return the C heap's free pages to the system (blocking: call it off the event loop)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)

"""Free heap memory handed back after a render (serve/_trim.py)."""

from __future__ import annotations

import platform
import sys

from provisioner.serve import _trim


def test_malloc_trim_is_used_exactly_where_the_c_library_is_glibc() -> None:
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert (_trim._malloc_trim() is not None) is glibc
    _trim.release_free_memory()  # and calling it is harmless

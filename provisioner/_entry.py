"""The ``provisioner`` process: start and end without chores a short command does not need.

A one-setting ``set`` spends most of its half second starting and ending
the interpreter rather than writing (docs/performance-notes.md, "The command
line's start"). Two of those costs are not the command's work:

- While some 900 classes and their modules are imported, the cyclic garbage
  collector runs again and again and finds nothing to free. It is off during
  the imports; what they made is then frozen (:func:`gc.freeze`), so later
  collections do not walk it either.
- At exit the interpreter tears every module down and collects what is
  left. By then the command has closed its database connections and flushed
  its output (``cli._run``), so the process ends at once (:func:`os._exit`)
  once logging is shut down, unless another thread still runs (it would
  have been waited for).

Both: 0.62–0.65 → 0.48–0.54 s for ``set`` on PostgreSQL at 100,000
phones (median of five, alternating).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import threading
from typing import NoReturn

__all__ = ["run"]


def run() -> NoReturn:
    """Run the command line (``provisioner.cli.main``) and end the process with its status."""
    gc.disable()
    try:
        from provisioner.cli import main
    finally:
        gc.freeze()
        gc.enable()
    code = main()
    if threading.active_count() > 1:
        sys.exit(code)  # the interpreter waits for the other threads, as it always did
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # Closed by the reader or by the command: the command has said what it had to.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)

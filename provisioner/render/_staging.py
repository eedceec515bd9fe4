"""Staging directories beside a render tree, and the leftovers of killed runs.

A new tree is built in ``.<name>.new-XXXXXXXX`` beside ``<name>``
(``mkdtemp``: mode 0700, eight random characters) and swapped in. A run
killed before the swap (SIGKILL, OOM killer, power loss) leaves that
directory behind, full of plaintext passwords; so does a run killed while
deleting the previous tree, which by then sits under the staging name (or
``.<name>.old-XXXXXXXX`` where the exchange is unavailable). The next
render of the same tree (full or ``--mac``) deletes them, and says so.

An entry is ours only when all of these hold: its name is exactly one of
those two forms for this tree, it is a directory (not a symlink), and it
belongs to the user running the render. Nothing else is touched.

Two renders into one parent directory must not sweep each other's live
staging directory, so each holds an exclusive ``flock(2)`` on the parent
from before it sweeps until its swap is done; the kernel drops a killed
run's lock. Where the file system cannot lock (flock on NFS needs a
writable descriptor, which a directory cannot have) nothing is swept.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["exclusive", "new_staging", "old_name", "sweep"]

_SUFFIX = "[a-z0-9_]{8}"  # tempfile's random names


def new_staging(out: Path) -> Path:
    """A fresh owner-only staging directory for ``out``, beside it."""
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))


def old_name(out: Path) -> Path:
    """An unused name beside ``out`` to move the previous tree to before deleting it."""
    previous = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    previous.rmdir()
    return previous


@contextmanager
def exclusive(parent: Path) -> Iterator[bool]:
    """Hold an exclusive lock on directory ``parent``; yields whether it could be taken."""
    fd = -1
    locked = False
    try:
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits for another render into the same parent
        locked = True
    except OSError:
        pass
    try:
        yield locked
    finally:
        if fd != -1:
            os.close(fd)  # releases the lock


def sweep(out: Path) -> list[Path]:
    """Delete the staging leftovers of ``out`` (call under :func:`exclusive`); the paths."""
    ours = re.compile(re.escape(f".{out.name}.") + f"(?:new|old)-{_SUFFIX}")
    swept = []
    with os.scandir(out.parent) as entries:
        for entry in entries:
            if not ours.fullmatch(entry.name):
                continue
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            if not os.path.lexists(entry.path):
                swept.append(Path(entry.path))
    return swept

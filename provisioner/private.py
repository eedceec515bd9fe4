"""Owner-only files and directories for what holds secrets.

The database keeps SIP passwords in plaintext (phones need them back), a
fleet export holds every one of them, uploads hold what phones changed
through their own menus, and ``tls/`` the HTTPS private key. All of it is
created 0600 in 0700 directories, whatever the umask: open(2) and mkdir(2)
filter their mode through the umask (either way), so modes are set
explicitly after creation. Existing loose modes are tightened with a
warning, but only on what we own: someone else's file is not ours to change.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["PRIVATE_DIR", "PRIVATE_FILE", "make_dirs", "private_dir", "tighten", "write_atomic"]

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

log = logging.getLogger("provisioner.private")


def tighten(path: Path, mode: int) -> None:
    """Drop the permission bits ``mode`` does not grant from ``path``, if it exists and is ours."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    current = stat.S_IMODE(info.st_mode)
    loose = current & ~mode & 0o777
    if loose and info.st_uid == os.geteuid():
        os.chmod(path, current & ~loose)
        log.warning(
            "event=permissions_tightened path=%s was=%04o now=%04o",
            ascii(str(path)),
            current,
            current & ~loose,
        )


def make_dirs(path: Path, mode: int = PRIVATE_DIR, group: int = -1) -> None:
    """Create ``path`` and its missing parents with ``mode`` (and ``group``, a gid, unless -1).

    Directories that exist already are left as they are.
    """
    if path.is_dir():
        return
    make_dirs(path.parent, mode, group)
    try:
        os.mkdir(path, mode & PRIVATE_DIR)  # never wider than the owner's until chmod
    except FileExistsError:
        if path.is_dir():
            return  # created meanwhile by someone else: theirs, not to be changed
        # A file where a directory should be (the "exists" errno would mislead).
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path)) from None
    if group != -1:
        os.chown(path, -1, group)
    os.chmod(path, mode)


def private_dir(path: Path) -> None:
    """Make ``path`` an owner-only directory: created 0700, or tightened to it."""
    make_dirs(path, PRIVATE_DIR)
    tighten(path, PRIVATE_DIR)


def write_atomic(path: Path, data: bytes, mode: int = PRIVATE_FILE, group: int = -1) -> None:
    """Replace ``path`` with ``data`` atomically, created with ``mode`` (and ``group``).

    The temporary file is created 0600 beside ``path`` (so the rename stays
    on one file system), filled, given its mode, flushed to disk and renamed
    over ``path``: a reader sees the old file or the new one, and a crash
    leaves at worst a private ``.<name>.*`` temporary file. A symlink at
    ``path`` is replaced, not followed.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if group != -1:
                os.fchown(handle.fileno(), -1, group)
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

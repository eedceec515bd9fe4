"""Write a complete render tree atomically.

The new tree is written beside the old one and swapped in with one
``renameat2(RENAME_EXCHANGE)`` (Linux ≥ 3.15), so a TFTP or HTTP server
reading the directory sees either the old tree or the new one, never a mix.
Where the exchange is unavailable the fallback is two renames, leaving the
path missing for an instant. A server that chroots or changes directory into
the tree keeps the old inode; point such servers at the parent directory.

Files are created group-readable and not world-readable (security goal 8:
no plaintext secrets in a world-readable TFTP root); run the serving
daemon in the data directory's group.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from provisioner.errors import InputError
from provisioner.render._renderer import RenderedFile

__all__ = ["update_files", "write_tree"]

_DIR_MODE = 0o750
_FILE_MODE = 0o640
_RENAME_EXCHANGE = 2  # linux/fs.h


def _relative(path: str) -> PurePosixPath:
    # Catalog patterns are validated at load time; this is a second line of
    # defence against a path ever leaving the tree.
    rel = PurePosixPath(path)
    if rel.is_absolute() or not rel.parts or any(p in ("..", ".", "") for p in rel.parts):
        raise InputError(f"refusing to write unsafe path {path!r}")
    return rel


def _write(root: Path, path: str, data: bytes) -> None:
    target = root.joinpath(*_relative(path).parts)
    target.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False when the system cannot."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, bytes(a), at_fdcwd, bytes(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL):
        return False
    raise OSError(err, os.strerror(err), str(a))


def write_tree(out: Path, files: Iterable[RenderedFile], keep: Iterable[str] = ()) -> int:
    """Replace directory ``out`` with exactly ``files``; returns how many were written.

    ``keep`` lists paths to carry over from the current tree (the files of a
    phone whose templates failed, so it keeps working with its last good
    configuration).
    """
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        os.chmod(staging, _DIR_MODE)
        count = 0
        for file in files:
            _write(staging, file.path, file.data)
            count += 1
        for path in keep:
            old = out.joinpath(*_relative(path).parts)
            if old.is_file():
                _write(staging, path, old.read_bytes())
        os.sync()  # the new tree is on disk before it becomes visible
        if not out.exists():
            staging.rename(out)
            return count
        if _exchange(staging, out):
            shutil.rmtree(staging)  # now holds the previous tree
            return count
        previous = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        previous.rmdir()
        out.rename(previous)
        staging.rename(out)
        shutil.rmtree(previous)
        return count
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def update_files(out: Path, files: Iterable[RenderedFile]) -> int:
    """Replace single files in place (``render --mac``), each atomically."""
    out.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    count = 0
    for file in files:
        target = out.joinpath(*_relative(file.path).parts)
        target.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(file.data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        count += 1
    return count

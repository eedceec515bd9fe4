"""Write a complete render tree atomically.

The new tree is written beside the old one and swapped in with one
``renameat2(RENAME_EXCHANGE)`` (Linux ≥ 3.15), so a TFTP or HTTP server
reading the directory sees either the old tree or the new one, never a mix.
Where the exchange is unavailable the fallback is two renames, leaving the
path missing for an instant. A server that chroots or changes directory into
the tree keeps the old inode; point such servers at the parent directory.

The tree holds plaintext passwords: it is owner-only unless shared with
one group (:class:`TreeAccess`, ``render --group``), never world-readable
whatever the umask (docs/security.md, files at rest). The staging directory
stays 0700 until the swap, and leftovers of killed runs are swept (``_staging``).

Because a render replaces everything in its directory, it writes only where
that loses nothing: a directory that does not exist yet, an empty one, or
one it rendered before, which it recognises by its marker file
(:data:`MARKER`, written into every tree). Anything else is refused unless
the caller says ``replace``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from provisioner.errors import ConflictError, InputError
from provisioner.private import make_dirs, write_atomic
from provisioner.render._access import OWNER_ONLY, TreeAccess
from provisioner.render._renderer import RenderedFile
from provisioner.render._staging import exclusive, new_staging, old_name, sweep

__all__ = ["MARKER", "update_files", "write_tree"]

log = logging.getLogger("provisioner.render")
_RENAME_EXCHANGE = 2  # linux/fs.h
MARKER = ".provisioner-render"
_MARKER_TEXT = (
    b"This directory is written by `provisioner render --out`, which replaces\n"
    b"everything in it on every run. Without this file, render refuses it.\n"
)


def _relative(path: str) -> PurePosixPath:
    # Catalog patterns are validated at load time; this is a second line of
    # defence against a path ever leaving the tree.
    rel = PurePosixPath(path)
    if rel.is_absolute() or not rel.parts or any(p in ("..", ".", "") for p in rel.parts):
        raise InputError(f"refusing to write unsafe path {path!r}")
    return rel


def _write(root: Path, path: str, data: bytes, access: TreeAccess) -> None:
    target = root.joinpath(*_relative(path).parts)
    make_dirs(target.parent, access.dir_mode, access.group)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, access.file_mode)
    with os.fdopen(fd, "wb") as handle:
        if access.group != -1:
            os.fchown(fd, -1, access.group)
        os.fchmod(fd, access.file_mode)  # open(2) filtered the mode through the umask
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


def _check_target(out: Path, replace: bool) -> None:
    """Refuse to render into ``out`` if that would delete something render did not write."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConflictError(f"{out} is not a directory; render writes a directory of files")
    if replace or (out / MARKER).is_file():
        return
    with os.scandir(out) as entries:
        found = sorted(entry.name for entry in entries)
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise ConflictError(
            f"{out} holds files that provisioner did not render ({shown}), and a render "
            "replaces everything in it: render into a new or empty directory, or give "
            "--replace to delete what is there"
        )


def _sweep(out: Path) -> None:
    for leftover in sweep(out):
        log.warning("event=render_staging_swept path=%s", ascii(str(leftover)))


def write_tree(
    out: Path,
    files: Iterable[RenderedFile],
    keep: Iterable[str] = (),
    access: TreeAccess = OWNER_ONLY,
    *,
    replace: bool = False,
) -> int:
    """Replace directory ``out`` with exactly ``files``; returns how many were written.

    ``keep`` lists paths to carry over from the current tree (the files of a
    phone whose templates failed, so it keeps working with its last good
    configuration). ``access`` says who may read the new tree (default: the
    owner only). An existing ``out`` must be empty or a tree rendered before
    (it holds :data:`MARKER`), unless ``replace``.
    """
    out = out.resolve()
    make_dirs(out.parent, access.dir_mode, access.group)
    with exclusive(out.parent) as locked:
        _check_target(out, replace)
        if locked:
            _sweep(out)
        staging = new_staging(out)
        try:
            _write(staging, MARKER, _MARKER_TEXT, access)
            count = 0
            for file in files:
                _write(staging, file.path, file.data, access)
                count += 1
            for path in keep:
                old = out.joinpath(*_relative(path).parts)
                if old.is_file():
                    _write(staging, path, old.read_bytes(), access)
            os.sync()  # the new tree is on disk before it becomes visible
            if access.group != -1:
                os.chown(staging, -1, access.group)
            os.chmod(staging, access.dir_mode)  # 0700 until now, while it was being filled
            if not out.exists():
                staging.rename(out)
                return count
            if _exchange(staging, out):
                shutil.rmtree(staging)  # now holds the previous tree
                return count
            previous = old_name(out)
            out.rename(previous)
            staging.rename(out)
            shutil.rmtree(previous)
            return count
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def update_files(
    out: Path,
    files: Iterable[RenderedFile],
    access: TreeAccess | None = None,
    *,
    replace: bool = False,
) -> int:
    """Replace single files in place (``render --mac``), each atomically.

    ``access`` defaults to the tree's own: shared with its group if ``out``
    is group-accessible (rendered with ``--group``), else owner-only. Like
    :func:`write_tree`, only into a new, empty or rendered tree unless ``replace``.
    """
    out = out.resolve()
    if access is None:
        access = TreeAccess.of_tree(out)
    make_dirs(out.parent, access.dir_mode, access.group)
    with exclusive(out.parent) as locked:
        _check_target(out, replace)
        if locked:
            _sweep(out)
    make_dirs(out, access.dir_mode, access.group)
    if not (out / MARKER).is_file():
        write_atomic(out / MARKER, _MARKER_TEXT, access.file_mode, access.group)
    count = 0
    for file in files:
        target = out.joinpath(*_relative(file.path).parts)
        make_dirs(target.parent, access.dir_mode, access.group)
        write_atomic(target, file.data, access.file_mode, access.group)
        count += 1
    return count

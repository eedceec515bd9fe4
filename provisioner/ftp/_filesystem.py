"""A virtual filesystem: files come from the backend, never from the disk.

pyftpdlib's :class:`AbstractedFS` maps FTP paths onto a directory and calls
``os`` functions. :class:`VirtualFS` overrides every one of its methods,
here or in :class:`~provisioner.ftp._refusals.RefusingFS` (a test checks
that none is inherited), so a method we forgot cannot quietly fall back to
the local disk. The server looks like one empty, flat directory:

* ``RETR`` sends what ``backend.read`` returned from memory
  (:class:`Download`), reusing the read of an immediately preceding ``SIZE``
  of the same file; when the backend names a file on disk instead
  (firmware), that file is opened read-only and sent in pieces;
* ``STOR`` collects into memory up to ``backend.upload_limit``
  (:class:`Upload`); delivery happens when the transfer completes;
* the only directory is ``/``;
* listings (always empty) and everything else (stat, delete, rename,
  mkdir, chmod, …) are :class:`RefusingFS`'s: refused, or answered with
  nothing.

The filesystem never calls the backend itself: it runs on the loop thread
every session shares. The session asks the backend on a backend thread
first (:meth:`VirtualFS.wants_read`, :meth:`VirtualFS.wants_limit`) and
hands the answer over (:meth:`VirtualFS.give_read`,
:meth:`VirtualFS.give_limit`) before pyftpdlib runs the command.

Paths are never normalised or joined: ``ftp2fs`` returns the client's text
unchanged, and :func:`backend_path` decides what may reach the backend.
Every refusal raises the same :class:`FilesystemError` (:func:`refusal`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from provisioner.ftp._files import Download, Upload
from provisioner.ftp._paths import backend_path
from provisioner.ftp._pyftpdlib import FilesystemError
from provisioner.ftp._refusals import RefusingFS, refusal

__all__ = ["VirtualFS"]

ROOT = "/"


class VirtualFS(RefusingFS):
    """The files of one logged-in FTP session (created by pyftpdlib at login)."""

    def __init__(self, root: str, cmd_channel: Any) -> None:
        super().__init__(ROOT, cmd_channel)
        # The backend's answer to the last read: for the RETR or SIZE it was
        # asked for, and a SIZE's answer also for the RETR that clients (curl,
        # lftp) send next: one backend read instead of two, and the promised
        # size is exactly what is sent even if the file changed in between.
        self._read: tuple[str, bytes | Path | None] | None = None
        self._limit: tuple[str, int] | None = None

    # --- the backend's answers, asked for by the session

    def wants_read(self, raw: str) -> str | None:
        """The path to ask ``backend.read`` for before RETR or SIZE of ``raw``.

        ``None`` when the answer is at hand, or when the path is refused
        without asking.
        """
        path = backend_path(raw)
        if path is None or (self._read is not None and self._read[0] == path):
            return None
        return path

    def give_read(self, path: str, content: bytes | Path | None) -> None:
        """The backend's answer for ``path`` (``None``: not found)."""
        self._read = (path, content)

    def wants_limit(self, raw: str) -> str | None:
        """The path to ask ``backend.upload_limit`` for before STOR of ``raw``, as above."""
        path = backend_path(raw)
        if path is None or (self._limit is not None and self._limit[0] == path):
            return None
        return path

    def give_limit(self, path: str, limit: int) -> None:
        """The backend's upload limit for ``path``."""
        self._limit = (path, limit)

    def _path(self, raw: str) -> str:
        path = backend_path(raw)
        if path is None:
            raise refusal()
        return path

    @staticmethod
    def _content(answer: tuple[str, bytes | Path | None] | None, path: str) -> bytes | Path:
        """What the backend gave for ``path``; refused when it was not asked or found nothing."""
        if answer is None or answer[0] != path or answer[1] is None:
            raise refusal()
        return answer[1]

    # --- paths: the client's text, untouched

    def ftpnorm(self, ftppath: str) -> str:
        """The client's path as sent (never normalised)."""
        return ftppath

    def ftp2fs(self, ftppath: str) -> str:
        """The client's path as sent (never joined onto a directory)."""
        return ftppath

    def fs2ftp(self, fspath: str) -> str:
        """The inverse of :meth:`ftp2fs`: the same text."""
        return fspath

    def realpath(self, path: str) -> str:
        """There are no links: the same text."""
        return path

    def validpath(self, path: str) -> bool:
        """Always true: there is no directory to escape; paths are checked where used."""
        return True

    # --- files

    def open(self, filename: str, mode: str) -> Download | Upload | BinaryIO:
        """A download (``rb``) from the backend or an upload (``wb``) into memory.

        Appending and resuming (other modes) are refused.
        """
        read, self._read = self._read, None
        limit, self._limit = self._limit, None
        path = self._path(filename)
        if mode == "rb":
            content = self._content(read, path)
            if isinstance(content, Path):
                try:
                    return open(content, "rb")  # a file the backend chose, not the client
                except OSError:
                    raise refusal() from None
            return Download(path, content)
        if mode == "wb":
            if limit is None or limit[0] != path or limit[1] <= 0:
                raise refusal()
            return Upload(path, limit[1])
        raise refusal()

    def mkstemp(
        self, suffix: str = "", prefix: str = "", dir: str | None = None, mode: str = "wb"
    ) -> NoReturn:
        """Refused: the server never names files for the client (STOU)."""
        raise refusal()

    def getsize(self, path: str) -> int:
        """The file's size in bytes (SIZE); its content is kept for a following RETR of it."""
        try:
            content = self._content(self._read, self._path(path))
            if isinstance(content, Path):
                return content.stat().st_size
        except (OSError, FilesystemError):
            self._read = None
            raise refusal() from None
        return len(content)

    def isfile(self, path: str) -> bool:
        """False: existence is only ever revealed by reading."""
        return False

    def lexists(self, path: str) -> bool:
        """False: existence is only ever revealed by reading."""
        return False

    # --- the one directory

    def isdir(self, path: str) -> bool:
        """True for any path, so every listing is the same empty one."""
        return True

    def chdir(self, path: str) -> None:
        """Only ``/`` exists."""
        if path != ROOT:
            raise refusal()

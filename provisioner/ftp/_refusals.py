"""What the virtual filesystem refuses, or answers with nothing.

:class:`RefusingFS` is the part of :class:`AbstractedFS` the provisioning
server does not offer: it overrides each such method to refuse, or to
answer emptily, and never touches the disk.

* stat, links and modification times: refused (there is nothing to stat,
  and there are no links);
* listings: always empty (phones never list, and names are not disclosed);
  the owner and group of a listed file are never shown;
* changes (mkdir, rmdir, delete, rename, chmod, utime): refused.

:class:`~provisioner.ftp._filesystem.VirtualFS` builds on it with what is
offered: paths, files and the one directory. Every refusal raises the same
:class:`FilesystemError` (:func:`refusal`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn

from provisioner.ftp._pyftpdlib import AbstractedFS, FilesystemError
from provisioner.ftp._replies import UNAVAILABLE_REASON

__all__ = ["RefusingFS", "refusal"]


def refusal() -> FilesystemError:
    """The error every refused filesystem operation raises (the session answers 550)."""
    return FilesystemError(UNAVAILABLE_REASON)


class RefusingFS(AbstractedFS):
    """The filesystem methods that refuse, or answer with nothing."""

    # --- stat and links: refused

    def getmtime(self, path: str) -> NoReturn:
        """Refused: files have no modification time here."""
        raise refusal()

    def stat(self, path: str) -> NoReturn:
        """Refused: there is nothing to stat."""
        raise refusal()

    def lstat(self, path: str) -> NoReturn:
        """Refused: there is nothing to stat."""
        raise refusal()

    def readlink(self, path: str) -> NoReturn:
        """Refused: there are no links."""
        raise refusal()

    def islink(self, path: str) -> bool:
        """False: there are no links."""
        return False

    # --- listings: always empty

    def listdir(self, path: str) -> list[str]:
        """Always empty: file names are not disclosed."""
        return []

    def listdirinfo(self, path: str) -> list[str]:
        """Always empty: file names are not disclosed."""
        return []

    def format_list(
        self, basedir: str, listing: list[str], ignore_err: bool = True
    ) -> Iterator[bytes]:
        """No lines, whatever is asked for."""
        return iter(())

    def format_mlsx(
        self,
        basedir: str,
        listing: list[str],
        perms: str,
        facts: list[str],
        ignore_err: bool = True,
    ) -> Iterator[bytes]:
        """No entries for a directory (MLSD); refused for a single name (MLST)."""
        if listing:
            raise refusal()
        return iter(())

    def get_user_by_uid(self, uid: int) -> str:
        """Listings are empty, so no owner is ever shown."""
        return "ftp"

    def get_group_by_gid(self, gid: int) -> str:
        """Listings are empty, so no group is ever shown."""
        return "ftp"

    # --- changes: all refused

    def mkdir(self, path: str) -> NoReturn:
        """Refused."""
        raise refusal()

    def rmdir(self, path: str) -> NoReturn:
        """Refused."""
        raise refusal()

    def remove(self, path: str) -> NoReturn:
        """Refused."""
        raise refusal()

    def rename(self, src: str, dst: str) -> NoReturn:
        """Refused."""
        raise refusal()

    def chmod(self, path: str, mode: int) -> NoReturn:
        """Refused."""
        raise refusal()

    def utime(self, path: str, timeval: float) -> NoReturn:
        """Refused."""
        raise refusal()

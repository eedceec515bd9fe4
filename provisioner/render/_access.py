"""Who may read a render tree: its owner only (the default), or also one group.

A render tree holds the phones' SIP passwords in plaintext, so it is
owner-only unless ``render --group GROUP`` shares it with the group a
separate TFTP or HTTP daemon reads as (tftpd-hpa runs as ``tftp`` on
Debian). Nothing is ever world-readable (security goal 8).
"""

from __future__ import annotations

import grp
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import InputError
from provisioner.private import PRIVATE_DIR, PRIVATE_FILE

__all__ = ["OWNER_ONLY", "TreeAccess"]


@dataclass(frozen=True, slots=True)
class TreeAccess:
    """Modes and group for a tree's files and directories."""

    group: int = -1  # a gid that may read the tree; -1: the owner only

    @property
    def file_mode(self) -> int:
        """0600, or 0640 when shared with a group."""
        return PRIVATE_FILE if self.group == -1 else 0o640

    @property
    def dir_mode(self) -> int:
        """0700, or 0750 when shared with a group."""
        return PRIVATE_DIR if self.group == -1 else 0o750

    @classmethod
    def shared(cls, group: str) -> TreeAccess:
        """Shared with ``group`` (a name or a gid); refused unless this process may chown to it.

        chown(2) lets an unprivileged owner give a file only to a group the
        process is a member of; checking first means nothing is written when
        it would fail.
        """
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise InputError(f"--group {group}: no such group") from None
        if os.geteuid() != 0 and gid != os.getegid() and gid not in os.getgroups():
            raise InputError(
                f"--group {group}: not one of this user's groups, so files cannot be given to it"
            )
        return cls(gid)

    @classmethod
    def of_tree(cls, root: Path) -> TreeAccess:
        """As an existing tree is: shared with its group if ``root`` is group-accessible."""
        try:
            info = root.stat()
        except FileNotFoundError:
            return cls()
        return cls(info.st_gid) if stat.S_IMODE(info.st_mode) & 0o050 else cls()


OWNER_ONLY = TreeAccess()

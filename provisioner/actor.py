"""Who is writing, and how: the context every service-layer write carries.

The command line, the admin API and the server itself (auto-registering an
unknown device) call the same service functions; each passes an
:class:`Actor` saying who it is, which request this is, and whether the
write is a dry run (validated and rolled back). The audit log records it
(:mod:`provisioner.audit`).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, replace
from enum import StrEnum

__all__ = ["Actor", "ActorKind"]


class ActorKind(StrEnum):
    """Where a write came from."""

    API = "api"  # an API key
    CLI = "cli"  # the command line, as an OS user
    SERVER = "server"  # provisioner serve on its own (unknown devices, rollouts)
    UI = "ui"  # a web UI account (provisioner/accounts.py)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who writes (``name``: the key's name, the OS user or the server's task)."""

    kind: ActorKind
    name: str
    key_id: int | None = None
    request_id: str = ""
    dry_run: bool = False

    @classmethod
    def cli(cls) -> Actor:
        """The command line, as the OS user running it."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a container): say so
            user = "unknown"
        return cls(ActorKind.CLI, user)

    @classmethod
    def server(cls, task: str) -> Actor:
        """``provisioner serve`` acting on its own (``task``: e.g. ``auto-register``)."""
        return cls(ActorKind.SERVER, task)

    def previewing(self) -> Actor:
        """The same actor for a dry run."""
        return replace(self, dry_run=True)

    def __str__(self) -> str:
        if self.kind is ActorKind.API:
            return f"apikey {self.name} (id {self.key_id})"
        if self.kind is ActorKind.UI:
            return f"account {self.name}"
        return f"{self.kind.value} {self.name}"

"""Where each phone's last admitted fetch came from: learned by the gateway, read by others.

The gateway writes it (only for fetches it admitted, never a challenged or
refused one); the job runner reads it for a direct NOTIFY's destination and
the access rules for "at home" uploads; the server flushes what changed to
the ``phone_addresses`` table, which other nodes and restarts fall back on.
The server owns it, so none of those readers depends on the gateway.
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioner.store import Admitted

__all__ = ["LearnedAddresses"]


class LearnedAddresses:
    """MAC → address of its last admitted fetch, and the changes not yet written."""

    def __init__(self) -> None:
        self._current: dict[str, str] = {}
        self._unwritten: dict[str, Admitted] = {}

    @property
    def current(self) -> Mapping[str, str]:
        """The addresses as learned so far (read only)."""
        return self._current

    def learn(self, mac: str, address: str, protocol: str, now: float) -> None:
        """Record an admitted fetch of ``mac`` from ``address``."""
        if self._current.get(mac) != address:
            self._current[mac] = address
            self._unwritten[mac] = Admitted(mac, address, protocol, int(now))

    def take(self) -> list[Admitted]:
        """Changes since the last call, for the database (every node reads them)."""
        taken, self._unwritten = self._unwritten, {}
        return list(taken.values())

"""Rate limiting of failed lookups per source address, with temporary bans.

Theory of operation
-------------------
A failure is counted against the address it came from. ``limit`` failures
within ``window`` seconds ban the address for ``ban_seconds``; while banned,
every request from it gets the uniform not-found without being looked at
(security goal 3).

A failure may carry a *key*: failures with the same key count once per
window. Lookups of unknown MACs use the MAC as key, so a walk over many MACs
is banned quickly while one unprovisioned phone retrying its few files (or
a dozen of them behind one NAT address) is not. Failures without a key
(wrong credentials, unsafe paths, malformed packets) each count.

Addresses in ``exempt`` (``serve --ban-exempt``) are never counted nor
banned. Bans are shared through the database: :meth:`take_new` hands the
server the bans made here since it last asked, and :meth:`replace` installs
the set every node agreed on (the database's, plus those not written yet).

Pure: time is passed in; no I/O. Memory is bounded: at most ``max_clients``
addresses are tracked, oldest first out.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from provisioner.serve._model import Network, allowed

__all__ = ["FailureTracker", "NewBan"]


@dataclass(frozen=True, slots=True)
class NewBan:
    """A ban made by this node, to be written to the database."""

    address: str
    until: float
    reason: str
    created_at: float


@dataclass(slots=True)
class _Window:
    """Failures of one address within the window, oldest first."""

    times: deque[tuple[float, str | None]] = field(default_factory=deque)
    keys: dict[str, int] = field(default_factory=dict)  # keyed failures in the window

    def prune(self, horizon: float) -> None:
        while self.times and self.times[0][0] <= horizon:
            _, key = self.times.popleft()
            if key is not None:
                left = self.keys[key] - 1
                if left:
                    self.keys[key] = left
                else:
                    del self.keys[key]


class FailureTracker:
    """Counts failures per address; pure, time passed in."""

    def __init__(
        self,
        *,
        limit: int = 30,
        window: float = 60.0,
        ban_seconds: float = 600.0,
        exempt: tuple[Network, ...] = (),
        max_clients: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.ban_seconds = ban_seconds
        self.exempt = exempt
        self.max_clients = max_clients
        self._failures: OrderedDict[str, _Window] = OrderedDict()
        self._banned: dict[str, float] = {}
        self._new: list[NewBan] = []
        self._unwritten: dict[str, float] = {}  # bans taken but not confirmed written

    def banned(self, client: str, now: float) -> bool:
        """True while ``client`` is banned."""
        until = self._banned.get(client)
        if until is None:
            return False
        if now >= until:
            del self._banned[client]
            return False
        return True

    def failure(self, client: str, now: float, key: str | None = None, reason: str = "") -> bool:
        """Record a failure; True when it starts a ban.

        A failure whose ``key`` was already counted within the window adds
        nothing. Exempt addresses are never counted.
        """
        if self.exempt and allowed(client, self.exempt):
            return False
        window = self._failures.get(client)
        if window is None:
            window = self._failures[client] = _Window()
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
        self._failures.move_to_end(client)
        window.prune(now - self.window)
        if key is not None:
            if key in window.keys:
                return False
            window.keys[key] = 1
        window.times.append((now, key))
        if len(window.times) < self.limit:
            return False
        del self._failures[client]
        until = now + self.ban_seconds
        self._banned[client] = until
        self._new.append(NewBan(client, until, reason, now))
        return True

    def take_new(self) -> list[NewBan]:
        """The bans made since the last call, to be written; kept until :meth:`replace`."""
        taken, self._new = self._new, []
        for ban in taken:
            self._unwritten[ban.address] = max(ban.until, self._unwritten.get(ban.address, 0.0))
        return taken

    def written(self, bans: Iterable[NewBan]) -> None:
        """These bans are in the database now."""
        for ban in bans:
            if self._unwritten.get(ban.address) == ban.until:
                del self._unwritten[ban.address]

    def replace(self, active: Iterable[tuple[str, float]], now: float) -> None:
        """Install the bans the database holds, keeping this node's unwritten ones.

        A ban lifted in the database (``provisioner ban rm``) is lifted here;
        one made on another node starts to hold here.
        """
        banned = {
            address: until
            for address, until in active
            if until > now and not (self.exempt and allowed(address, self.exempt))
        }
        local = [*self._unwritten.items(), *((b.address, b.until) for b in self._new)]
        for address, until in local:
            if until > now:
                banned[address] = max(until, banned.get(address, 0.0))
        self._banned = banned

    def active(self) -> dict[str, float]:
        """Bans known here, by address (for metrics and tests)."""
        return dict(self._banned)

"""Rate limiting of failed lookups per source address, with temporary bans.

Every uniform not-found and every failed authentication counts as a
failure; ``limit`` failures within ``window`` seconds ban the address for
``ban_seconds``. While banned, every request from it gets the uniform
not-found without being looked at. Memory is bounded: at most
``max_clients`` addresses are tracked, oldest first out (security goal 3).
"""

from __future__ import annotations

from collections import OrderedDict, deque

__all__ = ["FailureTracker"]


class FailureTracker:
    """Counts failures per address; pure, time passed in."""

    def __init__(
        self,
        *,
        limit: int = 30,
        window: float = 60.0,
        ban_seconds: float = 600.0,
        max_clients: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.ban_seconds = ban_seconds
        self.max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._banned: dict[str, float] = {}

    def banned(self, client: str, now: float) -> bool:
        """True while ``client`` is banned."""
        until = self._banned.get(client)
        if until is None:
            return False
        if now >= until:
            del self._banned[client]
            return False
        return True

    def failure(self, client: str, now: float) -> bool:
        """Record a failure; True when it starts a ban."""
        times = self._failures.get(client)
        if times is None:
            times = self._failures[client] = deque()
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
        self._failures.move_to_end(client)
        times.append(now)
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            del self._failures[client]
            self._banned[client] = now + self.ban_seconds
            return True
        return False

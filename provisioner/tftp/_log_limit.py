"""Which refusals get a log line: at most one per client address per interval.

A refused datagram costs an attacker one packet and us, unchecked, one log
line: 45,000 packets in 5 s once wrote 18 MB. So a refusal is logged only if
its address has had no line for ``interval`` seconds, and lines suppressed
in between are counted and reported with the next line that gets through.
Spoofed source addresses (cheap with UDP, and plentiful with IPv6) would
each get a line of their own, so at most ``burst`` lines are written per
interval in all, whatever the addresses.

Memory is bounded: at most ``max_clients`` addresses are remembered, the
least recently seen forgotten first (with any count of lines suppressed
for it). Pure: the time is passed in, nothing here logs.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["LogLimiter"]


@dataclass(slots=True)
class _Client:
    logged: float | None  # when this address last had a line; None: never
    suppressed: int  # its lines not written since then


class LogLimiter:
    """Decides, per address, whether a refusal is logged now."""

    def __init__(
        self, *, interval: float = 60.0, burst: int = 100, max_clients: int = 10_000
    ) -> None:
        if interval < 0 or burst < 1 or max_clients < 1:
            raise ValueError("interval must be >= 0, burst and max_clients >= 1")
        self.interval = interval
        self.burst = burst
        self.max_clients = max_clients
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._window_start: float | None = None  # of the current burst window
        self._lines = 0  # lines written in the current burst window

    def admit(self, client: str, now: float) -> int | None:
        """``None`` to suppress this line (it is counted); otherwise log it now,
        saying how many of this address's lines were suppressed since its last."""
        entry = self._clients.get(client)
        if entry is None:
            entry = self._clients[client] = _Client(None, 0)
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(client)
        recent = entry.logged is not None and now - entry.logged < self.interval
        if recent or not self._budget(now):
            entry.suppressed += 1
            return None
        suppressed = entry.suppressed
        entry.logged, entry.suppressed = now, 0
        self._lines += 1
        return suppressed

    def _budget(self, now: float) -> bool:
        """Whether the interval's line budget across all addresses has room."""
        if self._window_start is None or now - self._window_start >= self.interval:
            self._window_start, self._lines = now, 0
        return self._lines < self.burst

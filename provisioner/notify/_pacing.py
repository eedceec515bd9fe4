"""Pacing: a token bucket per tenant (pure; time passed in)."""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``.

    A small burst (a tenth of a second's worth, at least one) keeps the
    sending rate steady rather than bursty.
    """

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self._tokens = 0.0
        self._at = now

    @property
    def burst(self) -> float:
        """The most tokens the bucket holds."""
        return max(1.0, self.rate / 10)

    def available(self, now: float) -> int:
        """Whole tokens available at ``now``."""
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return int(self._tokens)

    def take(self, count: int) -> None:
        """Spend ``count`` tokens (after :meth:`available`)."""
        self._tokens -= count

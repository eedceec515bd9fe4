"""Pacing: one token bucket per tenant, kept as a single time (pure; time passed in).

The bucket of ``notify.rate`` tokens per second is stored as ``next_at``,
the time up to which tokens have been spent (GCRA, the generic cell rate
algorithm of ATM traffic shaping): tokens accrue from ``next_at`` to now, at
most :data:`BURST_SECONDS`' worth. One number per tenant is what lets every
node of a cluster share the bucket: the store keeps it in ``notify_pacing``
and advances it in the transaction that claims targets.

The burst is a second's worth: a runner round (25 to 50 ms apart, longer while the
database is busy) must find every token that accrued since the last one, or
a high rate is lost to rounding; a second also covers a node that was slow
to come round. A new bucket starts empty, so a job's rate is its
configured one from its first NOTIFY.
"""

from __future__ import annotations

__all__ = ["BURST_SECONDS", "advance", "available"]

BURST_SECONDS = 1.0
_EPSILON = 1e-9  # float error must not round a whole token away


def _start(next_at: float, now: float) -> float:
    """Where the bucket's accrual starts: tokens beyond the burst are lost."""
    return max(next_at, now - BURST_SECONDS)


def available(rate: float, next_at: float, now: float) -> int:
    """Whole tokens (NOTIFYs that may start) at ``now``."""
    if rate <= 0:
        return 0
    return max(0, int((now - _start(next_at, now)) * rate + _EPSILON))


def advance(rate: float, next_at: float, now: float, spent: int) -> float:
    """The bucket's ``next_at`` after ``spent`` tokens were taken at ``now``."""
    return _start(next_at, now) + spent / rate if rate > 0 else now

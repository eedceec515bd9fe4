"""LogLimiter as a state table: (address, time) in, "log with N suppressed" or "suppress" out."""

from __future__ import annotations

import pytest

from provisioner.tftp._log_limit import LogLimiter

# Each row: the address and the (fake) time of a refusal, and the verdict:
# None to suppress it, N to log it saying N lines of that address were suppressed.
ROWS: list[tuple[str, float, int | None]] = [
    ("10.0.0.1", 0.0, 0),  # first line of an address: logged
    ("10.0.0.1", 0.0, None),  # same instant: suppressed (1)
    ("10.0.0.1", 30.0, None),  # within the interval: suppressed (2)
    ("10.0.0.2", 30.0, 0),  # another address has a budget of its own
    ("10.0.0.1", 59.999, None),  # still within: suppressed (3)
    ("10.0.0.1", 60.0, 3),  # interval over: logged, with the 3 suppressed
    ("10.0.0.1", 61.0, None),  # a new interval from that line
    ("10.0.0.2", 90.0, 0),  # nothing suppressed for .2 in between
    ("10.0.0.1", 200.0, 1),
    ("10.0.0.1", 260.0, 0),
]


def test_state_table() -> None:
    limiter = LogLimiter(interval=60.0)
    for client, now, verdict in ROWS:
        assert limiter.admit(client, now) == verdict, (client, now)


def test_interval_zero_logs_everything() -> None:
    limiter = LogLimiter(interval=0.0)
    assert [limiter.admit("a", 5.0) for _ in range(3)] == [0, 0, 0]


def test_burst_bounds_lines_across_addresses() -> None:
    # Spoofed sources: every address is new, so only the shared budget holds.
    limiter = LogLimiter(interval=60.0, burst=3)
    verdicts = [limiter.admit(f"10.0.0.{n}", 1.0) for n in range(5)]
    assert verdicts == [0, 0, 0, None, None]
    assert limiter.admit("10.0.0.4", 59.0) is None  # the budget is spent until 61
    assert limiter.admit("10.0.0.4", 61.0) == 2  # its own two suppressed lines
    assert limiter.admit("10.0.0.9", 61.0) == 0


def test_memory_is_bounded_oldest_forgotten_first() -> None:
    limiter = LogLimiter(interval=60.0, max_clients=2)
    assert limiter.admit("a", 0.0) == 0
    assert limiter.admit("a", 1.0) is None  # a: 1 suppressed
    assert limiter.admit("b", 2.0) == 0
    assert limiter.admit("c", 3.0) == 0  # forgets a, the least recently seen
    assert limiter.admit("a", 4.0) == 0  # a new line for a; its count is lost
    assert limiter.admit("c", 5.0) is None  # c was kept (b went)
    assert limiter.admit("b", 6.0) == 0


@pytest.mark.parametrize(
    ("interval", "burst", "max_clients"), [(-1.0, 1, 1), (60.0, 0, 1), (60.0, 1, 0)]
)
def test_bad_settings(interval: float, burst: int, max_clients: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        LogLimiter(interval=interval, burst=burst, max_clients=max_clients)

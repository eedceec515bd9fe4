"""Failure counting and temporary bans."""

from __future__ import annotations

from provisioner.serve._bans import FailureTracker


def test_ban_after_limit_within_window_and_expiry() -> None:
    tracker = FailureTracker(limit=3, window=10.0, ban_seconds=60.0)
    assert not tracker.failure("10.0.0.1", 0.0)
    assert not tracker.failure("10.0.0.1", 1.0)
    assert tracker.failure("10.0.0.1", 2.0)
    assert tracker.banned("10.0.0.1", 3.0)
    assert not tracker.banned("10.0.0.2", 3.0)
    assert not tracker.banned("10.0.0.1", 62.0)


def test_failures_outside_the_window_do_not_count() -> None:
    tracker = FailureTracker(limit=3, window=10.0, ban_seconds=60.0)
    for t in (0.0, 11.0, 22.0, 33.0):
        assert not tracker.failure("10.0.0.1", t)


def test_memory_is_bounded() -> None:
    tracker = FailureTracker(limit=3, window=10.0, ban_seconds=60.0, max_clients=100)
    for i in range(1000):
        tracker.failure(f"10.0.{i // 256}.{i % 256}", 1.0)
    assert len(tracker._failures) == 100

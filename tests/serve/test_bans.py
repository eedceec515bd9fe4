"""Failure counting and temporary bans."""

from __future__ import annotations

from provisioner.serve._bans import FailureTracker
from provisioner.settings import parse_networks


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


def test_one_key_counts_once_per_window() -> None:
    # One unknown MAC asked for again and again is one failure; a walk over
    # many MACs is many.
    tracker = FailureTracker(limit=3, window=10.0, ban_seconds=60.0)
    for t in range(20):
        assert not tracker.failure("10.0.0.1", float(t) / 10, key="mac:0004f2000001")
    assert not tracker.failure("10.0.0.1", 2.0, key="mac:0004f2000002")
    assert tracker.failure("10.0.0.1", 2.1, key="mac:0004f2000003")


def test_a_key_counts_again_once_it_left_the_window() -> None:
    tracker = FailureTracker(limit=2, window=10.0, ban_seconds=60.0)
    assert not tracker.failure("10.0.0.1", 0.0, key="mac:a")
    assert not tracker.failure("10.0.0.1", 5.0, key="mac:a")  # still in the window
    assert not tracker.failure("10.0.0.1", 10.5, key="mac:a")  # the first one left it
    assert tracker.failure("10.0.0.1", 11.0, key="mac:b")


def test_unkeyed_failures_each_count() -> None:
    tracker = FailureTracker(limit=3, window=10.0, ban_seconds=60.0)
    assert not tracker.failure("10.0.0.1", 0.0)
    assert not tracker.failure("10.0.0.1", 0.0, key="mac:a")
    assert tracker.failure("10.0.0.1", 0.0)


def test_exempt_networks_are_never_counted_nor_banned() -> None:
    exempt = tuple(parse_networks("10.1.0.0/16,fd00::/8"))
    tracker = FailureTracker(limit=1, window=10.0, ban_seconds=60.0, exempt=exempt)
    for client in ("10.1.2.3", "::ffff:10.1.2.3", "fd00::1"):
        assert not tracker.failure(client, 0.0)
        assert not tracker.banned(client, 0.0)
    tracker.replace([("10.1.2.3", 100.0)], 0.0)  # a ban made by a node without the exemption
    assert not tracker.banned("10.1.2.3", 1.0)
    assert tracker.failure("10.2.0.1", 0.0)


def test_new_bans_are_handed_over_and_kept_until_written() -> None:
    tracker = FailureTracker(limit=1, window=10.0, ban_seconds=60.0)
    assert tracker.failure("10.0.0.1", 0.0, reason="lookup_failed")
    (new,) = tracker.take_new()
    assert (new.address, new.until, new.reason) == ("10.0.0.1", 60.0, "lookup_failed")
    assert tracker.take_new() == []
    # The database does not have it yet: it still holds here.
    tracker.replace([], 1.0)
    assert tracker.banned("10.0.0.1", 1.0)
    tracker.written([new])
    # Written, then lifted in the database (provisioner ban rm): lifted here.
    tracker.replace([], 2.0)
    assert not tracker.banned("10.0.0.1", 2.0)


def test_bans_from_the_database_hold_and_expire() -> None:
    tracker = FailureTracker(limit=5, window=10.0, ban_seconds=60.0)
    tracker.replace([("192.0.2.1", 50.0), ("192.0.2.2", 5.0)], 10.0)
    assert tracker.active() == {"192.0.2.1": 50.0}
    assert tracker.banned("192.0.2.1", 49.0)
    assert not tracker.banned("192.0.2.1", 50.0)

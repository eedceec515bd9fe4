"""Time zone rules read from the pinned tzdata footers."""

from __future__ import annotations

import pytest

from provisioner.settings import timezone


def test_every_zone_parses() -> None:
    names = sorted(timezone._zone_names())
    assert len(names) > 300
    for name in names:
        rule = timezone.rule_for(name)
        assert -14 * 3600 <= rule.offset_seconds <= 14 * 3600, name


@pytest.mark.parametrize(
    ("name", "offset", "dst"),
    [
        ("UTC", 0, None),
        ("Europe/Berlin", 3600, ((3, 5, 0, 7200), (10, 5, 0, 10800))),
        ("America/New_York", -18000, ((3, 2, 0, 7200), (11, 1, 0, 7200))),
        ("Asia/Kolkata", 19800, None),
        ("Australia/Sydney", 36000, ((10, 1, 0, 7200), (4, 1, 0, 10800))),
    ],
)
def test_known_rules(name: str, offset: int, dst: tuple[tuple[int, ...], ...] | None) -> None:
    rule = timezone.rule_for(name)
    assert rule.offset_seconds == offset
    if dst is None:
        assert rule.dst is None
    else:
        assert rule.dst is not None
        start, end = rule.dst.start, rule.dst.end
        assert (start.month, start.week, start.weekday, start.seconds) == dst[0]
        assert (end.month, end.week, end.weekday, end.seconds) == dst[1]
        assert rule.dst_save_minutes == 60


def test_negative_and_late_transition_times() -> None:
    # America/Nuuk: <-02>2<-01>,M3.5.0/-1,M10.5.0/0 (RFC 8536 §3.3.1 extension).
    rule = timezone.parse_posix("x", "<-02>2<-01>,M3.5.0/-1,M10.5.0/0")
    assert rule.offset_seconds == -7200
    assert rule.dst is not None
    assert rule.dst.start.seconds == -3600
    assert rule.dst.end.seconds == 0


def test_unknown_zone() -> None:
    assert not timezone.exists("Mars/Olympus")
    with pytest.raises(KeyError):
        timezone.rule_for("Mars/Olympus")


def test_unsupported_posix_form() -> None:
    with pytest.raises(ValueError, match="unsupported POSIX TZ"):
        timezone.parse_posix("x", "EST5EDT,J60,J300")

"""IANA time zones reduced to the rule phones understand.

Phones do not know IANA names: Polycom wants a GMT offset in seconds plus
daylight-saving start/stop as month/week/weekday, Yealink and Cisco want an
offset and a rule string. Every modern TZif file ends with a POSIX TZ string
(RFC 8536 §3.3, "footer") that states the rule in force from now on, e.g.
``EST5EDT,M3.2.0,M11.1.0``. We read that footer from the pinned ``tzdata``
package rather than the host's ``/usr/share/zoneinfo`` so that rendered files
are byte-identical on every machine, and never depend on today's date.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from dataclasses import dataclass

__all__ = ["DstRule", "Transition", "ZoneRule", "exists", "rule_for"]


@dataclass(frozen=True, slots=True)
class Transition:
    """When daylight saving starts or ends, POSIX ``Mm.w.d/time`` form.

    ``week`` is 1–5 where 5 means the last such weekday of the month;
    ``weekday`` is 0 (Sunday) – 6 (Saturday); ``seconds`` is local wall-clock
    time of the change in seconds after midnight (may be negative or over 24 h
    per RFC 8536 §3.3.1).
    """

    month: int
    week: int
    weekday: int
    seconds: int

    @property
    def hour(self) -> int:
        """Whole hours of the change time (what most phones accept)."""
        return self.seconds // 3600


@dataclass(frozen=True, slots=True)
class DstRule:
    """Daylight saving: its UTC offset and the two transitions."""

    abbreviation: str
    offset_seconds: int
    start: Transition
    end: Transition


@dataclass(frozen=True, slots=True)
class ZoneRule:
    """The standing rule of one IANA zone.

    Offsets are seconds east of UTC (Berlin standard time is +3600).
    """

    name: str
    posix: str
    abbreviation: str
    offset_seconds: int
    dst: DstRule | None

    @property
    def dst_save_minutes(self) -> int:
        """Minutes added during daylight saving, 0 without it."""
        if self.dst is None:
            return 0
        return (self.dst.offset_seconds - self.offset_seconds) // 60


_NAME = r"(?:[A-Za-z]{3,}|<[A-Za-z0-9+\-]{3,}>)"
_OFFSET = r"[+-]?\d{1,3}(?::\d{2}){0,2}"
_RULE = r"(?:M\d{1,2}\.\d\.\d(?:/[+-]?\d{1,3}(?::\d{2}){0,2})?)"
_POSIX = re.compile(
    rf"(?P<std>{_NAME})(?P<stdoff>{_OFFSET})"
    rf"(?:(?P<dst>{_NAME})(?P<dstoff>{_OFFSET})?,(?P<start>{_RULE}),(?P<end>{_RULE}))?"
)


def _seconds(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")]
    parts += [0] * (3 - len(parts))
    return sign * (parts[0] * 3600 + parts[1] * 60 + parts[2])


def _transition(text: str) -> Transition:
    date, _, time = text[1:].partition("/")
    month, week, weekday = (int(p) for p in date.split("."))
    return Transition(month, week, weekday, _seconds(time) if time else 7200)


def parse_posix(name: str, posix: str) -> ZoneRule:
    """Parse a POSIX TZ string (the subset tzdata footers use).

    POSIX offsets count west of UTC (``EST5`` is UTC-5); we flip the sign.
    :raises ValueError: for forms tzdata does not emit (``Jn`` day rules).
    """
    match = _POSIX.fullmatch(posix)
    if match is None:
        raise ValueError(f"unsupported POSIX TZ string {posix!r} for {name}")
    std_offset = -_seconds(match["stdoff"])
    dst = None
    if match["dst"]:
        dst_offset = -_seconds(match["dstoff"]) if match["dstoff"] else std_offset + 3600
        dst = DstRule(
            abbreviation=match["dst"].strip("<>"),
            offset_seconds=dst_offset,
            start=_transition(match["start"]),
            end=_transition(match["end"]),
        )
    return ZoneRule(name, posix, match["std"].strip("<>"), std_offset, dst)


@functools.cache
def _zone_names() -> frozenset[str]:
    text = importlib.resources.files("tzdata").joinpath("zones").read_text("ascii")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def exists(name: str) -> bool:
    """True when ``name`` is an IANA zone in the pinned tzdata."""
    return name in _zone_names()


@functools.cache
def rule_for(name: str) -> ZoneRule:
    """Return the standing rule of IANA zone ``name``.

    :raises KeyError: when the zone does not exist.
    """
    if not exists(name):
        raise KeyError(name)
    resource = importlib.resources.files("tzdata.zoneinfo")
    for part in name.split("/"):
        resource = resource.joinpath(part)
    data = resource.read_bytes()
    # The footer is the last line: b"\n<TZ string>\n" (RFC 8536 §3.3).
    footer = data.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode("ascii")
    return parse_posix(name, footer)

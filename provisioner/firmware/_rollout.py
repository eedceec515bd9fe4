"""Staged firmware rollout: the decisions, as a pure function of state, reports and time.

Theory of operation
-------------------
A rollout moves a list of phones (in a fixed order) to one firmware set in
*waves*: first ``canary`` phones, then ``canary × growth``, ``canary ×
growth²`` … Starting a wave pins the set's label on its phones (a phone
scope ``firmware.label``) and reboots them with a check-sync NOTIFY; the
phones fetch their files, flash the image, and come back. A phone counts as
*upgraded* when a request it makes after its wave started reports the set's
version in its User-Agent (the seen records).

A wave ends when every phone of it is upgraded, or at its deadline
(``wave_seconds``); phones still waiting then have *failed*. If the share of
upgraded phones in the wave is below ``threshold`` the rollout *halts* on
its own, before touching another phone; otherwise the next wave starts, and
after the last one the rollout is *done*. Halting by hand and rolling back
(restoring each touched phone's previous label) are the store's job; this
module only decides.

:func:`advance` takes a :class:`RolloutView` (what the store holds), the
latest report of each phone and ``now``, and returns a :class:`Decision`;
the runner applies it in one transaction. Nothing here does I/O, so every
path is tested with made-up reports and clocks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from provisioner.firmware._version import version_matches

__all__ = [
    "Decision",
    "PhoneProgress",
    "PhoneState",
    "Plan",
    "Report",
    "RolloutState",
    "RolloutView",
    "advance",
    "wave_size",
]


class RolloutState(StrEnum):
    """Where a rollout stands."""

    RUNNING = "running"
    HALTED = "halted"  # by itself (a wave fell below the threshold) or by hand
    DONE = "done"
    ROLLED_BACK = "rolled_back"


class PhoneState(StrEnum):
    """Where one phone of a rollout stands."""

    PENDING = "pending"  # its wave has not started
    WAITING = "waiting"  # pinned and rebooted; not yet back with the version
    UPGRADED = "upgraded"
    FAILED = "failed"  # not back with the version by its wave's deadline
    SKIPPED = "skipped"  # never touched (no image for its model, label locked above it)
    RESTORED = "restored"  # rolled back to its previous label


@dataclass(frozen=True, slots=True)
class Plan:
    """How a rollout proceeds."""

    canary: int = 1
    growth: float = 2.0
    threshold: float = 0.9  # share of a wave that must come back upgraded
    wave_seconds: float = 900.0

    def __post_init__(self) -> None:
        if self.canary < 1:
            raise ValueError("canary must be at least 1")
        if self.growth < 1:
            raise ValueError("growth must be at least 1")
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        if self.wave_seconds <= 0:
            raise ValueError("wave_seconds must be positive")


@dataclass(frozen=True, slots=True)
class PhoneProgress:
    """One phone of a rollout, as stored."""

    mac: str
    position: int
    state: PhoneState
    wave: int | None = None
    reported: str = ""


@dataclass(frozen=True, slots=True)
class RolloutView:
    """A rollout as stored: ``wave`` is -1 before the canary wave starts."""

    state: RolloutState
    plan: Plan
    version: str  # what upgraded phones report
    wave: int
    wave_started_at: float | None
    phones: tuple[PhoneProgress, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """The newest firmware a phone reported, and when (seen records)."""

    firmware: str
    at: float


@dataclass(slots=True)
class Decision:
    """What the runner must write (all of it in one transaction)."""

    # mac -> (new state, what it reported, reason)
    updates: dict[str, tuple[PhoneState, str, str]] = field(default_factory=dict)
    start_wave: int | None = None  # the wave to start now …
    wave_macs: tuple[str, ...] = ()  # … with these phones (pin, then reboot)
    halt: str = ""  # reason, when the rollout halts itself
    done: bool = False

    @property
    def empty(self) -> bool:
        """True when nothing changes."""
        return not (self.updates or self.start_wave is not None or self.halt or self.done)


def wave_size(plan: Plan, wave: int) -> int:
    """How many phones wave ``wave`` (0 = the canaries) takes."""
    return max(1, math.ceil(plan.canary * plan.growth**wave))


def advance(view: RolloutView, reports: Mapping[str, Report], now: float) -> Decision:
    """Decide the next step of a running rollout (nothing for any other state)."""
    decision = Decision()
    if view.state is not RolloutState.RUNNING:
        return decision
    states = {p.mac: p.state for p in view.phones}
    started = view.wave_started_at
    for phone in view.phones:
        report = reports.get(phone.mac)
        if phone.state is not PhoneState.WAITING or report is None or started is None:
            continue
        if report.at < math.floor(started):
            # From before its reboot: says nothing about the new firmware. Seen
            # records keep whole seconds, so the second the wave started counts
            # (an older firmware in it does not match the version anyway).
            continue
        if version_matches(view.version, report.firmware):
            decision.updates[phone.mac] = (PhoneState.UPGRADED, report.firmware, "")
            states[phone.mac] = PhoneState.UPGRADED
        elif report.firmware != phone.reported:
            decision.updates[phone.mac] = (PhoneState.WAITING, report.firmware, "")
    if view.wave >= 0:
        current = [p for p in view.phones if p.wave == view.wave]
        waiting = [p for p in current if states[p.mac] is PhoneState.WAITING]
        deadline = (now if started is None else started) + view.plan.wave_seconds
        if waiting and now < deadline:
            return decision  # the wave is still under way
        reason = (
            f"did not report version {view.version} within {view.plan.wave_seconds:.0f} s "
            f"of wave {view.wave + 1}"
        )
        for phone in waiting:
            reported = decision.updates.get(phone.mac, (None, phone.reported, ""))[1]
            decision.updates[phone.mac] = (PhoneState.FAILED, reported, reason)
            states[phone.mac] = PhoneState.FAILED
        upgraded = sum(1 for p in current if states[p.mac] is PhoneState.UPGRADED)
        if current and upgraded / len(current) < view.plan.threshold:
            decision.halt = (
                f"wave {view.wave + 1}: {upgraded} of {len(current)} phones came back with "
                f"{view.version} ({upgraded / len(current):.0%}), below the threshold of "
                f"{view.plan.threshold:.0%}"
            )
            return decision
    pending = sorted(
        (p for p in view.phones if states[p.mac] is PhoneState.PENDING), key=lambda p: p.position
    )
    if not pending:
        decision.done = True
        return decision
    decision.start_wave = view.wave + 1
    decision.wave_macs = tuple(p.mac for p in pending[: wave_size(view.plan, view.wave + 1)])
    for mac in decision.wave_macs:
        decision.updates[mac] = (PhoneState.WAITING, "", "")
    return decision

"""Where a send-profiles job and its per-phone targets stand, and how a target moves.

A target starts ``queued`` (or ``coalesced``, when its phone is already
queued in another job) and moves only by the events in :data:`TRANSITIONS`,
the one table of its life; :func:`next_state` looks a move up and refuses
any other. The store writes each move as an UPDATE guarded by the
from-state, so a row that moved meanwhile (another runner, a cancel) is
left alone. The values are the strings stored in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

__all__ = [
    "TRANSITIONS",
    "Event",
    "IllegalTransition",
    "JobState",
    "TargetEvent",
    "TargetOutcome",
    "TargetState",
    "check_sync_event",
    "next_state",
]

Event = Literal["resync", "reboot"]  # what a check-sync NOTIFY asks the phone to do


def check_sync_event(text: str) -> Event:
    """``text`` as an :data:`Event`; :raises ValueError: for anything else."""
    if text == "resync":
        return "resync"
    if text == "reboot":
        return "reboot"
    raise ValueError(f"unknown event {text!r}: expected resync or reboot")


class JobState(StrEnum):
    """Where a send-profiles job stands."""

    RUNNING = "running"
    DONE = "done"  # no target left queued, sending, or awaiting confirmation
    CANCELLED = "cancelled"


class TargetState(StrEnum):
    """Where one phone of a job stands."""

    QUEUED = "queued"  # waiting for its time and its tenant's pacing
    SENDING = "sending"  # claimed by a runner, under a lease
    OK = "ok"  # answered 2xx; awaiting its fetch while a confirmation window is open
    CONFIRMED = "confirmed"  # fetched its files within the window
    UNCONFIRMED = "unconfirmed"  # did not fetch within the window
    FAILED = "failed"  # with the SIP status and reason
    CANCELLED = "cancelled"  # its job was cancelled before it was sent
    COALESCED = "coalesced"  # created so: the phone was already queued in another job


class TargetEvent(StrEnum):
    """What moves a target."""

    CLAIMED = "claimed"  # a runner took it to send (counts an attempt, sets a lease)
    ANSWERED = "answered"  # the phone (or its proxy) answered 2xx
    RETRY = "retry"  # no answer, 408 or 5xx, and attempts remain
    GAVE_UP = "gave_up"  # any other answer, attempts used up, or not addressable
    LEASE_EXPIRED = "lease_expired"  # its runner died mid-send; attempts remain
    LEASE_EXPIRED_SPENT = "lease_expired_spent"  # its runner died mid-send; none remain
    CANCELLED = "cancelled"  # its job was cancelled
    FETCHED = "fetched"  # the phone fetched a file within the confirmation window
    WINDOW_PASSED = "window_passed"  # the confirmation window ended without a fetch


_S, _E = TargetState, TargetEvent

TRANSITIONS: dict[tuple[TargetState, TargetEvent], TargetState] = {
    (_S.QUEUED, _E.CLAIMED): _S.SENDING,
    (_S.QUEUED, _E.CANCELLED): _S.CANCELLED,
    (_S.SENDING, _E.ANSWERED): _S.OK,
    (_S.SENDING, _E.RETRY): _S.QUEUED,
    (_S.SENDING, _E.GAVE_UP): _S.FAILED,
    (_S.SENDING, _E.LEASE_EXPIRED): _S.QUEUED,
    (_S.SENDING, _E.LEASE_EXPIRED_SPENT): _S.FAILED,
    (_S.OK, _E.FETCHED): _S.CONFIRMED,
    (_S.OK, _E.WINDOW_PASSED): _S.UNCONFIRMED,
}


class IllegalTransition(Exception):
    """A target was asked to move in a way :data:`TRANSITIONS` does not allow (a bug)."""


def next_state(state: TargetState, event: TargetEvent) -> TargetState:
    """The state a target in ``state`` moves to on ``event``.

    :raises IllegalTransition: when the table has no such move.
    """
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise IllegalTransition(f"a {state} target cannot move on {event}") from None


@dataclass(frozen=True, slots=True)
class TargetOutcome:
    """How one send of a target ended, as the runner records it."""

    event: Literal[TargetEvent.ANSWERED, TargetEvent.RETRY, TargetEvent.GAVE_UP]
    status: int | None = None  # the final SIP status; None without an answer
    reason: str = ""
    retry_at: float | None = None  # when to send again; exactly for RETRY
    confirm_until: float | None = None  # end of the confirmation window (ANSWERED), if any

    def __post_init__(self) -> None:
        if (self.retry_at is not None) != (self.event is TargetEvent.RETRY):
            raise ValueError("retry_at is given exactly when a send is retried")
        if self.confirm_until is not None and self.event is not TargetEvent.ANSWERED:
            raise ValueError("only an answered send waits for confirmation")

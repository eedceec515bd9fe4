"""Check-sync: whom to notify and what to send (pure); jobs run in provisioner.serve."""

from provisioner.notify._delay import notify_delay
from provisioner.notify._pacing import BURST_SECONDS, advance, available
from provisioner.notify._states import (
    TRANSITIONS,
    Event,
    IllegalTransition,
    JobState,
    TargetEvent,
    TargetOutcome,
    TargetState,
    check_sync_event,
    next_state,
)
from provisioner.notify._target import NotifyInfo, NotifyTargetError, notify_info, request_for

__all__ = [
    "BURST_SECONDS",
    "TRANSITIONS",
    "Event",
    "IllegalTransition",
    "JobState",
    "NotifyInfo",
    "NotifyTargetError",
    "TargetEvent",
    "TargetOutcome",
    "TargetState",
    "advance",
    "available",
    "check_sync_event",
    "next_state",
    "notify_delay",
    "notify_info",
    "request_for",
]

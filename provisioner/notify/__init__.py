"""Check-sync: whom to notify and what to send (pure); jobs run in provisioner.serve.

The job states and pacing (which the store's job repository uses) are
imported at once; the targets and their SIP requests when first named
(:mod:`provisioner.lazy`), so a command that only edits settings does not
import the SIP package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provisioner.lazy import lazy_names
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

if TYPE_CHECKING:
    from provisioner.notify._target import (
        NotifyInfo,
        NotifyTargetError,
        notify_info,
        request_for,
    )

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

_TARGET = "provisioner.notify._target"

# Hidden from type checkers, which see the names imported above: a misspelt
# name is an error for them rather than Any.
if not TYPE_CHECKING:
    __getattr__ = lazy_names(
        __name__,
        {
            name: (_TARGET, name)
            for name in ("NotifyInfo", "NotifyTargetError", "notify_info", "request_for")
        },
    )

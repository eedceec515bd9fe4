"""Check-sync: whom to notify and what to send (pure); jobs run in provisioner.serve."""

from provisioner.notify._pacing import TokenBucket
from provisioner.notify._target import NotifyInfo, NotifyTargetError, notify_info, request_for

__all__ = ["NotifyInfo", "NotifyTargetError", "TokenBucket", "notify_info", "request_for"]

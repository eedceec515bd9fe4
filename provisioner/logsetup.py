"""Structured log lines: ``ts=… level=… logger=… event=… key=value``.

Messages are written as ``event=name key=value`` by the code that logs
them, so one line is one event a log shipper or fail2ban can match. No
secret is ever formatted into a message (credentials are not logged at
all; paths are made printable first).
"""

from __future__ import annotations

import logging
import sys
import time

__all__ = ["configure"]


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        level = record.levelname.lower()
        line = f"ts={stamp}.{int(record.msecs):03d}Z level={level} logger={record.name} "
        line += record.getMessage()
        if record.exc_info:
            line += " exception=" + repr(self.formatException(record.exc_info))
        return line


def configure(level: str = "info") -> None:
    """Send the package's log lines to standard error."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger("provisioner")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False

"""Structured log lines, one event per line: logfmt (``key=value``) or JSON.

Messages are written as ``event=name key=%s …`` by the code that logs them,
so one line is one event a log shipper or fail2ban can match. In logfmt
mode a line is ``ts=… level=… logger=…`` and the message as formatted; in
JSON mode the message's ``key=%s`` pairs become the object's members (a
``%d`` or ``%s`` of a number stays a number), and a message that is not
made of such pairs (a library's) is kept whole as ``message``. Fields
passed as ``extra={"fields": {...}}`` (the access log) are appended in
either format, quoted where logfmt needs it. No secret is ever formatted
into a message (credentials are not logged at all; paths are made
printable first).

Every logger's records pass through one handler on the root logger, so a
library's warning is a line of the same format; the package's own level is
the configured one, other libraries' never below WARNING. :func:`configure`
may be called again, e.g. on SIGHUP: the log file is then opened anew
(after logrotate renamed it) before the old one is closed.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from provisioner.errors import UsageError

__all__ = ["configure"]

_KEY = re.compile(r"[a-z_][a-z0-9_.]*")
# A printf conversion (flags, width, precision, type) or an escaped "%%".
_CONVERSION = re.compile(r"%(?:%|[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa])")
_PLAIN = re.compile(r"[^\s\"=\\]+")


def _pairs(record: logging.LogRecord) -> list[tuple[str, Any]] | None:
    """The message's ``key=value`` pairs, values typed where one argument fills them.

    ``None`` when the message is not made of such pairs only.
    """
    if not isinstance(record.msg, str):
        return None
    args = record.args if isinstance(record.args, tuple) else ()
    pairs: list[tuple[str, Any]] = []
    used = 0
    for token in record.msg.split(" "):
        key, equals, template = token.partition("=")
        if not equals or not _KEY.fullmatch(key):
            return None
        count = sum(1 for c in _CONVERSION.findall(template) if c != "%%")
        taken = args[used : used + count]
        if len(taken) != count:
            return None
        used += count
        if count == 1 and template in ("%s", "%d") and _scalar(taken[0]):
            pairs.append((key, taken[0]))
        else:
            pairs.append((key, template % taken if count or "%" in template else template))
    return pairs if used == len(args) else None


def _scalar(value: object) -> bool:
    """Whether ``value`` goes into JSON as itself (a number, a boolean)."""
    return isinstance(value, bool | int | float) and value == value  # NaN is not JSON


def _logfmt_value(value: object) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else str(value)
    return text if _PLAIN.fullmatch(text) else json.dumps(text)


class _Formatter(logging.Formatter):
    """One line per record, logfmt or JSON."""

    def __init__(self, json_lines: bool) -> None:
        super().__init__()
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        stamp += f".{int(record.msecs):03d}Z"
        extra: dict[str, Any] = getattr(record, "fields", {})
        error = self.formatException(record.exc_info) if record.exc_info else None
        if self.json_lines:
            data: dict[str, Any] = {"ts": stamp, "level": record.levelname.lower()}
            data["logger"] = record.name
            pairs = _pairs(record)
            data.update(pairs if pairs is not None else [("message", record.getMessage())])
            data.update(extra)
            if error is not None:
                data["exception"] = error
            return json.dumps(data, default=str, ensure_ascii=False)
        line = f"ts={stamp} level={record.levelname.lower()} logger={record.name} "
        line += record.getMessage()
        line += "".join(f" {key}={_logfmt_value(value)}" for key, value in extra.items())
        if error is not None:
            line += " exception=" + repr(error)
        return line.replace("\r", "\\r").replace("\n", "\\n")  # one event, one line


class _Output(logging.Handler):
    """The one handler: writes each line to standard error or the log file."""

    def __init__(self) -> None:
        super().__init__()
        self.stream: IO[str] = sys.stderr
        self.file: IO[str] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            self.stream.write(line + "\n")
            self.stream.flush()
        except Exception:
            self.handleError(record)

    def switch(self, file: IO[str] | None, formatter: logging.Formatter) -> None:
        """Write to ``file`` (standard error when None) from the next record on."""
        with self._lock:
            old, self.file = self.file, file
            self.stream = file if file is not None else sys.stderr
            self.setFormatter(formatter)
        if old is not None:
            old.close()

    @property
    def _lock(self) -> threading.RLock:
        assert self.lock is not None  # created by Handler.__init__
        return self.lock


_output: _Output | None = None


def configure(level: str = "info", fmt: str = "logfmt", file: Path | None = None) -> None:
    """Send every log line to standard error or ``file``, as ``fmt`` (logfmt or json).

    Calling it again reopens ``file`` (logrotate) and applies a new level
    or format; if the file cannot be opened, nothing changes.

    :raises UsageError: when ``file`` cannot be opened for appending.
    """
    global _output
    stream: IO[str] | None = None
    if file is not None:
        try:
            stream = file.open("a", encoding="utf-8", errors="backslashreplace")
        except OSError as exc:
            raise UsageError(f"log file {file}: cannot open it ({exc.strerror})") from None
    if _output is None:
        _output = _Output()
        root = logging.getLogger()
        root.addHandler(_output)
        logging.captureWarnings(True)  # a Python warning is a log line too
    _output.switch(stream, _Formatter(json_lines=fmt == "json"))
    ours = logging.getLogger("provisioner")
    ours.handlers.clear()
    ours.propagate = True
    ours.setLevel(level.upper())
    logging.getLogger().setLevel(max(logging.WARNING, ours.level))

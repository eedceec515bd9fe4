"""Which client paths may reach the backend at all.

An FTP path is only ever handed to :class:`~provisioner.ftp.FtpBackend`,
which matches it against known names; nothing here or there joins it onto a
filesystem path (security goal 11). This check is the transport's own
defence in depth: it refuses what no phone legitimately sends, and the
refusal is the same uniform 550 as "not found".
"""

from __future__ import annotations

__all__ = ["MAX_PATH", "backend_path"]

MAX_PATH = 255

# Control characters, DEL, and U+FFFD, which is what pyftpdlib's decoder
# (UTF-8, errors="replace") makes of bytes that are not UTF-8.
_FORBIDDEN = frozenset([*map(chr, range(0x20)), "\x7f", "\\", "\ufffd"])


def backend_path(raw: str) -> str | None:
    """The path to give the backend for ``raw`` as sent, or ``None`` to refuse it.

    One leading ``/`` or ``./`` is stripped (clients send ``/file`` or
    ``./file`` for files in the root). What remains must be a non-empty
    relative path of ``/``-separated segments, none of them empty, ``.`` or
    ``..``, without backslashes or control characters, at most
    :data:`MAX_PATH` characters long. Nothing is decoded: ``%2e%2e`` is
    passed on as those six characters.
    """
    if len(raw) > MAX_PATH or not _FORBIDDEN.isdisjoint(raw):
        return None
    if raw.startswith("/"):
        path = raw[1:]
    elif raw.startswith("./"):
        path = raw[2:]
    else:
        path = raw
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        return None
    return path

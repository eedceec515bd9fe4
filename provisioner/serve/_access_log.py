"""The access log: one ``event=access`` line per fetch, when ``serve --access-log`` is on.

Each front end reports a finished request here (HTTP(S) after the response
was sent, TFTP when the transfer ended, FTP when its data connection
closed) with what it knows: protocol, client, the path as requested, the
status (the HTTP status code, TFTP's ``ok``/``not_found``/``error``, the
FTP reply code), bytes sent or received, duration, User-Agent (HTTP only).
The MAC is the one the request is for, told from its path and User-Agent
as the gateway tells it.

Never a secret: a tenant's URL token anywhere in the path is replaced by
``<token>`` (whatever the case), the query string is not logged, nor are
credentials (HTTP ``Authorization``, FTP logins), and paths and User-Agents
are made printable and bounded first. Lines go to the ``provisioner.access``
logger at INFO, in the configured log format (``logsetup.py``).
"""

from __future__ import annotations

import logging
import re

from provisioner.serve._cache import ConfigCache

__all__ = ["TOKEN_MARK", "AccessLog"]

log = logging.getLogger("provisioner.access")
TOKEN_MARK = "<token>"
_MAX_TEXT = 255


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text[:_MAX_TEXT])


class AccessLog:
    """Writes access events; off until :attr:`enabled` (SIGHUP may switch it)."""

    def __init__(self, cache: ConfigCache, *, enabled: bool = False) -> None:
        self.cache = cache
        self.enabled = enabled
        self._tokens: frozenset[str] = frozenset()
        self._secret: re.Pattern[str] | None = None

    def record(
        self,
        *,
        protocol: str,
        client: str,
        path: str,
        status: int | str,
        size: int,
        seconds: float,
        user_agent: str = "",
    ) -> None:
        """Log one finished request (on the event loop thread: it reads the cache)."""
        if not self.enabled:
            return
        shown = self.redact(path)
        bare = shown.removeprefix("/").removeprefix(TOKEN_MARK + "/")
        mac = self.cache.identifier.identify(user_agent or None, bare).mac
        fields = {
            "protocol": protocol,
            "client": client,
            "path": _printable(shown),
            "status": status,
            "bytes": size,
            "duration_ms": round(seconds * 1000, 1),
            "mac": mac,
            "user_agent": _printable(user_agent) if user_agent else None,
        }
        log.info("event=access", extra={"fields": fields})

    def redact(self, path: str) -> str:
        """``path`` with every tenant URL token in it replaced by :data:`TOKEN_MARK`."""
        tokens = self.cache.url_tokens()
        if tokens != self._tokens:
            self._tokens = frozenset(tokens)
            alternatives = "|".join(sorted(map(re.escape, tokens), key=len, reverse=True))
            self._secret = re.compile(alternatives, re.IGNORECASE) if tokens else None
        return self._secret.sub(TOKEN_MARK, path) if self._secret is not None else path

"""The strong ETag of a file's bytes: what the server sends and seen records keep.

One definition, below both the cache (which sends it) and the preview
(which compares a phone's last fetch against it).
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["etag_of"]


def etag_of(data: bytes) -> str:
    """The strong ETag for ``data`` (SHA-256 truncated to 18 bytes, base64url, quoted)."""
    digest = hashlib.sha256(data).digest()[:18]
    return '"' + base64.urlsafe_b64encode(digest).decode("ascii") + '"'

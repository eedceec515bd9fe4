"""The API key a request presents, in each way a client may send it."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

__all__ = ["presented_key"]


def presented_key(request: web.BaseRequest, *, basic: bool) -> str | None:
    """``X-API-Key``, else a Bearer token, else (with ``basic``) HTTP Basic's password.

    Basic is for the sipXconfig-compatible endpoints, whose clients send it
    (RFC 7617): the password is the key and the user name is ignored.
    Credentials that are not base64 of UTF-8 ``user:password`` present no key.
    """
    given = request.headers.get("X-API-Key")
    if given:
        return given
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if basic and scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None

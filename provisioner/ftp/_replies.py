"""The reply texts this package chooses instead of pyftpdlib's.

pyftpdlib words its 550 replies by cause ("… points to a path which is
outside the user's root directory", "Not enough privileges", "… is not
retrievable"), which would let a client tell a refused path from a missing
file. Every 550 this server sends is :data:`UNAVAILABLE`, word for word
(security goal 2); the wording is RFC 959's own for 550.
"""

from __future__ import annotations

__all__ = [
    "LOGIN_REFUSED",
    "LOGIN_TIMED_OUT",
    "NO_PASSIVE_PORT",
    "TOO_LARGE",
    "TOO_MANY_COMMANDS",
    "UNAVAILABLE",
    "UNAVAILABLE_REASON",
]

UNAVAILABLE_REASON = "File unavailable"
UNAVAILABLE = f"550 {UNAVAILABLE_REASON}."
TOO_LARGE = "552 Exceeded storage allocation; transfer aborted."
NO_PASSIVE_PORT = "425 Can't open data connection: no free passive port."
# After "530 ": the same words for every refusal, whether the name is
# anonymous, unknown, or the password is wrong.
LOGIN_REFUSED = "Login incorrect."
# RFC 959 §4.2: 421 when the server closes the control connection.
LOGIN_TIMED_OUT = "421 Login timed out."
TOO_MANY_COMMANDS = "421 Too many commands at once."

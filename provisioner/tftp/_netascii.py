"""Netascii conversion (RFC 1350 §1, which defers to the Telnet rules of RFC 764).

On the wire a netascii file has no bare CR or LF: every end of line is CR LF
and every carriage return that is not an end of line is CR NUL. Files are
stored with Unix line ends, so sending converts LF → CR LF and CR → CR NUL,
and receiving undoes it. Both work on whole files, so a CR at the end of one
DATA block and its partner at the start of the next need no special case.
"""

from __future__ import annotations

__all__ = ["from_netascii", "to_netascii"]


def to_netascii(data: bytes) -> bytes:
    """``data`` as netascii: LF → CR LF, CR → CR NUL."""
    # CR first: the CRs that the LF rule adds must not be turned into CR NUL.
    return data.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")


def from_netascii(data: bytes) -> bytes:
    """Undo :func:`to_netascii`: CR LF → LF, CR NUL → CR.

    Every CR of valid netascii starts a two-byte pair whose second byte is LF
    or NUL (never CR), so replacing the CR LF pairs first cannot match across
    pairs. A stray CR followed by anything else is kept as it is.
    """
    return data.replace(b"\r\n", b"\n").replace(b"\r\0", b"\r")

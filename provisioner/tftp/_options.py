"""Option negotiation (RFC 2347) for blksize, timeout, tsize and windowsize.

The server answers a request's options with an OACK listing only the options
it accepted, each with the value it will actually use (RFC 2347, "Negotiation
Protocol"). Options it does not know are left out of the OACK, as RFC 2347
requires, and so are options whose values are not valid (each option's RFC
allows that, or a smaller value): refusing the whole transfer over one bad
option would strand clients that would work fine with the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.tftp._packets import Options

__all__ = [
    "DEFAULT_BLKSIZE",
    "MAX_BLKSIZE",
    "MAX_WINDOWSIZE",
    "MIN_BLKSIZE",
    "Limits",
    "Negotiated",
    "negotiate",
]

DEFAULT_BLKSIZE = 512  # RFC 1350 §2, used whenever blksize is not negotiated
MIN_BLKSIZE = 8  # RFC 2348: "between 8 and 65464 octets, inclusive"
MAX_BLKSIZE = 65464
MIN_TIMEOUT = 1  # RFC 2349: "between 1 and 255 seconds, inclusive"
MAX_TIMEOUT = 255
MAX_WINDOWSIZE = 65535  # RFC 7440 §3: "between 1 and 65535 blocks, inclusive"

# Longer digit strings are refused before int() sees them: no valid value of
# any of our options needs more than 20 digits (tsize is at most 2**64).
_MAX_DIGITS = 20


@dataclass(frozen=True, slots=True)
class Limits:
    """Server-side policy for one transfer.

    ``max_blksize`` caps blksize: the default 1468 is an Ethernet MTU of 1500
    minus the IP, UDP and TFTP headers (the value tftpd-hpa's man page
    recommends), so DATA never needs IP fragmentation, which some phones
    mishandle. ``timeout`` is the retransmission interval when the client
    does not negotiate one; ``retries`` is how many retransmissions without
    progress end the transfer. ``max_windowsize`` caps RFC 7440 windows (a
    window is a burst of that many DATA packets per client).
    """

    max_blksize: int = 1468
    timeout: float = 1.0
    retries: int = 5
    max_windowsize: int = 64

    def __post_init__(self) -> None:
        if not MIN_BLKSIZE <= self.max_blksize <= MAX_BLKSIZE:
            raise ValueError(f"max_blksize must be {MIN_BLKSIZE}-{MAX_BLKSIZE}")
        if not self.timeout > 0:
            raise ValueError("timeout must be positive")
        if self.retries < 0:
            raise ValueError("retries must not be negative")
        if not 1 <= self.max_windowsize <= MAX_WINDOWSIZE:
            raise ValueError(f"max_windowsize must be 1-{MAX_WINDOWSIZE}")


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What one transfer uses, and ``reply``: the OACK options (empty: no OACK)."""

    blksize: int = DEFAULT_BLKSIZE
    timeout: float = 1.0
    windowsize: int = 1
    tsize: int | None = None  # for a WRQ, the size the client announced
    reply: Options = ()


def negotiate(requested: Options, limits: Limits, *, size: int | None) -> Negotiated:
    """Accept what we support of ``requested``, within ``limits``.

    ``size`` is the number of bytes a read transfer will send (after any
    netascii conversion), reported as tsize (RFC 2349); pass ``None`` for
    a write transfer, where the client's own tsize is echoed back instead.
    """
    blksize = DEFAULT_BLKSIZE
    timeout = limits.timeout
    windowsize = 1
    tsize: int | None = None
    reply: list[tuple[str, str]] = []
    for name, raw in requested:
        value = _number(raw)
        if value is None:
            continue
        if name == "blksize" and value >= MIN_BLKSIZE:
            # RFC 2348: the server may answer with a smaller size than asked;
            # a request above the RFC ceiling is clamped rather than ignored.
            blksize = min(value, limits.max_blksize)
            reply.append((name, str(blksize)))
        elif name == "timeout" and MIN_TIMEOUT <= value <= MAX_TIMEOUT:
            # RFC 2349: the server echoes the client's value or refuse it.
            timeout = float(value)
            reply.append((name, str(value)))
        elif name == "tsize":
            tsize = value if size is None else size
            reply.append((name, str(tsize)))
        elif name == "windowsize" and size is not None and 1 <= value <= MAX_WINDOWSIZE:
            # Reads only: uploads are small log files, and lockstep keeps the
            # receiving side simple.
            windowsize = min(value, limits.max_windowsize)  # RFC 7440 §3: never more than asked
            reply.append((name, str(windowsize)))
    return Negotiated(blksize, timeout, windowsize, tsize, tuple(reply))


def _number(raw: str) -> int | None:
    if not raw or len(raw) > _MAX_DIGITS or not raw.isdigit():
        return None
    return int(raw)

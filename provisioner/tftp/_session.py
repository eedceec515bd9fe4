"""One server-side read transfer as a pure state machine (sans-IO).

Theory of operation
===================

A session is one transfer between one of our transfer ports and one client
port (the two "transfer IDs" of RFC 1350 §4). It owns no socket and reads no
clock. The adapter feeds it three kinds of input, each with ``now`` (seconds
on any monotonic clock):

* ``start(now)`` once, right after the request was accepted;
* ``receive(datagram, now)`` for every datagram from the client's transfer
  ID (the adapter itself answers datagrams from anyone else with ERROR 5);
* ``handle_timer(now)`` whenever ``next_timer()`` has passed.

Each call returns the datagrams to send to the client, in order. After every
call the adapter asks ``next_timer()`` again: a session needs at most one
timer, and ``None`` means none. Once ``state`` is DONE or FAILED and
``next_timer()`` is ``None`` the session is over and its socket can go.

States::

    IDLE ──start()──▶ NEGOTIATING ──ACK 0──▶ TRANSFERRING ──ACK of last block──▶ DONE
      │    (options accepted: OACK sent)           ▲
      └──────────start() (no options: DATA 1 sent)─┘

    any state but IDLE and DONE ──▶ FAILED on an ERROR from the client, a malformed
    or unexpected packet (answered with ERROR 4), or retries exhausted.

Blocks are counted from 1 on the inside. A file of ``size`` bytes is
``size // blksize + 1`` blocks, so the last block is always shorter than
blksize, and is empty when the size is a multiple of it: a short block is
the only end-of-file signal (RFC 1350 §6). On the wire a block number is 16
bits and wraps from 65535 to 0, as tftp-hpa does; no RFC covers files of
more than 65535 blocks, and the non-standard "rollover" option is not
supported.

Windows (RFC 7440): up to ``windowsize`` blocks are sent before an ACK is
needed (1, lockstep, unless negotiated). Only ACKs for blocks ``acked``
through ``sent`` mean anything, and that span is never longer than 65535
blocks, so each 16-bit ACK number names exactly one block. An ACK for the
last block sent slides the window on; an ACK for an earlier one says the
client lost the block after it, so the window is resent from there (RFC 7440
§4). An ACK for ``acked`` itself (a duplicate) or outside the span is
ignored: answering duplicate ACKs with DATA is the Sorcerer's Apprentice bug
(RFC 1123 §4.2.3.1), where one delayed packet makes every later block go out
twice. RFC 7440 §4 would have a duplicate ACK restart the window too (it is
what a client sends when the *first* block of a window is lost), but a
client that also re-ACKs stale duplicates would then get every window twice
for the rest of the transfer; so that rare loss waits for the timer instead.

Timer: the deadline is the last transmission plus the interval (the
negotiated timeout, RFC 2349, or the server default). When it passes
everything outstanding is sent again (the OACK, or blocks ``acked + 1``
through ``sent``); after ``retries`` retransmissions without progress the
session fails without a word, since the client has evidently gone. An ERROR
from the client ends the session and is never answered (RFC 1350 §2, §7).

All transitions live in this file; the upload side, which mirrors it, lives
in ``_upload.py``.
"""

from __future__ import annotations

import enum
from typing import Protocol

from provisioner.tftp._netascii import to_netascii
from provisioner.tftp._options import Limits, Negotiated, negotiate
from provisioner.tftp._packets import (
    Ack,
    Error,
    ErrorCode,
    Mode,
    OptionAck,
    Options,
    PacketError,
    ack_number,
    decode,
    encode,
    encode_data,
)

__all__ = ["TERMINAL", "ReadSession", "State"]


class State(enum.Enum):
    """Where a session is; see the theory of operation above."""

    IDLE = "idle"
    NEGOTIATING = "negotiating"
    TRANSFERRING = "transferring"
    RECEIVED = "received"  # uploads only: all data in, waiting for the owner's verdict
    DONE = "done"
    FAILED = "failed"


TERMINAL = frozenset({State.DONE, State.FAILED})


class Content(Protocol):
    """What a read session sends: ``bytes``, or a read-only ``mmap`` of a file.

    Only slices are taken, one block at a time, so a memory-mapped firmware
    image is paged in as it is sent and shared by every client of it.
    """

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice, /) -> bytes: ...


class ReadSession:
    """Sends ``data`` to one client (the server side of an RRQ)."""

    __slots__ = (
        "_acked",
        "_attempts",
        "_blocks",
        "_data",
        "_deadline",
        "_oack",
        "_retries",
        "_sent",
        "negotiated",
        "reason",
        "state",
    )

    def __init__(
        self,
        data: Content,
        options: Options = (),
        *,
        mode: Mode = Mode.OCTET,
        limits: Limits | None = None,
    ) -> None:
        """Prepare to send ``data``, negotiating the client's ``options``.

        ``mode`` netascii converts ``data`` before anything is sent, so
        tsize reports the size on the wire.
        """
        limits = limits or Limits()
        self._data: Content = to_netascii(data[0 : len(data)]) if mode is Mode.NETASCII else data
        self.negotiated: Negotiated = negotiate(options, limits, size=len(self._data))
        self._retries = limits.retries
        self._blocks = len(self._data) // self.negotiated.blksize + 1
        self._oack = encode(OptionAck(self.negotiated.reply))
        self.state = State.IDLE
        self.reason = ""  # why the session failed, for logs and events
        self._acked = 0  # blocks the client has acknowledged, in order
        self._sent = 0  # the highest block sent so far in the current window
        self._attempts = 0  # retransmissions since the last progress
        self._deadline: float | None = None

    @property
    def size(self) -> int:
        """Bytes the whole transfer sends (after netascii conversion)."""
        return len(self._data)

    @property
    def transferred(self) -> int:
        """Bytes the client has acknowledged so far."""
        return min(self._acked * self.negotiated.blksize, len(self._data))

    def start(self, now: float) -> list[bytes]:
        """Open the transfer: the OACK if any option was accepted, else DATA 1."""
        if self.state is not State.IDLE:
            raise RuntimeError("start() called twice")
        if self.negotiated.reply:
            self.state = State.NEGOTIATING
            return self._transmit(now, [self._oack])
        self.state = State.TRANSFERRING
        return self._send_window(now)

    def receive(self, datagram: bytes, now: float) -> list[bytes]:
        """Handle one datagram from the client's transfer ID."""
        state = self.state
        if state is State.TRANSFERRING:
            number = ack_number(datagram)  # the common case, without building a packet
            if number is not None:
                return self._on_ack(number, now)
        elif state is State.DONE or state is State.FAILED:
            return []  # stragglers after the end
        elif state is State.IDLE:
            raise RuntimeError("receive() before start()")
        try:
            packet = decode(datagram)
        except PacketError as exc:
            return self._fail(f"malformed packet from the client: {exc}", str(exc))
        if isinstance(packet, Ack):
            return self._on_ack(packet.block, now)
        if isinstance(packet, Error):
            self._fail(f"client sent ERROR {packet.code}: {packet.message}")
            return []
        return self._fail(
            f"unexpected {type(packet).__name__} from the client", "Illegal TFTP operation"
        )

    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` is due, or ``None`` for never."""
        return self._deadline

    def handle_timer(self, now: float) -> list[bytes]:
        """Retransmit what is outstanding, or give up after too many tries."""
        if self._deadline is None or now < self._deadline:
            return []
        if self._attempts >= self._retries:
            self._fail(f"no response after {self._attempts} retransmissions")
            return []
        self._attempts += 1
        if self.state is State.NEGOTIATING:
            return self._transmit(now, [self._oack])
        return self._transmit(now, [self._block(k) for k in range(self._acked + 1, self._sent + 1)])

    def _on_ack(self, number: int, now: float) -> list[bytes]:
        if self.state is State.NEGOTIATING:
            if number != 0:
                return []  # only ACK 0 answers an OACK (RFC 2347)
            self.state = State.TRANSFERRING
            self._attempts = 0
            return self._send_window(now)
        # How far past ``acked`` this ACK is; see "Windows" above for why the
        # 16-bit difference is unambiguous.
        ahead = (number - self._acked) & 0xFFFF
        if ahead == 0 or ahead > self._sent - self._acked:
            return []  # duplicate or stale: never answered (RFC 1123 §4.2.3.1)
        self._acked += ahead
        self._attempts = 0
        if self._acked == self._blocks:
            self.state = State.DONE
            self._deadline = None
            return []
        return self._send_window(now)

    def _send_window(self, now: float) -> list[bytes]:
        first = self._acked + 1
        self._sent = min(self._acked + self.negotiated.windowsize, self._blocks)
        return self._transmit(now, [self._block(k) for k in range(first, self._sent + 1)])

    def _block(self, number: int) -> bytes:
        blksize = self.negotiated.blksize
        start = (number - 1) * blksize
        return encode_data(number & 0xFFFF, self._data[start : start + blksize])

    def _transmit(self, now: float, datagrams: list[bytes]) -> list[bytes]:
        self._deadline = now + self.negotiated.timeout
        return datagrams

    def _fail(self, reason: str, message: str | None = None) -> list[bytes]:
        """Fail; with ``message``, tell the client with ERROR 4 (illegal operation)."""
        self.state = State.FAILED
        self.reason = reason
        self._deadline = None
        if message is None:
            return []
        return [encode(Error(ErrorCode.ILLEGAL_OPERATION, message))]

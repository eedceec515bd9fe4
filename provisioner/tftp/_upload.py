"""One server-side write transfer (an upload) as a pure state machine (sans-IO).

The mirror image of ``_session.py``, whose theory of operation applies: same
inputs, same outputs, same timer rule. Differences:

* We receive DATA and send ACKs, always in lockstep (windowsize is not
  negotiated for uploads).
* The upload is capped at ``max_size`` bytes: a larger announced tsize is
  refused before any data moves, and a transfer that grows past the cap is
  stopped, both with ERROR 3 (RFC 1350's "disk full or allocation exceeded").
* When the last (short) block arrives the session does not acknowledge it
  yet: it waits in RECEIVED, without a timer, for its owner to store
  :attr:`data` and call :meth:`accept` or :meth:`reject`. So the client is
  told "done" only once the upload is really kept.
* After the final ACK the session is DONE but keeps its timer for a while
  ("dallying", RFC 1350 §6): if that ACK is lost the client sends the last
  block again, and gets the ACK again.

A duplicate of the block just acknowledged means our ACK was lost, and is
answered by resending that ACK. That is the receiver's half of RFC 1350 and
safe: the Sorcerer's Apprentice loop (RFC 1123 §4.2.3.1) needs the *sender*
to answer duplicate ACKs too, which correct clients do not.
"""

from __future__ import annotations

from provisioner.tftp._netascii import from_netascii
from provisioner.tftp._options import Limits, Negotiated, negotiate
from provisioner.tftp._packets import (
    Ack,
    Data,
    Error,
    ErrorCode,
    Mode,
    OptionAck,
    Options,
    PacketError,
    decode,
    encode,
)
from provisioner.tftp._session import State

__all__ = ["WriteSession"]

_ILLEGAL = ErrorCode.ILLEGAL_OPERATION
_MESSAGES = {
    ErrorCode.ACCESS_VIOLATION: "Access violation",
    ErrorCode.DISK_FULL: "Disk full or allocation exceeded",
    ErrorCode.ILLEGAL_OPERATION: "Illegal TFTP operation",
}


class WriteSession:
    """Receives one upload of at most ``max_size`` bytes (the server side of a WRQ)."""

    __slots__ = (
        "_attempts",
        "_buffer",
        "_deadline",
        "_max_size",
        "_netascii",
        "_received",
        "_reply",
        "_retries",
        "negotiated",
        "reason",
        "state",
    )

    def __init__(
        self,
        options: Options = (),
        *,
        mode: Mode = Mode.OCTET,
        limits: Limits | None = None,
        max_size: int = 1 << 20,
    ) -> None:
        """Prepare to receive, negotiating the client's ``options``."""
        limits = limits or Limits()
        self.negotiated: Negotiated = negotiate(options, limits, size=None)
        self._netascii = mode is Mode.NETASCII
        self._max_size = max_size
        self._retries = limits.retries
        self.state = State.IDLE
        self.reason = ""
        self._buffer = bytearray()
        self._received = 0  # blocks received in order
        self._reply = b""  # the last OACK or ACK sent, for retransmission
        self._attempts = 0
        self._deadline: float | None = None

    @property
    def transferred(self) -> int:
        """Bytes received so far (as on the wire)."""
        return len(self._buffer)

    @property
    def data(self) -> bytes:
        """The upload (netascii converted back to Unix line ends)."""
        raw = bytes(self._buffer)
        return from_netascii(raw) if self._netascii else raw

    def start(self, now: float) -> list[bytes]:
        """Answer the WRQ: the OACK if any option was accepted, else ACK 0."""
        if self.state is not State.IDLE:
            raise RuntimeError("start() called twice")
        announced = self.negotiated.tsize
        if announced is not None and announced > self._max_size:
            return self._fail(f"announced size {announced} is over the cap", ErrorCode.DISK_FULL)
        if self.negotiated.reply:
            self.state = State.NEGOTIATING
            return self._acknowledge(now, encode(OptionAck(self.negotiated.reply)))
        self.state = State.TRANSFERRING
        return self._acknowledge(now, encode(Ack(0)))

    def receive(self, datagram: bytes, now: float) -> list[bytes]:
        """Handle one datagram from the client's transfer ID."""
        if self.state is State.IDLE:
            raise RuntimeError("receive() before start()")
        if self.state is State.FAILED:
            return []
        try:
            packet = decode(datagram)
        except PacketError as exc:
            if self.state is not State.TRANSFERRING and self.state is not State.NEGOTIATING:
                return []
            return self._fail(f"malformed packet from the client: {exc}", _ILLEGAL, str(exc))
        if self.state is State.RECEIVED or self.state is State.DONE:
            # Only a repeat of the last block means anything now: our final
            # ACK was lost. While the owner's verdict is pending it waits.
            late_repeat = isinstance(packet, Data) and packet.block == self._received & 0xFFFF
            return [self._reply] if self.state is State.DONE and late_repeat else []
        if isinstance(packet, Error):
            self._fail(f"client sent ERROR {packet.code}: {packet.message}")
            return []
        if not isinstance(packet, Data):
            return self._fail(f"unexpected {type(packet).__name__} from the client", _ILLEGAL)
        if packet.block == (self._received + 1) & 0xFFFF:
            return self._on_block(packet.payload, now)
        if self._received and packet.block == self._received & 0xFFFF:
            return [self._reply]  # our ACK was lost; not a timer reset
        return []

    def accept(self, now: float) -> list[bytes]:
        """The owner kept the upload: send the final ACK and dally."""
        if self.state is not State.RECEIVED:
            raise RuntimeError("accept() outside RECEIVED")
        self.state = State.DONE
        # Dally for as long as we would keep retransmitting ourselves.
        self._reply = encode(Ack(self._received & 0xFFFF))
        self._deadline = now + self.negotiated.timeout * (self._retries + 1)
        return [self._reply]

    def reject(self, reason: str) -> list[bytes]:
        """The owner refused the upload: tell the client with ERROR 2 (access violation)."""
        if self.state is not State.RECEIVED:
            raise RuntimeError("reject() outside RECEIVED")
        return self._fail(reason, ErrorCode.ACCESS_VIOLATION)

    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` is due, or ``None`` for never."""
        return self._deadline

    def handle_timer(self, now: float) -> list[bytes]:
        """Retransmit the last OACK/ACK, end the dally, or give up."""
        if self._deadline is None or now < self._deadline:
            return []
        if self.state is State.DONE:
            self._deadline = None  # dallied long enough
            return []
        if self._attempts >= self._retries:
            self._fail(f"no response after {self._attempts} retransmissions")
            return []
        self._attempts += 1
        return self._acknowledge(now, self._reply)

    def _on_block(self, payload: bytes, now: float) -> list[bytes]:
        if len(payload) > self.negotiated.blksize:
            return self._fail(
                f"DATA of {len(payload)} bytes is over blksize {self.negotiated.blksize}",
                _ILLEGAL,
                "DATA larger than the block size",
            )
        if len(self._buffer) + len(payload) > self._max_size:
            return self._fail(f"upload is over the cap of {self._max_size}", ErrorCode.DISK_FULL)
        self._buffer += payload
        self._received += 1
        self._attempts = 0
        if len(payload) < self.negotiated.blksize:
            self.state = State.RECEIVED
            self._deadline = None
            return []
        self.state = State.TRANSFERRING
        return self._acknowledge(now, encode(Ack(self._received & 0xFFFF)))

    def _acknowledge(self, now: float, reply: bytes) -> list[bytes]:
        self._reply = reply
        self._deadline = now + self.negotiated.timeout
        return [reply]

    def _fail(self, reason: str, code: ErrorCode | None = None, message: str = "") -> list[bytes]:
        """Fail; with ``code``, tell the client with an ERROR."""
        self.state = State.FAILED
        self.reason = reason
        self._deadline = None
        if code is None:
            return []
        return [encode(Error(code, message or _MESSAGES[code]))]

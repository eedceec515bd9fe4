"""TFTP packet codec: RRQ, WRQ, DATA, ACK, ERROR (RFC 1350 §5) and OACK (RFC 2347).

Packets are frozen dataclasses. :func:`encode` turns one into the bytes of a
datagram; :func:`decode` turns a datagram into a packet or raises
:class:`PacketError` with a message saying what is wrong. Nothing here does
I/O, and nothing here interprets option values: that is negotiation's job
(``_options.py``).

Decoding is strict for requests, because a request is where an attacker
chooses every byte: text fields must be ASCII (RFC 1350 §5 calls the filename
and mode "netascii" strings), every string must end with NUL, option names
may not repeat, and sizes are capped. It is lenient only for ERROR messages,
which are logged and never acted on.

A :class:`PacketError` message is always printable ASCII, whatever bytes the
datagram held: the server sends it back in an ERROR and logs it, so a
hostile name must neither make the reply unencodable nor forge log lines.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

__all__ = [
    "MAX_FIELD",
    "MAX_OPTIONS",
    "Ack",
    "Data",
    "Error",
    "ErrorCode",
    "Mode",
    "Opcode",
    "OptionAck",
    "Options",
    "Packet",
    "PacketError",
    "ReadRequest",
    "WriteRequest",
    "ack_number",
    "decode",
    "encode",
    "encode_data",
]

# Caps on what a request may carry. RFC 2347 limits a whole request to 512
# octets, but boot ROMs with long paths exceed that and tftp-hpa accepts them,
# so each field is capped instead; 16 options is several times what any client
# sends (blksize, tsize, timeout, windowsize, and a few vendor ones).
MAX_FIELD = 512
MAX_OPTIONS = 16

# Both halves of every header are unsigned 16-bit big-endian ("network order").
_HEADER = struct.Struct("!HH")
_OPCODE = struct.Struct("!H")
# How much of a hostile field an error message quotes.
_SHOWN = 32
# Maps every byte above 127 to "?", for text that is only ever displayed.
_ASCII_ONLY = bytes(range(128)) + b"?" * 128


class PacketError(ValueError):
    """A datagram that is not valid TFTP, or a packet that cannot be encoded."""


class Opcode(enum.IntEnum):
    """The first two bytes of every packet (RFC 1350 §5; OACK is RFC 2347)."""

    RRQ = 1
    WRQ = 2
    DATA = 3
    ACK = 4
    ERROR = 5
    OACK = 6


class Mode(enum.Enum):
    """Transfer modes we accept; "mail" is obsolete (RFC 1350 §1) and refused."""

    NETASCII = "netascii"
    OCTET = "octet"


class ErrorCode(enum.IntEnum):
    """ERROR codes (RFC 1350 appendix; 8, refused options, is RFC 2347's)."""

    NOT_DEFINED = 0
    FILE_NOT_FOUND = 1
    ACCESS_VIOLATION = 2
    DISK_FULL = 3
    ILLEGAL_OPERATION = 4
    UNKNOWN_TID = 5
    FILE_EXISTS = 6
    NO_SUCH_USER = 7
    OPTION_REFUSED = 8


# Options as (name, value) pairs, in wire order. Names are lower-case (RFC 2347:
# case-insensitive); a tuple keeps packets hashable and encoding exact.
Options = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """RRQ: the client wants ``filename``."""

    filename: str
    mode: Mode = Mode.OCTET
    options: Options = ()


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """WRQ: the client wants to send ``filename``."""

    filename: str
    mode: Mode = Mode.OCTET
    options: Options = ()


@dataclass(frozen=True, slots=True)
class Data:
    """DATA: block number (wrapping at 16 bits) and up to blksize bytes."""

    block: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    """ACK of a DATA block (or block 0: of a WRQ or an OACK)."""

    block: int


@dataclass(frozen=True, slots=True)
class Error:
    """ERROR: a code and a human-readable message; ends the transfer."""

    code: int
    message: str


@dataclass(frozen=True, slots=True)
class OptionAck:
    """OACK: the options the server accepted, with the values it will use."""

    options: Options


Packet = ReadRequest | WriteRequest | Data | Ack | Error | OptionAck


def encode(packet: Packet) -> bytes:
    """The datagram for ``packet``.

    :raises PacketError: for a packet that has no valid encoding (a block
        number outside 0–65535, text that is not ASCII or contains NUL).
    """
    if isinstance(packet, Data):
        return encode_data(packet.block, packet.payload)
    if isinstance(packet, Ack):
        return _header(Opcode.ACK, packet.block)
    if isinstance(packet, Error):
        return _header(Opcode.ERROR, packet.code) + _error_message(packet.message) + b"\0"
    if isinstance(packet, OptionAck):
        return _OPCODE.pack(Opcode.OACK) + _encode_options(packet.options)
    opcode = Opcode.RRQ if isinstance(packet, ReadRequest) else Opcode.WRQ
    if not packet.filename:
        raise PacketError("empty filename")
    return b"".join(
        (
            _OPCODE.pack(opcode),
            _text(packet.filename, "filename"),
            b"\0",
            packet.mode.value.encode("ascii"),
            b"\0",
            _encode_options(packet.options),
        )
    )


def encode_data(block: int, payload: bytes) -> bytes:
    """``encode(Data(block, payload))`` without building the packet: the send hot path."""
    if not 0 <= block <= 0xFFFF:
        raise PacketError(f"DATA number {block} is outside 0-65535")
    return _HEADER.pack(3, block) + payload  # 3: Opcode.DATA, spelled out for speed


def ack_number(datagram: bytes) -> int | None:
    """The block number if ``datagram`` is a well-formed ACK, else ``None``.

    ``decode`` gives the same answer; this is the receive hot path of a read
    transfer, which gets one ACK per window.
    """
    if len(datagram) == 4 and datagram[0] == 0 and datagram[1] == 4:  # 4: Opcode.ACK
        return (datagram[2] << 8) | datagram[3]
    return None


def decode(datagram: bytes) -> Packet:
    """The packet in ``datagram``.

    Mode and option names come back lower-case; the filename comes back
    exactly as sent.

    :raises PacketError: for anything malformed, saying what.
    """
    if len(datagram) < 2:
        raise PacketError(f"datagram of {len(datagram)} bytes is too short for an opcode")
    (opcode,) = _OPCODE.unpack_from(datagram)
    if opcode == Opcode.ACK:  # first: the one packet a read transfer receives in bulk
        if len(datagram) != 4:
            raise PacketError(f"ACK must be 4 bytes, got {len(datagram)}")
        return Ack(_HEADER.unpack(datagram)[1])
    if opcode == Opcode.DATA:
        if len(datagram) < 4:
            raise PacketError("DATA is shorter than its 4-byte header")
        return Data(_HEADER.unpack_from(datagram)[1], datagram[4:])
    if opcode == Opcode.RRQ or opcode == Opcode.WRQ:
        filename, mode, options = _decode_request(datagram[2:])
        if opcode == Opcode.RRQ:
            return ReadRequest(filename, mode, options)
        return WriteRequest(filename, mode, options)
    if opcode == Opcode.ERROR:
        if len(datagram) < 4:
            raise PacketError("ERROR is shorter than its 4-byte header")
        # Lenient on purpose: the message is only ever logged, and a client
        # whose message lacks its NUL or is not ASCII still means "stop".
        message = datagram[4:].split(b"\0", 1)[0].translate(_ASCII_ONLY).decode("ascii")
        return Error(_HEADER.unpack_from(datagram)[1], message)
    if opcode == Opcode.OACK:
        return OptionAck(_decode_options(_split_strings(datagram[2:], 0)))
    raise PacketError(f"unknown opcode {opcode}")


def _header(opcode: Opcode, number: int) -> bytes:
    if not 0 <= number <= 0xFFFF:
        raise PacketError(f"{opcode.name} number {number} is outside 0-65535")
    return _HEADER.pack(opcode, number)


def _error_message(message: str) -> bytes:
    """``message`` as netascii (RFC 1350 §5: ErrMsg), escaping what is not ASCII or is NUL.

    Never fails: an ERROR is how a refusal is told, and it may quote a name
    an attacker chose.
    """
    return message.replace("\0", "\\x00").encode("ascii", "backslashreplace")


def _text(value: str, what: str) -> bytes:
    if "\0" in value:
        raise PacketError(f"{what} {value!r} contains NUL")
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        raise PacketError(f"{what} {value!r} is not ASCII") from None


def _encode_options(options: Options) -> bytes:
    out = bytearray()
    for name, value in options:
        if not name:
            raise PacketError("empty option name")
        out += _text(name, "option name") + b"\0" + _text(value, f"option {name!r}") + b"\0"
    return bytes(out)


def _decode_request(body: bytes) -> tuple[str, Mode, Options]:
    fields = _split_strings(body, 2)
    if not fields:
        raise PacketError("request has no filename")
    if len(fields) < 2:
        raise PacketError("request has no mode")
    filename = _ascii(fields[0], "filename")
    if not filename:
        raise PacketError("empty filename")
    mode_name = _ascii(fields[1], "mode").lower()
    if mode_name == "mail":
        raise PacketError("mail mode is not supported")
    try:
        mode = Mode(mode_name)
    except ValueError:
        raise PacketError(f"unknown mode {_shown(mode_name)}") from None
    return filename, mode, _decode_options(fields[2:])


def _split_strings(body: bytes, first_option: int) -> list[bytes]:
    """NUL-terminated strings; ``first_option`` is the index of the first option name."""
    fields: list[bytes] = []
    start = 0
    while start < len(body):
        end = body.find(b"\0", start)
        if end < 0:
            raise PacketError(f"{_field_label(fields, first_option)} is not NUL-terminated")
        if end - start > MAX_FIELD:
            raise PacketError(
                f"{_field_label(fields, first_option)} is longer than {MAX_FIELD} bytes"
            )
        fields.append(body[start:end])
        start = end + 1
    return fields


def _field_label(fields: list[bytes], first_option: int) -> str:
    index = len(fields)
    if index < first_option:
        return ("filename", "mode")[index]
    if (index - first_option) % 2 == 0:
        return "option name"
    return f"value of option {_shown(fields[-1].decode('latin-1'))}"


def _decode_options(fields: list[bytes]) -> Options:
    if len(fields) % 2:
        raise PacketError(f"option {_shown(fields[-1].decode('latin-1'))} has no value")
    if len(fields) // 2 > MAX_OPTIONS:
        raise PacketError(f"more than {MAX_OPTIONS} options")
    options: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i in range(0, len(fields), 2):
        name = _ascii(fields[i], "option name").lower()
        if not name:
            raise PacketError("empty option name")
        if name in seen:  # RFC 2347 gives no meaning to a repeat; refuse it
            raise PacketError(f"duplicate option {_shown(name)}")
        seen.add(name)
        options.append((name, _ascii(fields[i + 1], f"option {_shown(name)}")))
    return tuple(options)


def _ascii(raw: bytes, what: str) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise PacketError(f"{what} is not ASCII") from None


def _shown(field: str) -> str:
    """A field of a request for an error message: quoted, ASCII-escaped, shortened.

    ``ascii()`` escapes everything that is not printable ASCII (fields that
    failed to decode come here as Latin-1, one character per byte), so the
    text can go into an ERROR and a log line as it is; the cap keeps a
    refusal from being much larger than the request that caused it.
    """
    text = ascii(field[:_SHOWN])
    return text if len(field) <= _SHOWN else text + "..."

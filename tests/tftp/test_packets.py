"""The packet codec: byte-exact tables both ways, every malformed case, round trips."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from provisioner.tftp import (
    Ack,
    Data,
    Error,
    Mode,
    OptionAck,
    Packet,
    PacketError,
    ReadRequest,
    WriteRequest,
    decode,
    encode,
)
from provisioner.tftp._packets import MAX_FIELD, MAX_OPTIONS
from tests.tftp._hostile import FLOOD_DATAGRAM, datagrams

# (packet, its exact bytes): checked in both directions.
CASES: list[tuple[Packet, bytes]] = [
    (ReadRequest("0004f2123456.cfg"), b"\x00\x010004f2123456.cfg\x00octet\x00"),
    (ReadRequest("a", Mode.NETASCII), b"\x00\x01a\x00netascii\x00"),
    (
        ReadRequest("boot/x.bin", Mode.OCTET, (("blksize", "1468"), ("tsize", "0"))),
        b"\x00\x01boot/x.bin\x00octet\x00blksize\x001468\x00tsize\x000\x00",
    ),
    (
        ReadRequest("f", Mode.OCTET, (("windowsize", "16"), ("timeout", "3"))),
        b"\x00\x01f\x00octet\x00windowsize\x0016\x00timeout\x003\x00",
    ),
    (WriteRequest("log/app.log"), b"\x00\x02log/app.log\x00octet\x00"),
    (
        WriteRequest("up", Mode.NETASCII, (("tsize", "1234"),)),
        b"\x00\x02up\x00netascii\x00tsize\x001234\x00",
    ),
    (Data(1, b"hello"), b"\x00\x03\x00\x01hello"),
    (Data(0, b""), b"\x00\x03\x00\x00"),
    (Data(65535, b"\x00\xff"), b"\x00\x03\xff\xff\x00\xff"),
    (Ack(0), b"\x00\x04\x00\x00"),
    (Ack(258), b"\x00\x04\x01\x02"),
    (Ack(65535), b"\x00\x04\xff\xff"),
    (Error(1, "File not found"), b"\x00\x05\x00\x01File not found\x00"),
    (Error(0, ""), b"\x00\x05\x00\x00\x00"),
    (Error(8, "Option refused"), b"\x00\x05\x00\x08Option refused\x00"),
    (OptionAck((("blksize", "1468"),)), b"\x00\x06blksize\x001468\x00"),
    (
        OptionAck((("tsize", "99"), ("windowsize", "8"))),
        b"\x00\x06tsize\x0099\x00windowsize\x008\x00",
    ),
    (OptionAck(()), b"\x00\x06"),
]


@pytest.mark.parametrize(("packet", "wire"), CASES)
def test_encode(packet: Packet, wire: bytes) -> None:
    assert encode(packet) == wire


@pytest.mark.parametrize(("packet", "wire"), CASES)
def test_decode(packet: Packet, wire: bytes) -> None:
    assert decode(wire) == packet


@pytest.mark.parametrize(
    ("wire", "packet"),
    [
        # Mode and option names are case-insensitive; they come back lower-case.
        (b"\x00\x01F\x00OcTeT\x00", ReadRequest("F", Mode.OCTET)),
        (b"\x00\x01f\x00NETASCII\x00", ReadRequest("f", Mode.NETASCII)),
        (
            b"\x00\x01f\x00octet\x00BlkSize\x00512\x00",
            ReadRequest("f", Mode.OCTET, (("blksize", "512"),)),
        ),
        # The filename is kept exactly as sent, whatever it looks like.
        (b"\x00\x01../../etc/passwd\x00octet\x00", ReadRequest("../../etc/passwd")),
        (b"\x00\x01C:\\Dir\\F.CFG\x00octet\x00", ReadRequest("C:\\Dir\\F.CFG")),
        # Unknown options are decoded (negotiation ignores them later).
        (
            b"\x00\x01f\x00octet\x00x-vendor\x00on\x00",
            ReadRequest("f", Mode.OCTET, (("x-vendor", "on"),)),
        ),
        # ERROR messages are decoded leniently: missing NUL, non-ASCII, trailing bytes.
        (b"\x00\x05\x00\x02denied", Error(2, "denied")),
        (b"\x00\x05\x00\x03", Error(3, "")),
        (b"\x00\x05\x00\x00caf\xe9\x00", Error(0, "caf?")),
        (b"\x00\x05\x00\x04x\x00junk", Error(4, "x")),
    ],
)
def test_decode_normalises(wire: bytes, packet: Packet) -> None:
    assert decode(wire) == packet


LONG = b"x" * (MAX_FIELD + 1)
TOO_MANY = b"".join(b"o%d\x001\x00" % i for i in range(MAX_OPTIONS + 1))


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"", "too short for an opcode"),
        (b"\x00", "too short for an opcode"),
        (b"\x00\x00", "unknown opcode 0"),
        (b"\x00\x07\x00\x00", "unknown opcode 7"),
        (b"\xff\xff", "unknown opcode 65535"),
        (b"\x00\x04\x00", "ACK must be 4 bytes, got 3"),
        (b"\x00\x04\x00\x01\x00", "ACK must be 4 bytes, got 5"),
        (b"\x00\x03\x00", "DATA is shorter than its 4-byte header"),
        (b"\x00\x05\x00", "ERROR is shorter than its 4-byte header"),
        (b"\x00\x01", "request has no filename"),
        (b"\x00\x01file", "filename is not NUL-terminated"),
        (b"\x00\x01file\x00", "request has no mode"),
        (b"\x00\x01file\x00octet", "mode is not NUL-terminated"),
        (b"\x00\x02file\x00octet", "mode is not NUL-terminated"),
        (b"\x00\x01\x00octet\x00", "empty filename"),
        (b"\x00\x01f\x00mail\x00", "mail mode is not supported"),
        (b"\x00\x01f\x00MAIL\x00", "mail mode is not supported"),
        (b"\x00\x01f\x00binary\x00", "unknown mode 'binary'"),
        (b"\x00\x01f\x00\x00", "unknown mode ''"),
        (b"\x00\x01f\x00octet\x00blksize", "option name is not NUL-terminated"),
        (b"\x00\x01f\x00octet\x00blksize\x00", "option 'blksize' has no value"),
        (
            b"\x00\x01f\x00octet\x00blksize\x00512",
            "value of option 'blksize' is not NUL-terminated",
        ),
        (b"\x00\x01f\x00octet\x00\x00512\x00", "empty option name"),
        (b"\x00\x01f\x00octet\x00\x00", "option '' has no value"),
        (b"\x00\x01f\x00octet\x00a\x001\x00A\x002\x00", "duplicate option 'a'"),
        (b"\x00\x01f\x00octet\x00tsize\x000\x00TSIZE\x000\x00", "duplicate option 'tsize'"),
        (b"\x00\x01caf\xc3\xa9\x00octet\x00", "filename is not ASCII"),
        (b"\x00\x01f\x00oct\xe9t\x00", "mode is not ASCII"),
        (b"\x00\x01f\x00octet\x00bl\xffk\x001\x00", "option name is not ASCII"),
        (b"\x00\x01f\x00octet\x00blksize\x00\xb9\x00", "option 'blksize' is not ASCII"),
        (b"\x00\x01" + LONG + b"\x00octet\x00", "filename is longer than 512 bytes"),
        (b"\x00\x01f\x00octet\x00" + LONG + b"\x001\x00", "option name is longer than 512"),
        (b"\x00\x01f\x00octet\x00" + TOO_MANY, "more than 16 options"),
        (b"\x00\x06blksize", "option name is not NUL-terminated"),
        (b"\x00\x06blksize\x00512", "value of option 'blksize' is not NUL-terminated"),
        (b"\x00\x06blksize\x00", "option 'blksize' has no value"),
    ],
)
def test_malformed(wire: bytes, message: str) -> None:
    with pytest.raises(PacketError, match=message):
        decode(wire)


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (Ack(65536), "ACK number 65536 is outside 0-65535"),
        (Data(-1, b""), "DATA number -1 is outside 0-65535"),
        (Error(70000, "x"), "ERROR number 70000"),
        (ReadRequest(""), "empty filename"),
        (ReadRequest("caf\xe9"), "filename 'café' is not ASCII"),
        (ReadRequest("a\0b"), "contains NUL"),
        (OptionAck((("", "1"),)), "empty option name"),
        (OptionAck((("blksize", "\xe9"),)), "option 'blksize'"),
    ],
)
def test_unencodable(packet: Packet, message: str) -> None:
    with pytest.raises(PacketError, match=message):
        encode(packet)


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        ("\u2603", b"\\u2603"),
        ("caf\xe9", b"caf\\xe9"),
        ("a\0b", b"a\\x00b"),
        ("tab\there", b"tab\there"),
    ],
)
def test_error_messages_are_escaped_to_netascii(message: str, wire: bytes) -> None:
    # An ERROR may quote what a client sent; its encoding must never fail.
    assert encode(Error(0, message)) == b"\x00\x05\x00\x00" + wire + b"\x00"


@given(st.integers(0, 65535), st.text())
def test_any_error_message_encodes(code: int, message: str) -> None:
    packet = decode(encode(Error(code, message)))
    assert isinstance(packet, Error)
    assert packet.code == code


@given(datagrams)
@example(FLOOD_DATAGRAM)
def test_decode_errors_are_short_printable_ascii(datagram: bytes) -> None:
    # The message goes back in an ERROR and into a log line as it is.
    try:
        decode(datagram)
    except PacketError as exc:
        message = str(exc)
        assert message.isascii()
        assert message.isprintable()
        assert len(message) <= 200


# Round trips: any packet we can build decodes back to itself.
_ascii_text = st.text(
    alphabet=st.characters(min_codepoint=1, max_codepoint=127), min_size=1, max_size=40
)
_option_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
_options = st.lists(
    st.tuples(_option_names, st.text(alphabet="0123456789", max_size=8)),
    max_size=MAX_OPTIONS,
    unique_by=lambda option: option[0],
).map(tuple)
_blocks = st.integers(min_value=0, max_value=65535)
_packets = st.one_of(
    st.builds(ReadRequest, _ascii_text, st.sampled_from(Mode), _options),
    st.builds(WriteRequest, _ascii_text, st.sampled_from(Mode), _options),
    st.builds(Data, _blocks, st.binary(max_size=1500)),
    st.builds(Ack, _blocks),
    st.builds(Error, _blocks, _ascii_text | st.just("")),
    st.builds(OptionAck, _options),
)


@given(_packets)
def test_round_trip(packet: Packet) -> None:
    assert decode(encode(packet)) == packet


# Random bytes, and random bytes behind each valid (and one invalid) opcode.
_datagrams = st.binary(max_size=600) | st.builds(
    bytes.__add__, st.sampled_from([b"\0%c" % n for n in range(8)]), st.binary(max_size=600)
)


@given(_datagrams)
def test_decode_never_raises_anything_else(datagram: bytes) -> None:
    try:
        packet = decode(datagram)
    except PacketError:
        return
    # Whatever decodes re-encodes to a datagram that decodes the same.
    assert decode(encode(packet)) == packet

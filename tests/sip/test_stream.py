"""Framing messages off a TCP/TLS byte stream by Content-Length (RFC 3261 §18.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.sip import MAX_MESSAGE_SIZE, Headers, MessageError, Response, StreamFramer, encode

OK = encode(Response(200, "OK", Headers([("CSeq", "1 NOTIFY")])))
WITH_BODY = encode(
    Response(
        488, "Not Acceptable Here", Headers([("Content-Type", "text/plain")]), b"\r\n\r\nx\r\n"
    )
)


def test_whole_messages_in_one_chunk() -> None:
    framer = StreamFramer()
    messages = framer.feed(OK + WITH_BODY + OK)
    assert [m.status for m in messages if isinstance(m, Response)] == [200, 488, 200]
    assert messages[1].body == b"\r\n\r\nx\r\n"  # a blank line inside a body is body
    assert framer.feed(b"") == []


def test_byte_by_byte() -> None:
    framer = StreamFramer()
    out = []
    for i in range(len(WITH_BODY)):
        out += framer.feed(WITH_BODY[i : i + 1])
        if i < len(WITH_BODY) - 1:
            assert out == []
    assert len(out) == 1
    assert out[0].body == b"\r\n\r\nx\r\n"


def test_keepalive_crlfs_are_skipped() -> None:
    # RFC 5626 §3.5.1 pings (CRLFCRLF) and pongs (CRLF) between messages; §7.5.
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == []
    assert framer.feed(b"\r") == []
    assert len(framer.feed(b"\n" + OK + b"\r\n")) == 1
    assert len(framer.feed(OK)) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"SIP/2.0 200 OK\r\nCSeq: 1 NOTIFY\r\n\r\n", "no Content-Length on a stream"),
        (b"SIP/2.0 200 OK\r\nbroken\r\n\r\n", "without a colon"),
        (b"GARBAGE\r\nContent-Length: 0\r\n\r\n", "bad request line"),
        (b"SIP/2.0 200 OK\r\nContent-Length: 99999\r\n\r\n", "exceeds the limit"),
        (b"SIP/2.0 200 OK\r\nX: " + b"y" * MAX_MESSAGE_SIZE, "no end of headers"),
    ],
)
def test_unframeable_streams(data: bytes, message: str) -> None:
    framer = StreamFramer()
    with pytest.raises(MessageError, match=message):
        framer.feed(data)
    assert framer.feed(OK) != []  # the buffer was dropped: nothing stale is left


@given(st.lists(st.integers(1, 40), min_size=1))
def test_any_chunking_gives_the_same_messages(sizes: list[int]) -> None:
    stream = OK + b"\r\n" + WITH_BODY + OK
    framer = StreamFramer()
    out = []
    position = 0
    for size in sizes * (len(stream) // sum(sizes) + 1):
        out += framer.feed(stream[position : position + size])
        position += size
    assert [encode(m) for m in out] == [OK, WITH_BODY, OK]

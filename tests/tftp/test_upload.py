"""The write (upload) session, driven step by step with a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.tftp import (
    TERMINAL,
    Ack,
    Error,
    Limits,
    Mode,
    OptionAck,
    State,
    WriteSession,
    decode,
    encode,
)
from tests.tftp._wire import ack, data, state


def test_upload_in_lockstep_waits_for_the_verdict() -> None:
    session = WriteSession()
    assert session.start(0.0) == [ack(0)]
    assert session.receive(data(1, b"a" * 512), 0.1) == [ack(1)]
    assert session.receive(data(2, b"b" * 10), 0.2) == []  # not yet: the owner decides
    assert state(session) is State.RECEIVED
    assert session.next_timer() is None
    assert session.data == b"a" * 512 + b"b" * 10
    assert session.receive(data(2, b"b" * 10), 0.3) == []
    assert session.accept(0.4) == [ack(2)]
    assert state(session) is State.DONE
    # Dallying (RFC 1350 §6): a repeat of the last block gets the final ACK again.
    assert session.receive(data(2, b"b" * 10), 0.5) == [ack(2)]
    assert session.receive(b"junk", 0.5) == []
    assert session.next_timer() == pytest.approx(0.4 + 6 * 1.0)
    assert session.handle_timer(6.4) == []
    assert session.next_timer() is None


def test_rejected_upload_gets_error_2() -> None:
    session = WriteSession()
    session.start(0.0)
    session.receive(data(1, b"x"), 0.0)
    assert session.reject("not wanted") == [encode(Error(2, "Access violation"))]
    assert state(session) is State.FAILED
    assert session.reason == "not wanted"


def test_options_and_tsize_echo() -> None:
    session = WriteSession((("blksize", "100"), ("tsize", "250"), ("windowsize", "8")))
    # windowsize is not negotiated for uploads.
    assert session.start(0.0) == [encode(OptionAck((("blksize", "100"), ("tsize", "250"))))]
    assert state(session) is State.NEGOTIATING
    assert session.handle_timer(1.0) == [encode(OptionAck((("blksize", "100"), ("tsize", "250"))))]
    assert session.receive(data(1, b"x" * 100), 1.1) == [ack(1)]
    assert session.receive(data(2, b"x" * 100), 1.2) == [ack(2)]
    assert session.receive(data(3, b"x" * 50), 1.3) == []
    assert session.transferred == 250


def test_announced_size_over_the_cap_is_refused_at_once() -> None:
    session = WriteSession((("tsize", "2000"),), max_size=1000)
    assert session.start(0.0) == [encode(Error(3, "Disk full or allocation exceeded"))]
    assert state(session) is State.FAILED


def test_growing_past_the_cap_is_stopped() -> None:
    session = WriteSession(max_size=1000)
    session.start(0.0)
    session.receive(data(1, b"x" * 512), 0.0)
    assert session.receive(data(2, b"x" * 512), 0.0) == [
        encode(Error(3, "Disk full or allocation exceeded"))
    ]
    assert state(session) is State.FAILED


def test_oversized_block_is_illegal() -> None:
    session = WriteSession()
    session.start(0.0)
    assert session.receive(data(1, b"x" * 513), 0.0) == [
        encode(Error(4, "DATA larger than the block size"))
    ]


def test_duplicate_block_is_reacknowledged_and_others_ignored() -> None:
    session = WriteSession()
    session.start(0.0)
    session.receive(data(1, b"x" * 512), 0.0)
    assert session.receive(data(1, b"x" * 512), 0.1) == [ack(1)]  # our ACK 1 was lost
    assert session.receive(data(5, b"x"), 0.1) == []
    assert session.transferred == 512


def test_lost_ack_is_retransmitted_then_gives_up() -> None:
    session = WriteSession(limits=Limits(retries=2))
    assert session.start(0.0) == [ack(0)]
    assert session.handle_timer(1.0) == [ack(0)]
    assert session.handle_timer(2.0) == [ack(0)]
    assert session.handle_timer(3.0) == []
    assert state(session) is State.FAILED


def test_netascii_upload_is_converted_back() -> None:
    session = WriteSession(mode=Mode.NETASCII)
    session.start(0.0)
    session.receive(data(1, b"a\r\nb\r\0c"), 0.0)
    assert session.data == b"a\nb\rc"


def test_ack_from_the_uploader_is_illegal() -> None:
    session = WriteSession()
    session.start(0.0)
    assert session.receive(ack(0), 0.0) == [encode(Error(4, "Illegal TFTP operation"))]
    assert state(session) is State.FAILED


def test_block_numbers_wrap() -> None:
    session = WriteSession((("blksize", "8"),), max_size=10**7)
    session.start(0.0)
    for n in range(1, 65540):
        assert session.receive(data(n & 0xFFFF, b"12345678"), 0.0) == [ack(n & 0xFFFF)]
    session.receive(data(65540 & 0xFFFF, b""), 0.0)
    assert state(session) is State.RECEIVED
    assert session.transferred == 8 * 65539


def test_error_from_the_client_ends_it() -> None:
    session = WriteSession()
    session.start(0.0)
    assert session.receive(encode(Error(0, "bye")), 0.0) == []
    assert state(session) is State.FAILED


def test_misuse_raises() -> None:
    session = WriteSession()
    with pytest.raises(RuntimeError, match="before start"):
        session.receive(data(1, b""), 0.0)
    session.start(0.0)
    with pytest.raises(RuntimeError, match="outside RECEIVED"):
        session.accept(0.0)
    with pytest.raises(RuntimeError, match="outside RECEIVED"):
        session.reject("no")


_datagrams = st.one_of(
    st.builds(data, st.integers(0, 5) | st.just(65535), st.binary(max_size=600)),
    st.builds(ack, st.integers(0, 3)),
    st.builds(lambda c: encode(Error(c, "x")), st.integers(0, 8)),
    st.binary(max_size=8),
)


@given(
    st.lists(
        st.tuples(st.just("receive"), _datagrams)
        | st.tuples(st.just("timer"), st.floats(0.0, 3.0))
        | st.tuples(st.just("verdict"), st.booleans()),
        max_size=40,
    )
)
def test_any_input_sequence_ends_in_a_valid_state(inputs: list[tuple[str, object]]) -> None:
    session = WriteSession(limits=Limits(retries=2), max_size=1500)
    now = 0.0
    session.start(now)
    for kind, value in inputs:
        if kind == "receive":
            assert isinstance(value, bytes)
            outputs = session.receive(value, now)
        elif kind == "timer":
            assert isinstance(value, float)
            now += value
            outputs = session.handle_timer(now)
        elif session.state is State.RECEIVED:
            outputs = session.accept(now) if value else session.reject("no")
        else:
            continue
        for datagram in outputs:
            assert isinstance(decode(datagram), Ack | OptionAck | Error)
        assert session.transferred <= 1500
        if session.state is State.FAILED or session.state is State.RECEIVED:
            assert session.next_timer() is None
        if session.state not in TERMINAL and session.state is not State.RECEIVED:
            assert session.next_timer() is not None

"""The read session driven with a fake clock and a simulated network (no sockets)."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from provisioner.tftp import (
    TERMINAL,
    Data,
    Error,
    Limits,
    Mode,
    OptionAck,
    Options,
    ReadRequest,
    ReadSession,
    State,
    decode,
    encode,
    to_netascii,
)
from tests.tftp._wire import ack, data, state


def oack(*options: tuple[str, str]) -> bytes:
    return encode(OptionAck(options))


def blocks(datagrams: list[bytes]) -> list[int]:
    """The block numbers of a list of DATA datagrams."""
    numbers = []
    for datagram in datagrams:
        packet = decode(datagram)
        assert isinstance(packet, Data)
        numbers.append(packet.block)
    return numbers


class SimClient:
    """A sans-IO read client (RFC 1350, RFC 7440 receiver rules) for the simulations.

    It acknowledges every out-of-sequence block with its last in-order one, the
    strictest reading of RFC 7440 §4, so the server sees every duplicate ACK a
    real client could send; and after the last block it keeps answering a
    repeat of it (dallying, RFC 1350 §6).
    """

    def __init__(self) -> None:
        self.data = bytearray()
        self.received = 0
        self.in_window = 0
        self.blksize = 512
        self.windowsize = 1
        self.done = False
        self.error: Error | None = None

    def deliver(self, datagram: bytes) -> list[bytes]:
        packet = decode(datagram)
        if isinstance(packet, Error):
            self.error = packet
            return []
        if isinstance(packet, OptionAck):
            if self.received:
                return []
            options = dict(packet.options)
            self.blksize = int(options.get("blksize", "512"))
            self.windowsize = int(options.get("windowsize", "1"))
            return [ack(0)]
        assert isinstance(packet, Data)
        if self.done or packet.block != (self.received + 1) & 0xFFFF:
            self.in_window = 0
            return [ack(self.received & 0xFFFF)]
        self.data += packet.payload
        self.received += 1
        self.in_window += 1
        if len(packet.payload) < self.blksize:
            self.done = True
            return [ack(packet.block)]
        if self.in_window == self.windowsize:
            self.in_window = 0
            return [ack(packet.block)]
        return []


def run(
    session: ReadSession,
    client: SimClient,
    *,
    lose: Callable[[bytes], bool] = lambda datagram: False,
    limit: int = 2_000_000,
) -> float:
    """Deliver datagrams in order both ways, firing the timer when the wire is idle.

    Returns the fake time at the end.
    """
    now = 0.0
    wire: deque[tuple[bool, bytes]] = deque((True, d) for d in session.start(now))
    for _ in range(limit):
        if session.state in TERMINAL and not wire:
            return now
        if wire:
            to_client, datagram = wire.popleft()
            if lose(datagram):
                continue
            if to_client:
                wire.extend((False, reply) for reply in client.deliver(datagram))
            else:
                wire.extend((True, reply) for reply in session.receive(datagram, now))
        else:
            deadline = session.next_timer()
            assert deadline is not None
            assert deadline > now
            now = deadline
            wire.extend((True, d) for d in session.handle_timer(now))
    raise AssertionError("the transfer did not end")


def pattern(size: int) -> bytes:
    """Deterministic content with every byte value, including CR, LF and NUL."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


# Plain transfers, step by step.


def test_plain_transfer_in_lockstep() -> None:
    content = pattern(1300)
    session = ReadSession(content)
    assert session.start(0.0) == [data(1, content[:512])]
    assert state(session) is State.TRANSFERRING
    assert session.next_timer() == 1.0
    assert session.receive(ack(1), 0.1) == [data(2, content[512:1024])]
    assert session.next_timer() == pytest.approx(1.1)
    assert session.receive(ack(2), 0.2) == [data(3, content[1024:])]
    assert session.transferred == 1024
    assert session.receive(ack(3), 0.3) == []
    assert state(session) is State.DONE
    assert session.next_timer() is None
    assert session.transferred == 1300
    assert session.receive(ack(3), 0.4) == []  # stragglers after the end


def test_empty_file_is_one_empty_block() -> None:
    session = ReadSession(b"")
    assert session.start(0.0) == [data(1, b"")]
    assert session.receive(ack(1), 0.0) == []
    assert state(session) is State.DONE


def test_size_multiple_of_blksize_ends_with_empty_block() -> None:
    content = pattern(1024)
    session = ReadSession(content)
    assert session.start(0.0) == [data(1, content[:512])]
    assert session.receive(ack(1), 0.0) == [data(2, content[512:])]
    assert session.receive(ack(2), 0.0) == [data(3, b"")]
    assert state(session) is State.TRANSFERRING
    assert session.receive(ack(3), 0.0) == []
    assert state(session) is State.DONE


def test_netascii_converts_line_ends_and_reports_wire_size() -> None:
    session = ReadSession(b"a\nb\rc\r\n", (("tsize", "0"),), mode=Mode.NETASCII)
    wire = b"a\r\nb\r\0c\r\0\r\n"
    assert session.start(0.0) == [oack(("tsize", str(len(wire))))]
    assert session.receive(ack(0), 0.0) == [data(1, wire)]
    assert session.receive(ack(1), 0.0) == []
    assert session.transferred == session.size == len(wire)


# Options.


def test_options_negotiated_then_ack_0_starts_the_data() -> None:
    content = pattern(3000)
    options = (("blksize", "1024"), ("tsize", "0"), ("timeout", "3"), ("x-vendor", "1"))
    session = ReadSession(content, options)
    assert session.start(10.0) == [oack(("blksize", "1024"), ("tsize", "3000"), ("timeout", "3"))]
    assert state(session) is State.NEGOTIATING
    assert session.next_timer() == 13.0  # the negotiated timeout is the interval
    assert session.receive(ack(1), 10.5) == []  # only ACK 0 answers an OACK
    assert session.receive(ack(0), 11.0) == [data(1, content[:1024])]
    assert session.next_timer() == 14.0
    assert session.receive(ack(1), 11.0) == [data(2, content[1024:2048])]


@pytest.mark.parametrize(
    ("requested", "reply"),
    [
        ((("blksize", "65464"),), (("blksize", "1468"),)),  # clamped to the server's cap
        ((("blksize", "99999"),), (("blksize", "1468"),)),  # above the RFC range: clamped too
        ((("blksize", "8"),), (("blksize", "8"),)),
        ((("blksize", "7"),), ()),  # below RFC 2348's minimum: ignored
        ((("blksize", "big"),), ()),
        ((("blksize", ""),), ()),
        ((("timeout", "0"),), ()),  # RFC 2349: 1-255
        ((("timeout", "256"),), ()),
        ((("timeout", "255"),), (("timeout", "255"),)),
        ((("windowsize", "0"),), ()),  # RFC 7440: 1-65535
        ((("windowsize", "65536"),), ()),
        ((("windowsize", "65535"),), (("windowsize", "64"),)),  # clamped to the server's cap
        ((("windowsize", "16"),), (("windowsize", "16"),)),
        ((("tsize", "12345"),), (("tsize", "100"),)),  # RRQ: the real size, whatever was sent
        ((("tsize", "-1"),), ()),
        ((("multicast", ""), ("rollover", "0")), ()),  # unknown: ignored
    ],
)
def test_option_values(requested: Options, reply: Options) -> None:
    session = ReadSession(pattern(100), requested)
    assert session.negotiated.reply == reply
    expected = [oack(*reply)] if reply else [data(1, pattern(100))]
    assert session.start(0.0) == expected


def test_client_refusing_the_oack_ends_the_session() -> None:
    session = ReadSession(pattern(10), (("blksize", "1024"),))
    session.start(0.0)
    assert session.receive(encode(Error(8, "no thanks")), 0.1) == []
    assert state(session) is State.FAILED
    assert session.reason == "client sent ERROR 8: no thanks"
    assert session.next_timer() is None


def test_oack_is_retransmitted_like_data() -> None:
    session = ReadSession(pattern(10), (("tsize", "0"),), limits=Limits(retries=1))
    first = session.start(0.0)
    assert session.handle_timer(0.5) == []  # not due yet
    assert session.handle_timer(1.0) == first
    assert session.handle_timer(2.0) == []
    assert state(session) is State.FAILED


# Windows (RFC 7440).


def test_windowsize_16_with_a_block_lost_in_the_middle() -> None:
    content = pattern(40 * 512 + 100)  # 41 blocks
    session = ReadSession(content, (("windowsize", "16"),))
    assert session.start(0.0) == [oack(("windowsize", "16"))]
    window = session.receive(ack(0), 0.0)
    assert blocks(window) == list(range(1, 17))
    assert window[7] == data(8, content[7 * 512 : 8 * 512])
    # Block 8 is lost: the client acknowledges 7, once for each block after it.
    resent = session.receive(ack(7), 0.1)
    assert blocks(resent) == list(range(8, 24))  # resent from block 8 (RFC 7440 §4)
    for _ in range(8):
        assert session.receive(ack(7), 0.1) == []  # duplicates: ignored
    assert blocks(session.receive(ack(23), 0.2)) == list(range(24, 40))
    assert blocks(session.receive(ack(39), 0.3)) == [40, 41]
    assert session.receive(ack(41), 0.4) == []
    assert state(session) is State.DONE


def test_window_timeout_resends_the_outstanding_blocks() -> None:
    session = ReadSession(pattern(10 * 512), (("windowsize", "4"),))
    session.start(0.0)
    first = session.receive(ack(0), 0.0)
    assert session.handle_timer(1.0) == first
    assert blocks(session.receive(ack(2), 1.1)) == [3, 4, 5, 6]
    assert blocks(session.handle_timer(2.1)) == [3, 4, 5, 6]


def test_window_is_shortened_by_the_end_of_the_file() -> None:
    session = ReadSession(pattern(2 * 512), (("windowsize", "8"),))
    session.start(0.0)
    assert blocks(session.receive(ack(0), 0.0)) == [1, 2, 3]
    assert session.receive(ack(3), 0.0) == []
    assert state(session) is State.DONE


def test_ack_beyond_what_was_sent_is_ignored() -> None:
    session = ReadSession(pattern(10 * 512), (("windowsize", "4"),))
    session.start(0.0)
    session.receive(ack(0), 0.0)
    assert session.receive(ack(5), 0.0) == []
    assert session.receive(ack(60000), 0.0) == []
    assert session.transferred == 0


# Duplicates, loss, retransmission.


def test_duplicate_and_old_acks_are_ignored() -> None:
    # RFC 1123 §4.2.3.1: answering duplicate ACKs is the Sorcerer's Apprentice bug.
    content = pattern(2000)
    session = ReadSession(content)
    session.start(0.0)
    assert session.receive(ack(1), 0.0) == [data(2, content[512:1024])]
    assert session.receive(ack(1), 0.0) == []
    assert session.receive(ack(0), 0.0) == []
    assert session.receive(ack(2), 0.0) == [data(3, content[1024:1536])]


def test_lost_block_is_retransmitted_on_the_timer() -> None:
    content = pattern(600)
    session = ReadSession(content, limits=Limits(timeout=2.0))
    first = session.start(0.0)
    assert session.handle_timer(1.9) == []
    assert session.handle_timer(2.0) == first
    assert session.next_timer() == 4.0
    assert session.receive(ack(1), 2.5) == [data(2, content[512:])]
    assert session.next_timer() == 4.5


def test_retries_exhausted_fails_quietly() -> None:
    session = ReadSession(pattern(600), limits=Limits(retries=3))
    first = session.start(0.0)
    for second in (1.0, 2.0, 3.0):
        assert session.handle_timer(second) == first
    assert session.handle_timer(4.0) == []
    assert state(session) is State.FAILED
    assert session.reason == "no response after 3 retransmissions"
    assert session.next_timer() is None
    assert session.receive(ack(1), 4.1) == []


def test_progress_resets_the_retry_count() -> None:
    session = ReadSession(pattern(3000), limits=Limits(retries=2))
    session.start(0.0)
    session.handle_timer(1.0)
    session.handle_timer(2.0)
    session.receive(ack(1), 2.5)
    session.handle_timer(3.5)
    session.handle_timer(4.5)
    assert state(session) is State.TRANSFERRING
    session.handle_timer(5.5)
    assert state(session) is State.FAILED


# The client misbehaving.


def test_error_from_the_client_ends_the_session_unanswered() -> None:
    session = ReadSession(pattern(3000))
    session.start(0.0)
    assert session.receive(encode(Error(3, "disk full")), 0.0) == []
    assert state(session) is State.FAILED
    assert session.reason == "client sent ERROR 3: disk full"


@pytest.mark.parametrize(
    ("datagram", "message"),
    [
        (b"\x00\x04\x00", "ACK must be 4 bytes, got 3"),
        (b"\x00\x09", "unknown opcode 9"),
        (encode(Data(1, b"x")), "Illegal TFTP operation"),
        (encode(ReadRequest("f")), "Illegal TFTP operation"),
        (oack(("blksize", "8")), "Illegal TFTP operation"),
    ],
)
def test_malformed_or_unexpected_packet_fails_with_error_4(datagram: bytes, message: str) -> None:
    session = ReadSession(pattern(3000))
    session.start(0.0)
    assert session.receive(datagram, 0.0) == [encode(Error(4, message))]
    assert state(session) is State.FAILED
    assert session.next_timer() is None


def test_misuse_raises() -> None:
    session = ReadSession(b"x")
    with pytest.raises(RuntimeError, match="before start"):
        session.receive(ack(1), 0.0)
    session.start(0.0)
    with pytest.raises(RuntimeError, match="twice"):
        session.start(0.0)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_blksize"):
        Limits(max_blksize=65465)
    with pytest.raises(ValueError, match="max_blksize"):
        Limits(max_blksize=7)
    with pytest.raises(ValueError, match="timeout"):
        Limits(timeout=0)
    with pytest.raises(ValueError, match="retries"):
        Limits(retries=-1)
    with pytest.raises(ValueError, match="max_windowsize"):
        Limits(max_windowsize=0)


# Whole transfers over the simulated network.


@pytest.mark.parametrize("windowsize", ["1", "16"])
def test_more_than_65535_blocks_wrap_to_zero(windowsize: str) -> None:
    content = pattern(8 * 70_000 + 3)  # 70,001 blocks of 8 bytes
    session = ReadSession(content, (("blksize", "8"), ("windowsize", windowsize)))
    numbers: list[int] = []

    def watch(datagram: bytes) -> bool:
        if datagram[:2] == b"\x00\x03":
            numbers.append(int.from_bytes(datagram[2:4], "big"))
        return False

    client = SimClient()
    run(session, client, lose=watch)
    assert state(session) is State.DONE
    assert client.data == content
    assert numbers[65534:65538] == [65535, 0, 1, 2]  # wraps to 0, as tftp-hpa does
    assert numbers[-1] == 70_001 & 0xFFFF


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("windowsize", ["1", "4", "16"])
def test_a_third_of_all_datagrams_lost_still_delivers(windowsize: str, seed: int) -> None:
    content = pattern(20_000)
    session = ReadSession(content, (("windowsize", windowsize),), limits=Limits(retries=20))
    chance = random.Random(seed)
    client = SimClient()
    run(session, client, lose=lambda datagram: chance.random() < 1 / 3)
    assert state(session) is State.DONE
    assert client.data == content


# Properties.

_ack_blocks = st.integers(0, 40) | st.integers(65500, 65535)
_datagrams = st.one_of(
    st.builds(lambda n: ack(n), _ack_blocks),
    st.builds(lambda n: ack(n), _ack_blocks),  # twice: ACKs are what moves a session
    st.builds(lambda c, m: encode(Error(c, m)), st.integers(0, 8), st.sampled_from(["", "x"])),
    st.builds(lambda n, p: data(n, p), _ack_blocks, st.binary(max_size=20)),
    st.just(encode(ReadRequest("f"))),
    st.just(oack(("blksize", "8"))),
    st.binary(max_size=12),
)
_inputs = st.lists(
    st.tuples(st.just("receive"), _datagrams)
    | st.tuples(st.just("timer"), st.floats(0.0, 3.0, allow_nan=False)),
    max_size=60,
)
_option_sets = st.lists(
    st.sampled_from(
        [
            ("blksize", "8"),
            ("blksize", "512"),
            ("windowsize", "3"),
            ("tsize", "0"),
            ("timeout", "2"),
            ("x", "y"),
        ]
    ),
    unique_by=lambda option: option[0],
    max_size=4,
).map(tuple)


@given(
    size=st.integers(0, 200),
    options=_option_sets,
    netascii=st.booleans(),
    inputs=_inputs,
)
def test_any_input_sequence_ends_in_a_valid_state(
    size: int, options: Options, netascii: bool, inputs: list[tuple[str, object]]
) -> None:
    mode = Mode.NETASCII if netascii else Mode.OCTET
    session = ReadSession(pattern(size), options, mode=mode, limits=Limits(retries=3))
    now = 0.0
    outputs = session.start(now)
    for kind, value in inputs:
        was_terminal = session.state in TERMINAL
        if kind == "timer":
            assert isinstance(value, float)
            now += value
            outputs = session.handle_timer(now)
        else:
            assert isinstance(value, bytes)
            outputs = session.receive(value, now)
        for datagram in outputs:
            assert isinstance(decode(datagram), Data | OptionAck | Error)
        assert session.state in {State.NEGOTIATING, State.TRANSFERRING, State.DONE, State.FAILED}
        assert 0 <= session.transferred <= session.size
        if was_terminal:
            assert outputs == []
        if session.state in TERMINAL:
            assert session.next_timer() is None
        else:
            deadline = session.next_timer()
            assert deadline is not None
            assert deadline > now - 3.0
        if session.state is State.FAILED:
            assert session.reason


class LossyTransfer(RuleBasedStateMachine):
    """A transfer over a network that loses whatever hypothesis chooses."""

    @initialize(
        size=st.integers(0, 3000),
        blksize=st.sampled_from([8, 100, 512]),
        windowsize=st.sampled_from([1, 2, 5, 16]),
        netascii=st.booleans(),
    )
    def open(self, size: int, blksize: int, windowsize: int, netascii: bool) -> None:
        content = pattern(size)
        self.expected = to_netascii(content) if netascii else content
        options = (("blksize", str(blksize)), ("windowsize", str(windowsize)), ("tsize", "0"))
        mode = Mode.NETASCII if netascii else Mode.OCTET
        self.session = ReadSession(content, options, mode=mode, limits=Limits(retries=4))
        self.client = SimClient()
        self.now = 0.0
        self.to_client: deque[bytes] = deque(self.session.start(self.now))
        self.to_server: deque[bytes] = deque()

    @rule(lost=st.booleans())
    def to_the_client(self, lost: bool) -> None:
        if self.to_client:
            datagram = self.to_client.popleft()
            if not lost:
                self.to_server.extend(self.client.deliver(datagram))

    @rule(lost=st.booleans())
    def to_the_server(self, lost: bool) -> None:
        if self.to_server:
            datagram = self.to_server.popleft()
            if not lost:
                self.to_client.extend(self.session.receive(datagram, self.now))

    @rule()
    def timer_fires(self) -> None:
        deadline = self.session.next_timer()
        if deadline is not None:
            self.now = deadline
            self.to_client.extend(self.session.handle_timer(self.now))

    @invariant()
    def never_wrong_bytes(self) -> None:
        assert self.expected.startswith(self.client.data)
        assert self.client.error is None
        if self.session.state is State.DONE:
            assert self.client.done
            assert bytes(self.client.data) == self.expected

    def teardown(self) -> None:
        # From here the network is perfect: the transfer must complete, or have
        # already run out of retries and failed cleanly.
        for _ in range(100_000):
            if self.session.state in TERMINAL:
                break
            if self.to_client:
                self.to_server.extend(self.client.deliver(self.to_client.popleft()))
            elif self.to_server:
                self.to_client.extend(self.session.receive(self.to_server.popleft(), self.now))
            else:
                self.timer_fires()
        if self.session.state is State.DONE:
            assert bytes(self.client.data) == self.expected
        else:
            assert self.session.state is State.FAILED
            assert self.session.reason.startswith("no response after")


LossyTransfer.TestCase.settings = settings(max_examples=200, stateful_step_count=60)
test_lossy_transfer = LossyTransfer.TestCase

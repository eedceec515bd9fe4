"""One NOTIFY and at most one challenge (the exchange), with canned responses and a fake clock."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.sip import (
    Challenge,
    Headers,
    NotifyExchange,
    NotifyOutcome,
    NotifyRequest,
    Phase,
    Request,
    Response,
    Timers,
    authorization,
    cseq,
    parse,
)

REQUEST = NotifyRequest(
    host="10.0.0.7",
    port=5060,
    transport="udp",
    request_uri="sip:201@10.0.0.7:5060",
    to_uri="sip:201@pbx.example.com",
    from_uri="sip:provisioner@pbx.example.com",
    event="check-sync;reboot=false",
    username="201",
    password="secret-201",
)
CHALLENGE = 'Digest realm="PolycomSPIP", nonce="4f2c9a", qop="auth", algorithm=MD5, opaque="op"'


def exchange(request: NotifyRequest = REQUEST, **changes: object) -> NotifyExchange:
    """An exchange whose random tokens are tok0, tok1, … in the order they are drawn."""
    counter = itertools.count()
    return NotifyExchange(
        request,
        sent_by="10.0.0.5:5060",
        user_agent="provisioner/1.0",
        token=lambda: f"tok{next(counter)}",
        **changes,  # type: ignore[arg-type]
    )


def phase(ex: NotifyExchange) -> Phase:
    """The phase, read through a call: mypy would otherwise keep ``ex.phase``
    narrowed by one assertion across the calls that change it (likewise below)."""
    return ex.phase


def outcome(ex: NotifyExchange) -> NotifyOutcome | None:
    return ex.outcome


def finished(ex: NotifyExchange) -> bool:
    return ex.finished


def absorbing(ex: NotifyExchange) -> bool:
    return ex.absorbing


def sent(datagrams: list[bytes]) -> Request:
    assert len(datagrams) == 1
    message = parse(datagrams[0])
    assert isinstance(message, Request)
    return message


def answer(
    request: Request, status: int, reason: str = "Reason", *extra: tuple[str, str]
) -> Response:
    """The phone's response: Via, From, To (with a tag), Call-ID and CSeq copied (§8.2.6.2)."""
    copied = [
        (name, value)
        for name, value in request.headers
        if name in {"Via", "From", "Call-ID", "CSeq"}
    ]
    to = request.headers.get("To")
    return Response(status, reason, Headers([*copied, ("To", f"{to};tag=phone"), *extra]))


def test_first_notify_exactly() -> None:
    """The NOTIFY we send (docs/sip.md shows it): tokens are Call-ID, From tag, then branch."""
    assert exchange().start(0.0) == [
        b"NOTIFY sip:201@10.0.0.7:5060 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKtok2;rport\r\n"
        b"Max-Forwards: 70\r\n"
        b"From: <sip:provisioner@pbx.example.com>;tag=tok1\r\n"
        b"To: <sip:201@pbx.example.com>\r\n"
        b"Call-ID: tok0\r\n"
        b"CSeq: 1 NOTIFY\r\n"
        b"Contact: <sip:10.0.0.5:5060>\r\n"
        b"Event: check-sync;reboot=false\r\n"
        b"Subscription-State: terminated\r\n"
        b"User-Agent: provisioner/1.0\r\n"
        b"Content-Length: 0\r\n"
        b"\r\n"
    ]


@pytest.mark.parametrize(
    ("transport", "via", "contact"),
    [
        ("tcp", "SIP/2.0/TCP 10.0.0.5:5060;", "<sip:10.0.0.5:5060;transport=tcp>"),
        ("tls", "SIP/2.0/TLS 10.0.0.5:5060;", "<sips:10.0.0.5:5060>"),
    ],
)
def test_stream_transports(transport: Literal["tcp", "tls"], via: str, contact: str) -> None:
    request = replace(REQUEST, transport=transport)
    ex = exchange(request)
    notify = sent(ex.start(0.0))
    assert (notify.headers.get("Via") or "").startswith(via)
    assert notify.headers.get("Contact") == contact
    assert ex.next_timer() == 32.0  # reliable: only Timer F
    ex.receive(answer(notify, 200, "OK"), 0.1)
    assert ex.finished  # no Timer K on reliable transports


def test_body_and_content_type() -> None:
    request = replace(
        REQUEST,
        event="service-control",
        content_type="text/plain",
        body=b"action=restart\r\nRegisterCallId={}\r\n",
    )
    notify = sent(exchange(request).start(0.0))
    assert notify.headers.get("Content-Type") == "text/plain"
    assert notify.body == b"action=restart\r\nRegisterCallId={}\r\n"


def test_200() -> None:
    ex = exchange()
    notify = sent(ex.start(1.0))
    assert phase(ex) is Phase.SENDING
    assert not absorbing(ex)
    assert ex.receive(answer(notify, 200, "OK"), 1.25) == []
    assert ex.outcome == NotifyOutcome(True, 200, "OK", 1, 0.25)
    assert phase(ex) is Phase.DONE
    assert not finished(ex)  # Timer K still absorbs retransmitted 200s
    assert absorbing(ex)  # and nothing more is sent
    assert ex.next_timer() == 6.25
    assert ex.receive(answer(notify, 200, "OK"), 2.0) == []
    ex.handle_timer(6.25)
    assert finished(ex)
    assert ex.next_timer() is None


def test_provisional_then_2xx() -> None:
    ex = exchange()
    notify = sent(ex.start(0.0))
    ex.receive(answer(notify, 100, "Trying"), 0.1)
    assert outcome(ex) is None
    ex.receive(answer(notify, 202, "Accepted"), 0.2)
    assert outcome(ex) == NotifyOutcome(True, 202, "Accepted", 1, 0.2)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (404, "Not Found"),
        (481, "Call/Transaction Does Not Exist"),
        (486, "Busy Here"),
        (489, "Bad Event"),
        (403, "Forbidden"),
        (302, "Moved Temporarily"),
        (500, "Server Internal Error"),
        (503, "Service Unavailable"),
        (603, "Decline"),
    ],
)
def test_failures_carry_status_and_reason(status: int, reason: str) -> None:
    ex = exchange()
    notify = sent(ex.start(0.0))
    assert ex.receive(answer(notify, status, reason), 0.5) == []
    assert ex.outcome == NotifyOutcome(False, status, reason, 1, 0.5)


@pytest.mark.parametrize(
    ("status", "challenge_header", "credentials_header"),
    [
        (401, "WWW-Authenticate", "Authorization"),
        (407, "Proxy-Authenticate", "Proxy-Authorization"),
    ],
)
def test_challenge_answered_once(
    status: int, challenge_header: str, credentials_header: str
) -> None:
    ex = exchange()
    first = sent(ex.start(0.0))
    retry = sent(
        ex.receive(answer(first, status, "Unauthorized", (challenge_header, CHALLENGE)), 0.1) or []
    )
    assert phase(ex) is Phase.AUTHENTICATING
    assert ex.outcome is None
    # A new transaction of the same request: new branch, CSeq + 1, same Call-ID and From tag.
    assert cseq(retry) == (2, "NOTIFY")
    assert retry.headers.get("Via") == "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKtok4;rport"
    for same in ("Call-ID", "From", "To", "Event", "Contact"):
        assert retry.headers.get(same) == first.headers.get(same)
    expected = authorization(
        Challenge("PolycomSPIP", "4f2c9a", "MD5", ("auth",), "op"),
        method="NOTIFY",
        uri="sip:201@10.0.0.7:5060",
        username="201",
        password="secret-201",
        cnonce="tok3",
    )
    assert retry.headers.get(credentials_header) == expected
    assert ex.branches == ["z9hg4bktok2", "z9hg4bktok4"]
    # A retransmitted challenge is absorbed by the first transaction: no third NOTIFY.
    assert (
        ex.receive(answer(first, status, "Unauthorized", (challenge_header, CHALLENGE)), 0.2) == []
    )
    assert ex.receive(answer(retry, 200, "OK"), 0.3) == []
    assert ex.outcome == NotifyOutcome(True, 200, "OK", 2, 0.3)


@pytest.mark.parametrize(
    ("second", "reason"),
    [
        ((401, "Unauthorized"), "Unauthorized (credentials refused)"),
        (
            (407, "Proxy Authentication Required"),
            "Proxy Authentication Required (credentials refused)",
        ),
        ((403, "Forbidden"), "Forbidden"),
        ((500, "Oops"), "Oops"),
    ],
)
def test_after_the_challenge(second: tuple[int, str], reason: str) -> None:
    ex = exchange()
    first = sent(ex.start(0.0))
    retry = sent(
        ex.receive(answer(first, 401, "Unauthorized", ("WWW-Authenticate", CHALLENGE)), 0.1) or []
    )
    status, phrase = second
    assert ex.receive(answer(retry, status, phrase, ("WWW-Authenticate", CHALLENGE)), 0.2) == []
    assert ex.outcome == NotifyOutcome(False, status, reason, 2, 0.2)


def test_challenge_without_credentials() -> None:
    ex = exchange(replace(REQUEST, username=None, password=None))
    notify = sent(ex.start(0.0))
    assert (
        ex.receive(answer(notify, 401, "Unauthorized", ("WWW-Authenticate", CHALLENGE)), 0.1) == []
    )
    assert ex.outcome == NotifyOutcome(
        False, 401, "Unauthorized (no credentials to answer with)", 1, 0.1
    )


@pytest.mark.parametrize(
    "challenges",
    [
        [],
        [("WWW-Authenticate", 'Basic realm="x"')],
        [("WWW-Authenticate", 'Digest realm="x", nonce="n", algorithm=AKAv1-MD5')],
        [("Proxy-Authenticate", CHALLENGE)],  # the wrong header for a 401
    ],
)
def test_challenge_we_cannot_answer(challenges: list[tuple[str, str]]) -> None:
    ex = exchange()
    notify = sent(ex.start(0.0))
    assert ex.receive(answer(notify, 401, "Unauthorized", *challenges), 0.1) == []
    assert ex.outcome is not None
    assert (ex.outcome.status, ex.outcome.transactions) == (401, 1)
    assert ex.outcome.reason == "Unauthorized (no Digest challenge we can answer)"


def test_timeout() -> None:
    ex = exchange()
    ex.start(0.0)
    retransmissions = 0
    while ex.outcome is None:
        due = ex.next_timer()
        assert due is not None
        retransmissions += len(ex.handle_timer(due))
    assert retransmissions == 10
    assert ex.outcome == NotifyOutcome(False, None, "timeout", 1, 32.0)
    assert ex.finished


def test_timeout_after_the_challenge() -> None:
    ex = exchange(timers=Timers(t1=0.05))
    first = sent(ex.start(0.0))
    ex.receive(answer(first, 401, "Unauthorized", ("WWW-Authenticate", CHALLENGE)), 0.1)
    while ex.outcome is None:
        due = ex.next_timer()
        assert due is not None
        ex.handle_timer(due)
    assert ex.outcome.status is None
    assert ex.outcome.reason == "timeout"
    assert ex.outcome.transactions == 2
    assert ex.outcome.elapsed == pytest.approx(0.1 + 3.2)


def test_transport_failure() -> None:
    request = replace(REQUEST, transport="tcp")
    ex = exchange(request)
    ex.start(0.0)
    ex.fail("connection lost", 0.4)
    assert ex.outcome == NotifyOutcome(False, None, "connection lost", 1, 0.4)
    assert ex.finished


def test_mismatched_method_is_not_ours() -> None:
    ex = exchange()
    notify = sent(ex.start(0.0))
    wrong = answer(notify, 200, "OK")
    wrong = Response(
        200,
        "OK",
        Headers((n, "1 SUBSCRIBE" if n == "CSeq" else v) for n, v in wrong.headers),
    )
    assert ex.receive(wrong, 0.1) is None
    assert ex.outcome is None


def test_misuse() -> None:
    ex = exchange()
    ex.start(0.0)
    with pytest.raises(RuntimeError, match="twice"):
        ex.start(0.0)
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        exchange(replace(REQUEST, event="check-sync\r\nX: y")).start(0.0)


# Any sequence of responses and timers: phases only move forward, at most two
# transactions, and the outcome agrees with the response that decided it.

_events = st.lists(
    st.one_of(
        st.tuples(
            st.just("response"), st.sampled_from([100, 180, 200, 202, 401, 403, 407, 481, 500])
        ),
        st.tuples(st.just("timer"), st.just(0)),
        st.tuples(st.just("fail"), st.just(0)),
    ),
    max_size=12,
)
_ORDER = {Phase.SENDING: 0, Phase.AUTHENTICATING: 1, Phase.DONE: 2}


@given(_events, st.booleans())
def test_any_sequence(events: list[tuple[str, int]], credentials: bool) -> None:
    request = REQUEST if credentials else replace(REQUEST, password=None)
    ex = exchange(request)
    now = 0.0
    last = sent(ex.start(now))
    for kind, status in events:
        before = ex.phase
        decided = ex.outcome
        if kind == "response":
            now += 0.01
            header = "Proxy-Authenticate" if status == 407 else "WWW-Authenticate"
            out = ex.receive(answer(last, status, "R", (header, CHALLENGE)), now)
            assert out is not None
            if out:
                last = sent(out)
        elif kind == "timer":
            due = ex.next_timer()
            if due is not None:
                now = max(now, due)
                ex.handle_timer(now)
        else:
            ex.fail("connection lost", now)
        assert _ORDER[ex.phase] >= _ORDER[before]
        assert len(ex.transactions) <= 2
        assert decided is None or ex.outcome == decided  # an outcome never changes
        outcome = ex.outcome
        assert (outcome is not None) is (ex.phase is Phase.DONE)
        if outcome is not None:
            assert outcome.ok is (outcome.status is not None and 200 <= outcome.status < 300)
            assert outcome.transactions == len(ex.transactions)
            assert outcome.status != 100
        if ex.phase is Phase.AUTHENTICATING:
            assert credentials
        if ex.finished:
            assert ex.next_timer() is None

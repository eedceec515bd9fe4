"""The message codec: byte-exact encodes, real-looking responses, every malformed case."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.sip import (
    MAX_MESSAGE_SIZE,
    Headers,
    MessageError,
    Request,
    Response,
    canonical_name,
    cseq,
    encode,
    notify_request,
    parse,
    top_via_branch,
)


def fields(*pairs: tuple[str, str]) -> Headers:
    return Headers(pairs)


def notify(**overrides: object) -> Request:
    values: dict[str, object] = {
        "request_uri": "sip:201@10.0.0.7:5060",
        "to_uri": "sip:201@pbx.example.com",
        "from_uri": "sip:provisioner@pbx.example.com",
        "from_tag": "5d2a",
        "call_id": "c0ffee",
        "cseq": 1,
        "branch": "z9hG4bK77aa",
        "transport": "UDP",
        "sent_by": "10.0.0.5:5060",
        "contact": "<sip:10.0.0.5:5060>",
        "event": "check-sync;reboot=false",
        "user_agent": "provisioner",
    }
    values.update(overrides)
    return notify_request(**values)  # type: ignore[arg-type]


# (message, its exact bytes)
ENCODED: list[tuple[Request | Response, bytes]] = [
    (
        notify(),
        b"NOTIFY sip:201@10.0.0.7:5060 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK77aa;rport\r\n"
        b"Max-Forwards: 70\r\n"
        b"From: <sip:provisioner@pbx.example.com>;tag=5d2a\r\n"
        b"To: <sip:201@pbx.example.com>\r\n"
        b"Call-ID: c0ffee\r\n"
        b"CSeq: 1 NOTIFY\r\n"
        b"Contact: <sip:10.0.0.5:5060>\r\n"
        b"Event: check-sync;reboot=false\r\n"
        b"Subscription-State: terminated\r\n"
        b"User-Agent: provisioner\r\n"
        b"Content-Length: 0\r\n"
        b"\r\n",
    ),
    (
        notify(
            transport="TCP",
            sent_by="10.0.0.5:40123",
            contact="<sip:10.0.0.5:40123;transport=tcp>",
            cseq=2,
            event="service-control",
            content_type="text/plain",
            body=b"action=restart\r\n",
            authorization=("Authorization", 'Digest username="201", response="ab"'),
        ),
        b"NOTIFY sip:201@10.0.0.7:5060 SIP/2.0\r\n"
        b"Via: SIP/2.0/TCP 10.0.0.5:40123;branch=z9hG4bK77aa;rport\r\n"
        b"Max-Forwards: 70\r\n"
        b"From: <sip:provisioner@pbx.example.com>;tag=5d2a\r\n"
        b"To: <sip:201@pbx.example.com>\r\n"
        b"Call-ID: c0ffee\r\n"
        b"CSeq: 2 NOTIFY\r\n"
        b"Contact: <sip:10.0.0.5:40123;transport=tcp>\r\n"
        b"Event: service-control\r\n"
        b"Subscription-State: terminated\r\n"
        b'Authorization: Digest username="201", response="ab"\r\n'
        b"User-Agent: provisioner\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Length: 16\r\n"
        b"\r\n"
        b"action=restart\r\n",
    ),
    (
        Response(200, "OK", fields(("v", "SIP/2.0/UDP h;branch=z9hG4bKx"), ("cseq", "1 NOTIFY"))),
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCSeq: 1 NOTIFY\r\n"
        b"Content-Length: 0\r\n\r\n",
    ),
    (Response(486, "", fields()), b"SIP/2.0 486 \r\nContent-Length: 0\r\n\r\n"),
    (
        Request("OPTIONS", "sip:a@b", fields(("X-Odd", "é")), b"\x00\xff"),
        b"OPTIONS sip:a@b SIP/2.0\r\nX-Odd: \xc3\xa9\r\nContent-Length: 2\r\n\r\n\x00\xff",
    ),
]


@pytest.mark.parametrize(("message", "wire"), ENCODED)
def test_encode(message: Request | Response, wire: bytes) -> None:
    assert encode(message) == wire


@pytest.mark.parametrize(("message", "wire"), ENCODED)
def test_parse_encoded(message: Request | Response, wire: bytes) -> None:
    assert parse(wire) == message
    assert parse(wire, reliable=True) == message


POLYCOM_200 = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK77aa;rport=5060;received=10.0.0.5\r\n"
    b"From: <sip:provisioner@pbx.example.com>;tag=5d2a\r\n"
    b"To: <sip:201@pbx.example.com>;tag=C5F1E1C6-7C2BB9C1\r\n"
    b"CSeq: 1 NOTIFY\r\n"
    b"Call-ID: c0ffee\r\n"
    b"Contact: <sip:201@10.0.0.7>\r\n"
    b"User-Agent: PolycomVVX-VVX_410-UA/5.9.1.0615\r\n"
    b"Accept-Language: en\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)

# Compact forms (RFC 3261 §7.3.3), odd case and whitespace, a folded line.
COMPACT_401 = (
    b"SIP/2.0 401 Unauthorized\r\n"
    b"v: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK77aa;rport=5060\r\n"
    b"f:<sip:provisioner@pbx.example.com>;tag=5d2a\r\n"
    b"t: <sip:201@pbx.example.com>;tag=1\r\n"
    b"i:   c0ffee  \r\n"
    b"cseq\t:\t1 NOTIFY\r\n"
    b'WWW-AUTHENTICATE: Digest realm="PolycomSPIP",\r\n'
    b' \t nonce="4f2c",\r\n'
    b'\tqop="auth"\r\n'
    b"k: path\r\n"
    b"l: 0\r\n"
    b"\r\n"
)


def test_parse_polycom_200() -> None:
    message = parse(POLYCOM_200)
    assert isinstance(message, Response)
    assert (message.status, message.reason, message.body) == (200, "OK", b"")
    assert message.headers.get("to") == "<sip:201@pbx.example.com>;tag=C5F1E1C6-7C2BB9C1"
    assert message.headers.get("Accept-Language") == "en"
    assert "Content-Length" not in message.headers  # framing, consumed by parse
    assert top_via_branch(message) == "z9hg4bk77aa"
    assert cseq(message) == (1, "NOTIFY")


def test_parse_compact_folded() -> None:
    message = parse(COMPACT_401)
    assert isinstance(message, Response)
    assert [name for name, _ in message.headers] == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "WWW-Authenticate",
        "Supported",
    ]
    assert message.headers.get("Call-ID") == "c0ffee"
    assert message.headers.get("From") == "<sip:provisioner@pbx.example.com>;tag=5d2a"
    assert message.headers.get("www-authenticate") == (
        'Digest realm="PolycomSPIP", nonce="4f2c", qop="auth"'
    )
    assert cseq(message) == (1, "NOTIFY")


@pytest.mark.parametrize(
    ("wire", "status", "reason"),
    [
        (b"SIP/2.0 200 OK\r\n\r\n", 200, "OK"),
        (b"SIP/2.0 200\r\n\r\n", 200, ""),  # no SP before the (empty) reason phrase
        (
            b"sip/2.0 481 Call/Transaction Does Not Exist\r\n\r\n",
            481,
            "Call/Transaction Does Not Exist",
        ),
        (b"SIP/2.0 100 Trying  \r\n\r\n", 100, "Trying  "),
        (b"SIP/2.0 699 x\r\n\r\n", 699, "x"),
    ],
)
def test_parse_status_lines(wire: bytes, status: int, reason: str) -> None:
    message = parse(wire)
    assert isinstance(message, Response)
    assert (message.status, message.reason) == (status, reason)


def test_parse_body_over_udp() -> None:
    head = b"SIP/2.0 200 OK\r\nContent-Type: text/plain\r\n"
    # No Content-Length on UDP: the body is the rest of the datagram (§18.3).
    no_length = parse(head + b"\r\nhello")
    assert no_length.body == b"hello"
    # More bytes than Content-Length: the surplus is discarded (§18.3).
    surplus = parse(head + b"Content-Length: 3\r\n\r\nhello")
    assert surplus.body == b"hel"
    # A repeated, equal Content-Length is harmless.
    assert parse(head + b"l: 5\r\nContent-Length: 05\r\n\r\nhello").body == b"hello"


def test_parse_keeps_non_utf8_bytes() -> None:
    wire = b'SIP/2.0 200 OK\r\nTo: "Gr\xfc\xdfe" <sip:201@pbx>\r\nContent-Length: 0\r\n\r\n'
    message = parse(wire)
    assert encode(message) == wire


MALFORMED: list[tuple[bytes, str]] = [
    (b"", "no empty line"),
    (b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n", "no empty line"),
    (b"\r\n\r\n", "missing start line"),
    (b"\r\nSIP/2.0 200 OK\r\n\r\n", "missing start line"),
    (b" SIP/2.0 200 OK\r\n\r\n", "missing start line"),
    (b"SIP/2.0 2000 OK\r\n\r\n", "bad status code"),
    (b"SIP/2.0 099 Odd\r\n\r\n", "bad status code"),
    (b"SIP/2.0 700 Odd\r\n\r\n", "bad status code"),
    (b"SIP/2.0 2x0 OK\r\n\r\n", "bad status code"),
    (b"SIP/2.0 \xd9\xa200 OK\r\n\r\n", "bad status code"),  # Arabic-Indic digit two
    (b"SIP/3.0 200 OK\r\n\r\n", "unsupported SIP version"),
    (b"HTTP/1.1 200 OK\r\n\r\n", "unsupported SIP version"),
    (b"NOTIFY sip:a@b\r\n\r\n", "bad request line"),
    (b"NOTIFY sip:a@b SIP/2.0 extra\r\n\r\n", "bad request line"),
    (b"NOT(IFY sip:a@b SIP/2.0\r\n\r\n", "not a token"),
    (b"NOTIFY sip:a@b HTTP/1.0\r\n\r\n", "unsupported SIP version"),
    (b"SIP/2.0 200 OK\r\nVia SIP/2.0/UDP h\r\n\r\n", "without a colon"),
    (b"SIP/2.0 200 OK\r\nBad Name: x\r\n\r\n", "not a token"),
    (b"SIP/2.0 200 OK\r\n: x\r\n\r\n", "not a token"),
    (b"SIP/2.0 200 OK\r\n folded: first\r\n\r\n", "continuation line"),
    (b"SIP/2.0 200 OK\r\nTo: a\nFrom: b\r\n\r\n", "bare CR or LF"),
    (b"SIP/2.0 200 OK\r\nTo: a\x00b\r\n\r\n", "NUL"),
    (b"SIP/2.0 200 OK\r\nContent-Length: 10\r\n\r\nabc", "only 3 body bytes"),
    (b"SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
    (b"SIP/2.0 200 OK\r\nContent-Length: 1e3\r\n\r\n", "bad Content-Length"),
    (b"SIP/2.0 200 OK\r\nl: 1\r\nContent-Length: 2\r\n\r\nab", "conflicting Content-Length"),
    (b"SIP/2.0 200 OK\r\n\r\n" + b"x" * MAX_MESSAGE_SIZE, "exceeds"),
]


@pytest.mark.parametrize(("wire", "message"), MALFORMED)
def test_parse_malformed(wire: bytes, message: str) -> None:
    with pytest.raises(MessageError, match=message):
        parse(wire)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"SIP/2.0 200 OK\r\n\r\n", "no Content-Length on a stream"),
        (b"SIP/2.0 200 OK\r\nContent-Length: 1\r\n\r\nab", "but 2 body bytes"),
    ],
)
def test_parse_reliable_needs_exact_length(wire: bytes, message: str) -> None:
    parse(wire)  # fine as a datagram
    with pytest.raises(MessageError, match=message):
        parse(wire, reliable=True)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("v", "Via"),
        ("I", "Call-ID"),
        ("call-id", "Call-ID"),
        ("CSEQ", "CSeq"),
        ("o", "Event"),
        ("u", "Allow-Events"),
        ("x", "Session-Expires"),
        ("www-authenticate", "WWW-Authenticate"),
        ("proxy-authenticate", "Proxy-Authenticate"),
        ("subscription-state", "Subscription-State"),
        ("X-SIPX-SPIRAL", "X-Sipx-Spiral"),
        ("z", "Z"),
    ],
)
def test_canonical_name(name: str, canonical: str) -> None:
    assert canonical_name(name) == canonical


def test_headers_multimap() -> None:
    headers = fields(("Via", "a"), ("To", "t"), ("v", "b"), ("WWW-Authenticate", "x"))
    assert headers.get("VIA") == "a"
    assert headers.get_all("v") == ["a", "b"]
    assert headers.get("Missing") is None
    assert headers.get_all("Missing") == []
    assert "to" in headers
    assert "From" not in headers
    assert len(headers) == 4
    assert headers == fields(("via", "a"), ("t", "t"), ("Via", "b"), ("www-authenticate", "x"))
    assert headers != fields(("Via", "b"), ("To", "t"), ("Via", "a"), ("WWW-Authenticate", "x"))
    assert hash(headers) == hash(fields(*headers))
    assert "Via" in repr(headers)


@pytest.mark.parametrize(
    ("via", "branch"),
    [
        ("SIP/2.0/UDP h:5060;branch=z9hG4bKabc;rport", "z9hg4bkabc"),
        ("SIP/2.0/UDP h ; Branch = z9hG4bKABC ; rport", "z9hg4bkabc"),
        ("SIP/2.0/UDP h;branch=z9hG4bKa, SIP/2.0/UDP p;branch=z9hG4bKb", "z9hg4bka"),
        ('SIP/2.0/UDP h;x="a,b";branch=z9hG4bKq', "z9hg4bkq"),
        ('SIP/2.0/UDP h;x="a\\",b";branch=z9hG4bKq', "z9hg4bkq"),
        ("SIP/2.0/UDP h;rport", None),
        ("SIP/2.0/UDP h;branch=", None),
    ],
)
def test_top_via_branch(via: str, branch: str | None) -> None:
    response = Response(200, "OK", fields(("Via", via), ("Via", "SIP/2.0/UDP z;branch=other")))
    assert top_via_branch(response) == branch


def test_top_via_branch_absent() -> None:
    assert top_via_branch(Response(200, "OK", fields())) is None


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("1 NOTIFY", (1, "NOTIFY")),
        ("  42   INVITE ", (42, "INVITE")),
        ("NOTIFY", None),
        ("x y", None),
    ],
)
def test_cseq(value: str, parsed: tuple[int, str] | None) -> None:
    assert cseq(Response(200, "OK", fields(("CSeq", value)))) == parsed
    assert cseq(Response(200, "OK", fields())) is None


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: fields(("Bad Name", "x")), "not a token"),
        (lambda: fields(("Event", "check-sync\r\nX-Evil: 1")), "CR, LF or NUL"),
        (
            lambda: Request("NOTIFY", "sip:a@b", fields(("Content-Length", "0"))),
            "written by encode",
        ),
        (lambda: Request("NOT IFY", "sip:a@b", fields()), "not a token"),
        (lambda: Request("NOTIFY", "sip:a b", fields()), "whitespace"),
        (lambda: Request("NOTIFY", "", fields()), "empty"),
        (lambda: Response(700, "x", fields()), "outside 100..699"),
        (lambda: Response(200, "O\nK", fields()), "CR, LF or NUL"),
        (lambda: notify(branch="77aa"), "magic cookie"),
        (lambda: notify(body=b"x"), "needs a Content-Type"),
        (lambda: notify(event="check-sync\r\n"), "CR, LF or NUL"),
    ],
)
def test_invalid_messages_cannot_be_built(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


# Round trips: anything built can be encoded, and parses back equal.

_tokens = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~", min_size=1
)
_names = st.one_of(
    st.sampled_from(
        ["Via", "v", "To", "t", "From", "Call-ID", "i", "CSeq", "Event", "o", "Contact"]
    ),
    _tokens,
).filter(lambda name: canonical_name(name) != "Content-Length")
# Any text but CR, LF, NUL and lone surrogates, as values carry no surrounding whitespace.
_text = st.characters(exclude_characters="\r\n\x00", exclude_categories=["Cs"])
_values = st.text(_text, max_size=40).map(lambda value: value.strip(" \t"))
_headers = st.lists(st.tuples(_names, _values), max_size=12).map(Headers)
_bodies = st.binary(max_size=300)
_uris = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60)
_reasons = st.text(_text, max_size=30)
_messages = st.one_of(
    st.builds(Request, _tokens, _uris, _headers, _bodies),
    st.builds(Response, st.integers(100, 699), _reasons, _headers, _bodies),
)


@given(_messages)
def test_round_trip(message: Request | Response) -> None:
    wire = encode(message)
    assert parse(wire) == message
    assert parse(wire, reliable=True) == message


@given(st.binary(max_size=400))
def test_parse_refuses_noise_cleanly(data: bytes) -> None:
    with contextlib.suppress(MessageError):
        parse(data)


@given(st.data())
def test_parse_survives_mutations(data: st.DataObject) -> None:
    """Real responses with bytes changed: a message or MessageError, nothing else."""
    wire = bytearray(data.draw(st.sampled_from([POLYCOM_200, COMPACT_401])))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(wire) - 1))
        wire[at] = data.draw(st.sampled_from(b'\r\n :;,\t\x00\xff0aZ"'))
    with contextlib.suppress(MessageError):
        message = parse(bytes(wire))
        assert parse(encode(message)) == message

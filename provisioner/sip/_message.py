"""SIP messages as data (RFC 3261 §7): parse, encode, and the check-sync NOTIFY.

A message is a frozen :class:`Request` or :class:`Response` whose headers
are an ordered multi-map (:class:`Headers`) and whose body is bytes. Header
names are case-insensitive (§7.3.1); they are stored in one canonical
spelling, and the compact forms of §7.3.3 (``v`` for Via, ``i`` for Call-ID,
…) are expanded, so ``headers.get("call-id")`` finds an ``i:`` line.

Content-Length is framing, not data: :func:`encode` always writes it from
the body (as the last header), :func:`parse` consumes it, and neither kind
of message may carry one in its headers. So ``parse(encode(m)) == m``.

Everything that is not well-formed is refused by :func:`parse` with a
:class:`MessageError` saying what is wrong; invalid values given to the
constructors raise :class:`ValueError` (our mistake, not the peer's), so a
message that exists can always be encoded.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "MAX_MESSAGE_SIZE",
    "Headers",
    "MessageError",
    "Request",
    "Response",
    "canonical_name",
    "cseq",
    "encode",
    "notify_request",
    "parse",
    "top_via_branch",
]

# A response to a check-sync NOTIFY is a few hundred bytes. 16 KiB is far
# above anything legitimate yet below the largest UDP datagram (65,507
# bytes), so an oversized datagram is refused here, not merely truncated by
# the receive buffer; stream framing (_stream.py) uses the same bound.
MAX_MESSAGE_SIZE = 16 * 1024

# RFC 3261 §7.3.3 and the IANA "Header Fields" registry: every compact form
# in use. o (Event) and u (Allow-Events) are RFC 6665, x RFC 4028, r RFC
# 3515, b RFC 3892, a/j/d RFC 3841, y RFC 8224.
_COMPACT = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
# Names whose usual spelling is not plain Title-Case-Per-Word.
_CANONICAL = {
    name.lower(): name
    for name in (
        *_COMPACT.values(),
        "CSeq",
        "MIME-Version",
        "WWW-Authenticate",
    )
} | _COMPACT

_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+\Z")  # RFC 3261 §25.1 token
_STATUS = re.compile(r"[1-6][0-9][0-9]\Z")  # §7.2: 3DIGIT, 100..699
_CONTROL = re.compile(r"[\r\n\0]")  # never inside a header line
_SPACE = re.compile(r"[\s\0]")  # never inside a Request-URI
_LWS = " \t"


class MessageError(ValueError):
    """Bytes that are not a well-formed SIP message; the text says what is wrong."""


# A few dozen names recur in every message. The bound matters: names come
# from untrusted datagrams, so the cache holds at most 256 × 16 KiB.
@functools.lru_cache(maxsize=256)
def canonical_name(name: str) -> str:
    """The one spelling of a header name: compact forms expanded, case normalised.

    Known names keep their usual spelling (``Call-ID``, ``CSeq``,
    ``WWW-Authenticate``); others are capitalised per dash-separated word.
    """
    known = _CANONICAL.get(name.lower())
    if known is not None:
        return known
    return "-".join(word.capitalize() for word in name.split("-"))


class Headers:
    """An immutable, ordered multi-map of header fields with case-insensitive names.

    Order is kept because it matters for repeated fields (Via, §8.1.1.7;
    several WWW-Authenticate challenges). Names are stored canonically
    (:func:`canonical_name`); values are stored as given, without the
    surrounding whitespace.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        """Build from (name, value) pairs.

        :raises ValueError: for a name that is not a token or a value holding
            CR, LF or NUL (which would let a value forge further headers).
        """
        checked = []
        for name, value in items:
            if not _TOKEN.match(name):
                raise ValueError(f"header name {name!r} is not a token")
            if _CONTROL.search(value):
                raise ValueError(f"header {name} value {value!r} contains CR, LF or NUL")
            checked.append((canonical_name(name), value))
        self._items: tuple[tuple[str, str], ...] = tuple(checked)

    def get(self, name: str) -> str | None:
        """The first value of ``name``, or ``None``."""
        name = canonical_name(name)
        for key, value in self._items:
            if key == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order (empty when absent)."""
        name = canonical_name(name)
        return [value for key, value in self._items if key == name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


def _check_headers(headers: Headers) -> None:
    if "Content-Length" in headers:
        raise ValueError("Content-Length is written by encode() from the body")


@dataclass(frozen=True, slots=True)
class Request:
    """A SIP request: method, Request-URI, headers and body (RFC 3261 §7.1)."""

    method: str
    uri: str
    headers: Headers
    body: bytes = b""

    def __post_init__(self) -> None:
        if not _TOKEN.match(self.method):
            raise ValueError(f"method {self.method!r} is not a token")
        if not self.uri or _SPACE.search(self.uri):
            raise ValueError(f"Request-URI {self.uri!r} is empty or contains whitespace")
        _check_headers(self.headers)


@dataclass(frozen=True, slots=True)
class Response:
    """A SIP response: status code, reason phrase, headers and body (RFC 3261 §7.2)."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 699:
            raise ValueError(f"status {self.status} is outside 100..699")
        if _CONTROL.search(self.reason):
            raise ValueError(f"reason phrase {self.reason!r} contains CR, LF or NUL")
        _check_headers(self.headers)


Message = Request | Response


def encode(message: Message) -> bytes:
    """The message on the wire: CRLF line ends and a Content-Length from the body."""
    if isinstance(message, Request):
        lines = [f"{message.method} {message.uri} SIP/2.0"]
    else:
        lines = [f"SIP/2.0 {message.status} {message.reason}"]
    lines.extend(f"{name}: {value}" for name, value in message.headers)
    # Always present: required on stream transports (§18.3, §20.14) and
    # harmless on UDP, where it also lets the receiver discard padding.
    lines.append(f"Content-Length: {len(message.body)}")
    lines.append("\r\n")
    # surrogateescape: bytes that were not UTF-8 on the way in go out unchanged.
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + message.body


def parse(data: bytes, *, reliable: bool = False) -> Message:
    """Parse one whole message (a UDP datagram, or one framed off a stream).

    With ``reliable`` (TCP/TLS) a Content-Length is required and must cover
    exactly the rest of ``data``. Over UDP a missing Content-Length means
    "the rest of the datagram", and bytes past it are discarded (§18.3).

    :raises MessageError: on anything malformed or over :data:`MAX_MESSAGE_SIZE`.
    """
    if len(data) > MAX_MESSAGE_SIZE:
        raise MessageError(f"message of {len(data)} bytes exceeds the {MAX_MESSAGE_SIZE} limit")
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise MessageError("no empty line after the headers")
    start, headers, length = parse_head(data[:end])
    body = data[end + 4 :]
    if length is None:
        if reliable:
            raise MessageError("no Content-Length on a stream transport (RFC 3261 §18.3)")
    elif len(body) < length:
        raise MessageError(f"Content-Length {length} but only {len(body)} body bytes")
    elif len(body) > length:
        if reliable:
            raise MessageError(f"Content-Length {length} but {len(body)} body bytes")
        body = body[:length]
    return build(start, headers, body)


def parse_head(head: bytes) -> tuple[str, Headers, int | None]:
    """Split a message head (without the blank line) into start line, headers, Content-Length.

    Folded lines (a line starting with SP or HTAB continues the previous
    header, §7.3.1) are joined with one space. Content-Length is removed
    from the headers and returned as a number (``None`` when absent).
    Shared with the stream framer, which needs the length before the body.

    :raises MessageError: when malformed.
    """
    text = head.decode("utf-8", "surrogateescape")
    lines = text.split("\r\n")
    start = lines[0]
    if not start or start[0] in _LWS:
        raise MessageError("missing start line")
    fields: list[tuple[str, str]] = []
    for line in lines[1:]:
        if "\r" in line or "\n" in line:
            raise MessageError("bare CR or LF inside a header line")
        if line[:1] in (" ", "\t"):
            if not fields:
                raise MessageError("continuation line before the first header")
            name, value = fields[-1]
            more = line.strip(_LWS)
            fields[-1] = (name, f"{value} {more}" if value and more else value or more)
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise MessageError(f"header line without a colon: {line[:60]!r}")
        name = name.rstrip(_LWS)  # HCOLON allows whitespace before the colon
        if not _TOKEN.match(name):
            raise MessageError(f"header name {name!r} is not a token")
        fields.append((name, value.strip(_LWS)))
    lengths = [value for name, value in fields if canonical_name(name) == "Content-Length"]
    if lengths:
        fields = [
            (name, value) for name, value in fields if canonical_name(name) != "Content-Length"
        ]
    try:
        headers = Headers(fields)
    except ValueError as exc:  # NUL in a value: CR and LF were caught above
        raise MessageError(str(exc)) from None
    if not lengths:
        return start, headers, None
    if any(not value.isascii() or not value.isdigit() for value in lengths):
        raise MessageError(f"bad Content-Length {lengths[0]!r}")
    if len({int(value) for value in lengths}) > 1:
        raise MessageError(f"conflicting Content-Length values {lengths}")
    return start, headers, int(lengths[0])


def build(start: str, headers: Headers, body: bytes) -> Message:
    """A message from its parsed start line, headers and body.

    :raises MessageError: when the start line is malformed.
    """
    try:
        if start[:4].upper() == "SIP/":
            version, _, rest = start.partition(" ")
            _check_version(version)
            code, _, reason = rest.partition(" ")
            if not _STATUS.match(code):
                raise MessageError(f"bad status code {code!r}")
            return Response(int(code), reason, headers, body)
        parts = start.split(" ")
        if len(parts) != 3:
            raise MessageError(f"bad request line {start[:80]!r}")
        method, uri, version = parts
        _check_version(version)
        return Request(method, uri, headers, body)
    except MessageError:
        raise
    except ValueError as exc:
        raise MessageError(str(exc)) from None


def _check_version(version: str) -> None:
    if version.upper() != "SIP/2.0":  # §7.1: compared case-insensitively
        raise MessageError(f"unsupported SIP version {version[:20]!r}")


def top_via_branch(message: Message) -> str | None:
    """The branch parameter of the topmost Via (lower-cased), or ``None``.

    The top Via is the first value of the first Via line, which may hold
    several comma-separated values (§7.3.1). Branch is a token, and tokens
    compare case-insensitively (§7.3.1), hence the lower-casing.
    """
    via = message.headers.get("Via")
    if via is None:
        return None
    first = _first_value(via)
    for param in first.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip(_LWS).lower() == "branch":
            return value.strip(_LWS).lower() or None
    return None


def _first_value(value: str) -> str:
    """The part of a header value before its first comma outside a quoted string."""
    if '"' not in value:
        return value.partition(",")[0]  # the common case, without a loop in Python
    quoted = False
    escaped = False
    for i, char in enumerate(value):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = quoted
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            return value[:i]
    return value


def cseq(message: Message) -> tuple[int, str] | None:
    """The CSeq sequence number and method (§20.16), or ``None`` when absent or malformed."""
    value = message.headers.get("CSeq")
    if value is None:
        return None
    parts = value.split()
    if len(parts) != 2 or not parts[0].isascii() or not parts[0].isdigit():
        return None
    return int(parts[0]), parts[1]


def notify_request(
    *,
    request_uri: str,
    to_uri: str,
    from_uri: str,
    from_tag: str,
    call_id: str,
    cseq: int,
    branch: str,
    transport: str,
    sent_by: str,
    contact: str,
    event: str,
    user_agent: str,
    content_type: str | None = None,
    body: bytes = b"",
    authorization: tuple[str, str] | None = None,
) -> Request:
    """An out-of-dialog NOTIFY (RFC 6665 §4.1.3, RFC 3261 §8.1.1), e.g. for check-sync.

    Every random value (``branch``, ``from_tag``, ``call_id``) comes from
    the caller: this module draws no randomness. ``branch`` must start with
    the RFC 3261 magic cookie ``z9hG4bK`` (§8.1.1.7); ``transport`` is the
    Via transport token (``UDP``, ``TCP``, ``TLS``) and ``sent_by`` our
    ``host:port``. ``;rport`` asks the phone to answer to the port the
    request came from (RFC 3581), which is what a NATed sender needs.

    Subscription-State is mandatory in a NOTIFY (RFC 6665 §4.1.3,
    §8.2.1 of RFC 3265 before it). There is no subscription, so we say
    ``terminated``, as Asterisk's ``res_pjsip_notify`` does for the same
    check-sync NOTIFYs to Polycom, Yealink and Cisco phones; sipXcom sends
    ``Active`` (seed 003 §7.3.2), which claims a subscription nobody made.

    ``authorization`` is an (``Authorization`` or ``Proxy-Authorization``,
    value) pair for a request answering a challenge.

    :raises ValueError: when a value would make a malformed message.
    """
    if not branch.startswith("z9hG4bK"):
        raise ValueError(f"branch {branch!r} lacks the z9hG4bK magic cookie")
    fields = [
        ("Via", f"SIP/2.0/{transport} {sent_by};branch={branch};rport"),
        ("Max-Forwards", "70"),
        ("From", f"<{from_uri}>;tag={from_tag}"),
        ("To", f"<{to_uri}>"),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} NOTIFY"),
        ("Contact", contact),
        ("Event", event),
        ("Subscription-State", "terminated"),
    ]
    if authorization is not None:
        fields.append(authorization)
    fields.append(("User-Agent", user_agent))
    if content_type is not None:
        fields.append(("Content-Type", content_type))
    elif body:
        raise ValueError("a body needs a Content-Type (RFC 3261 §20.15)")
    return Request("NOTIFY", request_uri, Headers(fields), body)

"""Plain data passed between the front ends (HTTP, TFTP, FTP) and the gateway."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from provisioner.serve._packing import Dictionary

__all__ = [
    "Access",
    "DiskFile",
    "Fetch",
    "Network",
    "Pending",
    "Protocol",
    "Reply",
    "ReplyOutcome",
    "ServedFile",
    "Status",
    "TenantPolicy",
    "allowed",
    "ip_address",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Protocol(StrEnum):
    """How a request arrived."""

    HTTP = "http"
    HTTPS = "https"
    TFTP = "tftp"
    FTP = "ftp"


class Status(StrEnum):
    """What the gateway decided."""

    OK = "ok"
    NOT_FOUND = "not_found"  # the one uniform failure (security goal 2)
    CHALLENGE = "challenge"  # HTTP 401: credentials needed
    TOO_LARGE = "too_large"  # upload over its limit


@dataclass(frozen=True, slots=True)
class ServedFile:
    """A rendered file to send, with what HTTP caching needs (computed once, not per request).

    The bytes are held as they are or deflated against ``dictionary``
    (:mod:`._packing`); every reader gets them from :attr:`data`, and the
    length from :attr:`size` without inflating them (HEAD, Content-Length).
    """

    stored: bytes  # the bytes to send, or them deflated when ``dictionary`` is set
    content_type: str
    etag: str  # strong, quoted; of the bytes sent
    last_modified: int  # Unix time
    last_modified_http: str  # the same as an HTTP date
    dictionary: Dictionary | None = None
    inflated_size: int = 0  # the length of the bytes sent, when deflated

    @property
    def data(self) -> bytes:
        """The bytes to send (inflated here when held deflated: a few µs for a few KB)."""
        dictionary = self.dictionary
        return self.stored if dictionary is None else dictionary.inflate(self.stored)

    @property
    def size(self) -> int:
        """The length of :attr:`data`, without inflating it."""
        return len(self.stored) if self.dictionary is None else self.inflated_size


@dataclass(frozen=True, slots=True)
class DiskFile:
    """A firmware or device file, sent from disk in pieces (never read whole)."""

    path: Path
    size: int
    sha256: str  # hex, recorded when the set was ingested
    content_type: str


@dataclass(frozen=True, slots=True)
class Access:
    """The resolved access settings of one phone (``access.*``, ``uploads.*``)."""

    http_user: str  # "" = the phone's MAC (:meth:`user`)
    http_password: str
    http_allow: tuple[Network, ...]
    tls_required: bool
    client_cert: bool  # access.client_cert = required
    tftp_enabled: bool
    tftp_allow: tuple[Network, ...]
    ftp_allow: tuple[Network, ...]
    weak_transports: bool  # protected phones also over TFTP/FTP (access.weak_transports)
    uploads: bool
    open_uploads: bool  # uploads without authentication (uploads.unauthenticated)

    def user(self, mac: str) -> str:
        """The HTTP user name of the phone with ``mac``: its MAC unless one is set.

        Not held as the MAC itself: phones whose access settings are alike
        then share one :class:`Access` (the cache holds one per render).
        """
        return self.http_user or mac


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    """Tenant-level server settings: URL token, realm, unknown devices, FTP login, pacing."""

    tenant_id: int
    name: str
    url_token: str
    realm: str
    unknown_policy: str
    unknown_group: str
    ftp_enabled: bool
    ftp_user: str
    ftp_password: str
    ftp_allow: tuple[Network, ...]
    notify_rate: int
    notify_max_in_flight: int
    notify_jitter_ms: int
    notify_delay: int
    notify_on_change: bool


# Fetch and Reply are built for every request; frozen dataclasses would pay
# object.__setattr__ per field, so they are plain slotted ones. Treat them as
# immutable.
@dataclass(slots=True)
class Fetch:
    """One request for a file or an upload."""

    protocol: Protocol
    path: str
    client: str  # IP address as text
    user_agent: str = ""
    authorization: str | None = None  # HTTP Authorization header, verbatim
    method: str = "GET"
    uri: str = ""  # HTTP request-target, for digest authentication
    ftp_tenant: int | None = None  # tenant an FTP login belongs to
    cert_mac: str | None = None  # the MAC a verified TLS client certificate names


@dataclass(slots=True)
class Reply:
    """The gateway's answer: a rendered ``file`` or a ``disk`` file when OK.

    ``challenge`` holds WWW-Authenticate values.
    """

    status: Status
    file: ServedFile | None = None
    challenge: tuple[str, ...] = field(default_factory=tuple)
    disk: DiskFile | None = None


# A pending reply's outcome: the reply, or what stopped it being made.
ReplyOutcome = Reply | BaseException


class Pending:
    """A reply that comes once something the gateway waits for is done.

    The fast HTTP path gives it one callback (:meth:`then`), called with
    the reply (or the exception that stopped it) as soon as the reply is
    made: for a digest answer, as soon as its claim's statement is done,
    with no future and no callback scheduled per request, which spared a
    pass of the event loop per digest request (docs/performance-notes.md).
    It is awaitable for callers that await anyway.
    """

    __slots__ = ("_outcome", "_then")

    def __init__(self) -> None:
        self._then: Callable[[ReplyOutcome], None] | None = None
        self._outcome: ReplyOutcome | None = None

    def then(self, callback: Callable[[ReplyOutcome], None]) -> None:
        """Call ``callback`` with the outcome: when it comes, or now if it came."""
        if self._outcome is not None:
            callback(self._outcome)
        else:
            self._then = callback

    def settle(self, outcome: ReplyOutcome) -> None:
        """The outcome is known: hand it to the callback (or keep it for one)."""
        if self._then is not None:
            then, self._then = self._then, None
            then(outcome)
        else:
            self._outcome = outcome

    def __await__(self) -> Generator[object, None, Reply]:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()

        def settled(outcome: ReplyOutcome) -> None:
            if future.cancelled():
                return
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

        self.then(settled)
        return future.__await__()


def ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an IP address, or ``None``.

    IPv4-mapped IPv6 addresses (``::ffff:10.0.0.1`` from a dual-stack socket)
    are returned as the IPv4 address they carry.
    """
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_PARSED: dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address | None] = {}
_MAX_PARSED = 10_000


def _client_address(client: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``client`` parsed once and remembered: parsing costs more than the comparison.

    Requests from the few addresses phones use are answered without parsing
    again, which also keeps an allowlist refusal from taking measurably
    longer than any other failure (docs/security.md, timing).
    """
    if client in _PARSED:
        return _PARSED[client]
    if len(_PARSED) >= _MAX_PARSED:
        _PARSED.clear()
    found = _PARSED[client] = ip_address(client.split("%", 1)[0])
    return found


def allowed(client: str, networks: tuple[Network, ...]) -> bool:
    """True when ``client`` lies in one of ``networks`` (empty = anywhere).

    A zone index (``fe80::1%eth0``) is ignored; IPv4-mapped addresses are
    compared as IPv4 (:func:`ip_address`).
    """
    if not networks:
        return True
    address = _client_address(client)
    return address is not None and any(address in net for net in networks)

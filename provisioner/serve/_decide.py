"""What a request gets: the gateway's decision as a pure function.

:func:`decide` looks at one request, a read-only :class:`CacheView` of the
rendered state and the time, and returns a :class:`Decision`: serve bytes,
serve a disk file, challenge, the uniform failure (with how it counts towards
a ban), apply the unknown-device policy, accept an upload, or serve an upload
back. It does no I/O and never awaits; :class:`provisioner.serve.Gateway`
carries the decision out (metrics, seen records, ban counting, database
writes, upload files). The rules it applies are described in
``provisioner/serve/_gateway.py`` and docs/security.md; this module holds the
part that used to be interleaved with the bookkeeping there: path splitting,
lookups, admission (transport, allowlists, certificate, credentials),
identification of failures and the uniform failure's shape. ``Miss`` (was
``_Miss``) and :class:`UploadTicket` moved here with it; the gateway still
exports ``UploadTicket``.

Equal work on every failure path (security goal 2) is decided here: every
failure is identified exactly once (:func:`_identify`), and credentials that
were not checked against a real phone are checked against an impossible one
(``dummy_check``), so a missing phone costs what a protected one does. The
challenges themselves carry a random nonce and are made by the gateway from
the realm named in the decision.

The digest verifier is injected (:class:`Verifier`, a
:class:`~provisioner.serve._digest.DigestAuth` in the server) rather than
split into a pure check and a separate record of nonce counts: the replay
memory (RFC 7616 §3.4) must test and record a nonce count in one step, or a
replayed count could be admitted between the check and the record, and
moving the record into the gateway would need a second round in which the
gateway overturns an admission. The verifier's memory is the only state this
module touches; everything else it reads from its arguments.

A request with method ``PUT`` is an upload (HTTP PUT, FTP STOR, TFTP WRQ all
reach the gateway that way); anything else is a download.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from provisioner.catalog import UploadDef
from provisioner.identify import Identity
from provisioner.paths import normalize
from provisioner.serve._access import transport_refusal
from provisioner.serve._cache import PhoneEntry, TenantEntry
from provisioner.serve._digest import Verdict
from provisioner.serve._model import DiskFile, Fetch, Protocol, ServedFile, allowed

__all__ = [
    "Absent",
    "AcceptUpload",
    "Answer",
    "CacheView",
    "Challenge",
    "Decision",
    "Fail",
    "Identifies",
    "Miss",
    "Register",
    "Rules",
    "ServeBack",
    "ServeDisk",
    "ServeFile",
    "UploadTicket",
    "Verifier",
    "decide",
    "resume",
]


# --- what the decision reads ---------------------------------------------------


class Identifies(typing.Protocol):
    """Tells vendor, model and MAC from a path and a User-Agent."""

    def from_path(self, path: str) -> tuple[Identity, frozenset[str]]:
        """The identity a file name suggests, and the families for which it is optional."""

    def combine(self, user_agent: str | None, by_path: Identity) -> Identity:
        """The path's identity completed by the User-Agent."""


class CacheView(typing.Protocol):
    """What a decision reads of the rendered state (a ``ConfigCache`` in the server)."""

    @property
    def identifier(self) -> Identifies:
        """The identifier of the current catalog."""

    @property
    def shared(self) -> Mapping[str, ServedFile]:
        """Shared files by lower-cased path."""

    @property
    def firmware(self) -> Mapping[str, DiskFile]:
        """Files of active firmware sets by lower-cased path."""

    @property
    def macs(self) -> Mapping[str, PhoneEntry]:
        """Known, enabled phones by MAC."""

    def scope_of(self, token: str) -> bool:
        """Whether ``token`` is some tenant's URL token."""

    def lookup(self, path: str, token: str = "") -> tuple[PhoneEntry, ServedFile] | None:
        """The phone file at ``path`` in a scope."""

    def upload_target(self, path: str, token: str = "") -> tuple[PhoneEntry, str, UploadDef] | None:
        """The phone an upload path belongs to, its file name and limits."""

    def tenants_in(self, token: str = "") -> Sequence[TenantEntry]:
        """The tenants served in a scope."""


class Verifier(typing.Protocol):
    """Checks HTTP credentials (see the module docstring for why it is injected)."""

    def verify(
        self,
        header: str,
        *,
        method: str,
        uri: str,
        realm: str,
        user: str,
        password: str,
        now: float,
        tls: bool,
    ) -> Verdict:
        """Check ``header`` against a phone's user and password."""

    def dummy_check(
        self, header: str, *, method: str, uri: str, realm: str, now: float, tls: bool
    ) -> None:
        """Do the work of a failed check against a phone that cannot exist."""


@dataclass(frozen=True, slots=True)
class Rules:
    """The gateway's own settings a decision applies (fixed when the gateway is built)."""

    realm: str  # when no tenant of the scope names one
    default_tenant: str | None  # whose unknown-device policy the root scope applies
    verifier: Verifier
    addresses: Mapping[str, str]  # MAC -> where it was last admitted from (read only here)


# --- what the decision says ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UploadTicket:
    """Permission to store one upload for one phone."""

    mac: str
    name: str
    limit: int


class Miss(StrEnum):
    """Why a request got the uniform failure, and how it counts towards a ban."""

    UNSAFE = "unsafe"  # a path refused by normalisation, or an upload to no upload name
    UNKNOWN = "unknown"  # a per-phone name of a MAC we do not serve
    KNOWN = "known"  # a known phone refused (credentials, allowlist, transport)
    # What a phone does in normal operation: asks for one of its family's
    # optional files, or its uploads when they are refused (from the address it
    # was admitted from). Never counted, so phones behind one NAT are not banned.
    NORMAL = "normal"
    UPLOAD = "upload"  # an unauthenticated upload from anywhere else
    OTHER = "other"  # a name that is not per-phone (favicon.ico): not probing

    @property
    def counts(self) -> bool:
        """Whether this failure counts towards the client's ban."""
        return self not in (Miss.NORMAL, Miss.OTHER)

    def key(self, mac: str | None) -> str | None:
        """Failures with one key count once per window: each unknown MAC, each phone's uploads."""
        if mac is None:
            return None
        if self is Miss.UNKNOWN:
            return f"mac:{mac}"
        if self is Miss.UPLOAD:
            return f"upload:{mac}"
        return None


# Made for most requests: a plain slotted class like Fetch (frozen dataclasses pay
# object.__setattr__ per field). Treat it as immutable.
@dataclass(slots=True)
class ServeFile:
    """Send rendered bytes: a shared file (``phone`` None) or an admitted phone's own file."""

    path: str
    file: ServedFile
    phone: PhoneEntry | None


@dataclass(frozen=True, slots=True)
class ServeDisk:
    """Send a firmware or device file from disk (never secret, like shared files)."""

    path: str
    disk: DiskFile


@dataclass(frozen=True, slots=True)
class ServeBack:
    """Send back what ``phone`` uploaded as ``name``, if it did (the gateway reads the file)."""

    path: str
    phone: PhoneEntry
    name: str


@dataclass(frozen=True, slots=True)
class Challenge:
    """A protected phone asked without credentials, or with an expired nonce: not a failure."""

    path: str
    realm: str
    stale: bool
    identity: Identity


@dataclass(frozen=True, slots=True)
class Fail:
    """The uniform failure: a challenge in ``challenge``'s realm, or not-found when None.

    ``counted`` failures go towards the client's ban, once per ``key`` and
    window when there is one; ``cache_miss`` is the metric of a download
    that found nothing.
    """

    path: str
    miss: Miss
    key: str | None
    identity: Identity
    challenge: str | None
    counted: bool
    cache_miss: bool = False


@dataclass(frozen=True, slots=True)
class Absent:
    """Not-found without identification or counting: the phone's own (``phone``) or a ban's."""

    path: str
    phone: PhoneEntry | None


@dataclass(frozen=True, slots=True)
class Register:
    """Apply ``tenant``'s unknown-device policy to ``mac``, then :func:`resume`."""

    path: str
    token: str
    mac: str
    identity: Identity
    miss: Miss
    tenant: TenantEntry


@dataclass(frozen=True, slots=True)
class AcceptUpload:
    """Read the upload's body (up to ``ticket.limit``) and store it."""

    path: str
    ticket: UploadTicket


Answer = ServeFile | ServeDisk | ServeBack | Challenge | Fail | Absent
Decision = Answer | Register | AcceptUpload


class _Admission(StrEnum):
    OK = "ok"
    CHALLENGE = "challenge"  # credentials needed
    STALE = "stale"  # right credentials, expired nonce
    WRONG = "wrong"  # credentials checked and refused
    FAIL = "fail"  # transport, allowlist or certificate refused


# Built for every request, like Fetch: a plain slotted class, treated as immutable.
@dataclass(slots=True)
class _Case:
    req: Fetch
    view: CacheView
    rules: Rules
    now: float
    path: str  # normalised, without the URL token
    token: str  # the scope's URL token, "" for the root scope


# --- the decision ------------------------------------------------------------------


def decide(request: Fetch, view: CacheView, now: float, rules: Rules) -> Decision:
    """What ``request`` gets, given the rendered state ``view`` at time ``now``.

    The caller has refused banned clients; ``view`` is the state installed
    last (a refresh in progress is not waited for). A :class:`Register`
    asks the caller to apply the unknown-device policy and then call
    :func:`resume`.
    """
    split = _split(request.path, view)
    if split is None:
        case = _Case(request, view, rules, now, request.path, "")
        return _deny(case, Miss.UNSAFE, Identity())
    token, path = split
    case = _Case(request, view, rules, now, path, token)
    if request.method == "PUT":
        return _upload(case)
    key = path.lower()
    shared = view.shared.get(key)
    if shared is not None:
        return ServeFile(path, shared, None)
    disk = view.firmware.get(key)
    if disk is not None:
        return ServeDisk(path, disk)
    hit = view.lookup(path, token)
    if hit is not None:
        return _own_file(case, *hit)
    identity, miss = _identify(case)
    mac = identity.mac
    if mac is not None and mac not in view.macs:
        tenant = _policy_tenant(case)
        if tenant is not None and tenant.policy.unknown_policy != "ignore":
            return Register(path, token, mac, identity, miss, tenant)
    return _unserved(case, identity, miss)


def resume(request: Fetch, view: CacheView, now: float, rules: Rules, step: Register) -> Answer:
    """The rest of :func:`decide` after the unknown-device policy of ``step`` was applied.

    The policy may have created the phone, whose file is then served like
    any admitted one; otherwise the failure identified before stands.
    """
    case = _Case(request, view, rules, now, step.path, step.token)
    return _unserved(case, step.identity, step.miss)


def _unserved(case: _Case, identity: Identity, miss: Miss) -> Answer:
    """A download that is not shared, not firmware and (before the policy) no phone's."""
    view, path, token = case.view, case.path, case.token
    hit = view.lookup(path, token)
    if hit is not None:
        return _own_file(case, *hit)
    target = view.upload_target(path, token)
    if target is not None and target[2].serve_back:
        return _serve_back(case, target, identity)
    return _deny(case, miss, identity, cache_miss=True)


def _own_file(case: _Case, phone: PhoneEntry, file: ServedFile) -> Answer:
    admission = _admit(case, phone)
    if admission == _Admission.OK:
        return ServeFile(case.path, file, phone)
    return _refuse(case, admission)


def _serve_back(
    case: _Case, target: tuple[PhoneEntry, str, UploadDef], identity: Identity
) -> Answer:
    phone, name, _ = target
    admission = _admit(case, phone)
    if admission != _Admission.OK:
        return _refuse(case, admission, identity)
    if not _may_upload(case, phone):
        # What was uploaded may be an attacker's; it goes back only to the
        # phone. The phone's own override file: a normal miss, not counted.
        return _deny(case, Miss.NORMAL, identity)
    return ServeBack(case.path, phone, name)


def _upload(case: _Case) -> Decision:
    """An upload, before its body is read: download admission, then authentication.

    By default only a request that authenticated as the phone may upload
    (:func:`_may_upload`); anything else gets the uniform failure and counts
    towards a ban, once per phone and window.
    """
    target = case.view.upload_target(case.path, case.token)
    if target is None:
        identity, miss = _identify(case)
        return _deny(case, Miss.UNSAFE if miss is Miss.OTHER else miss, identity)
    phone, name, upload = target
    admission = _admit(case, phone)
    if admission != _Admission.OK:
        return _refuse(case, admission)
    if not phone.access.uploads:
        return Absent(case.path, phone)
    if not _may_upload(case, phone):
        identity, _ = _identify(case)
        # The phone itself (where it was admitted from) uploading its logs is
        # refused without counting; anyone else counts, once per phone.
        at_home = case.rules.addresses.get(phone.mac) == case.req.client
        return _deny(case, Miss.NORMAL if at_home else Miss.UPLOAD, identity)
    return AcceptUpload(case.path, UploadTicket(phone.mac, name, upload.max_bytes))


# --- the steps ---------------------------------------------------------------------


def _split(raw: str, view: CacheView) -> tuple[str, str] | None:
    """``(URL token, path)`` of a request path; None when the path is unsafe."""
    path = normalize(raw)
    if path is None:
        return None
    head, slash, rest = path.partition("/")
    if slash and view.scope_of(head):
        return head, rest
    return "", path


def _identify(case: _Case) -> tuple[Identity, Miss]:
    """What a request that is not an admitted hit is for, and what kind of miss it is.

    Run once on every such request, known phone or not, so that the failure
    paths cost the same (no timing oracle, security goal 2).
    """
    identifier = case.view.identifier
    by_path, optional = identifier.from_path(case.path)
    identity = identifier.combine(case.req.user_agent or None, by_path)
    if by_path.mac is None:
        return identity, Miss.OTHER
    phone = case.view.macs.get(by_path.mac)
    if phone is not None:
        # A known phone asking for a per-phone name we do not serve it:
        # one of its family's optional files is a normal miss.
        return identity, Miss.NORMAL if phone.family.key in optional else Miss.KNOWN
    return identity, Miss.UNKNOWN


def _scope_realm(case: _Case) -> str:
    tenants = case.view.tenants_in(case.token) if case.token else []
    return tenants[0].policy.realm if tenants else case.rules.realm


def _policy_tenant(case: _Case) -> TenantEntry | None:
    """The tenant whose unknown-device policy applies in the request's scope."""
    tenants = case.view.tenants_in(case.token)
    if case.token:
        return tenants[0] if tenants else None
    default = case.rules.default_tenant
    if default is not None:
        return next((t for t in tenants if t.policy.name == default), None)
    return tenants[0] if len(tenants) == 1 else None


def _admit(case: _Case, phone: PhoneEntry) -> _Admission:
    req, access = case.req, phone.access
    if transport_refusal(access, req.protocol) is not None:
        return _Admission.FAIL
    if access.client_cert and req.cert_mac != phone.mac:
        return _Admission.FAIL  # HTTPS without the phone's own certificate
    if req.protocol is Protocol.TFTP:
        ok = allowed(req.client, access.tftp_allow)
        return _Admission.OK if ok else _Admission.FAIL
    if req.protocol is Protocol.FTP:
        ok = req.ftp_tenant == phone.tenant_id and allowed(req.client, access.ftp_allow)
        return _Admission.OK if ok else _Admission.FAIL
    if not allowed(req.client, access.http_allow):
        return _Admission.FAIL
    if not access.http_password:
        return _Admission.OK
    if req.authorization is None:
        return _Admission.CHALLENGE
    verdict = case.rules.verifier.verify(
        req.authorization,
        method=req.method,
        uri=req.uri,
        realm=_scope_realm(case),
        user=access.user(phone.mac),
        password=access.http_password,
        now=case.now,
        tls=req.protocol is Protocol.HTTPS,
    )
    if verdict.ok:
        return _Admission.OK
    return _Admission.STALE if verdict.stale else _Admission.WRONG


def _may_upload(case: _Case, phone: PhoneEntry) -> bool:
    """Whether an admitted request authenticated as ``phone`` (or the scope allows any).

    A URL token is the tenant's secret; a digest answer or a client
    certificate is the phone's own. An FTP login is shared by the whole
    tenant and TFTP has none, so neither counts.
    """
    req, access = case.req, phone.access
    if access.open_uploads or case.token or req.cert_mac == phone.mac:
        return True
    return req.protocol in (Protocol.HTTP, Protocol.HTTPS) and bool(access.http_password)


def _refuse(case: _Case, admission: _Admission, identity: Identity | None = None) -> Answer:
    """A known phone's file refused: challenge, or the uniform failure.

    ``identity`` is the request's when it was identified already (a serve-back
    name is identified before it is known to be one): identified once, like
    an unknown MAC (no timing oracle).
    """
    if identity is None:
        identity, _ = _identify(case)
    if admission in (_Admission.CHALLENGE, _Admission.STALE):
        # Every phone with credentials is challenged once per file before it
        # answers: a known phone's challenge is not a failure.
        stale = admission == _Admission.STALE
        return Challenge(case.path, _scope_realm(case), stale, identity)
    checked = admission == _Admission.WRONG
    return _deny(case, Miss.KNOWN, identity, checked=checked)


def _deny(
    case: _Case, miss: Miss, identity: Identity, *, checked: bool = False, cache_miss: bool = False
) -> Fail:
    """The uniform failure: the same answer for every reason (security goal 2).

    A per-phone name asked for without credentials, in a scope where some
    phones need them, gets the challenge a protected phone would get, so a
    missing phone cannot be told from a protected one. Anything else gets
    not-found. Credentials that were not ``checked`` against a real phone are
    checked against an impossible one, so that the work is the same.
    Counting towards a ban follows :class:`Miss`.
    """
    req = case.req
    shaped = miss not in (Miss.OTHER, Miss.UNSAFE)
    http = req.protocol in (Protocol.HTTP, Protocol.HTTPS)
    challenge = None
    if http and shaped and req.authorization is None and _auth_in_scope(case):
        challenge = _scope_realm(case)
    elif req.authorization is not None and not checked:
        case.rules.verifier.dummy_check(
            req.authorization,
            method=req.method,
            uri=req.uri,
            realm=_scope_realm(case),
            now=case.now,
            tls=req.protocol is Protocol.HTTPS,
        )
    counted = miss.counts or (miss is Miss.OTHER and req.authorization is not None)
    key = miss.key(identity.mac)
    return Fail(case.path, miss, key, identity, challenge, counted, cache_miss)


def _auth_in_scope(case: _Case) -> bool:
    return any(t.auth_in_use for t in case.view.tenants_in(case.token))

"""The gateway's decision as tables: request kind × phone state × protocol → Decision.

:func:`provisioner.serve._decide.decide` is pure, so these tests build the
cache's view by hand (no store, no rendering) and call it directly: no
event loop, no sockets. :data:`MATRIX` has a table per request kind, a row
per state of the phone ``MAC`` and a column per way the request arrives.
An outcome is written as:

``ok``        the phone's own file          ``shared``  a shared file
``back``      an upload served back         ``ticket``  an upload accepted
``401``       a protected phone's challenge ``absent``  not-found, not counted
``c:<miss>``  the uniform failure as a challenge, ``n:<miss>`` as not-found,
              with its :class:`Miss`; ``!`` when it counts towards a ban.

Columns: ``http`` without credentials, ``right`` / ``wrong`` digest
credentials over HTTP, ``https`` without a client certificate, ``cert`` with
the phone's own, ``tftp``, ``ftp`` logged in as the phone's tenant.
"""

from __future__ import annotations

import ipaddress
import typing
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from provisioner.catalog import Catalog, UploadDef
from provisioner.identify import Identifier, Identity
from provisioner.notify import NotifyInfo
from provisioner.serve import Fetch, Protocol
from provisioner.serve._cache import PhoneEntry, TenantEntry
from provisioner.serve._decide import (
    Absent,
    AcceptUpload,
    CacheView,
    Challenge,
    Decision,
    Fail,
    Identifies,
    Miss,
    Register,
    Rules,
    ServeBack,
    ServeDisk,
    ServeFile,
    decide,
    resume,
)
from provisioner.serve._digest import NONCE_LIFETIME, DigestAuth, Verdict
from provisioner.serve._model import Access, DiskFile, ServedFile, TenantPolicy
from tests.serve.test_digest import answer

MAC = "0004f2000001"  # the Polycom whose state each row sets
PROTECTED = "805ec0000002"  # a protected Yealink beside it: the scope uses digest
UNKNOWN = "0004f2999999"
PASSWORD = "phone-pass-1234"
TOKEN = "hosted-token-0123456789"
CLIENT = "192.0.2.10"
NOW = 1_000_000.0
REALM = "provisioner"
INSIDE = (ipaddress.ip_network("10.0.0.0/8"),)
FILE = ServedFile(b"<x/>", "text/xml", '"e"', 0, "Thu, 01 Jan 1970 00:00:00 GMT")
DISK = DiskFile(Path("/nonexistent/fw.ld"), 1, "0" * 64, "application/octet-stream")

# --- the rendered state, by hand ---------------------------------------------------

OPEN = Access(
    http_user=MAC,
    http_password="",
    http_allow=(),
    tls_required=False,
    client_cert=False,
    tftp_enabled=True,
    tftp_allow=(),
    ftp_allow=(),
    weak_transports=False,
    uploads=True,
    open_uploads=False,
)
STATES: dict[str, Access | None] = {
    "unknown": None,
    "disabled": None,  # the cache leaves disabled phones out: the same as unknown
    "open": OPEN,
    "protected": replace(OPEN, http_password=PASSWORD),  # weak transports off
    "weak-on": replace(OPEN, http_password=PASSWORD, weak_transports=True),
    "outside": replace(OPEN, http_allow=INSIDE, tftp_allow=INSIDE, ftp_allow=INSIDE),
    "tls-only": replace(OPEN, tls_required=True),
    "cert-only": replace(OPEN, client_cert=True),
    "tftp-off": replace(OPEN, tftp_enabled=False),
}


def policy(tenant_id: int, name: str, token: str = "", unknown: str = "ignore") -> TenantPolicy:
    return TenantPolicy(
        tenant_id=tenant_id,
        name=name,
        url_token=token,
        realm=name,
        unknown_policy=unknown,
        unknown_group="",
        ftp_enabled=True,
        ftp_user="ftp",
        ftp_password="ftp-pass",
        ftp_allow=(),
        notify_rate=10,
        notify_max_in_flight=10,
        notify_jitter_ms=0,
        notify_delay=0,
        notify_on_change=False,
    )


def phone(catalog: Catalog, mac: str, access: Access, family: str, model: str) -> PhoneEntry:
    fam = catalog.families[family]
    return PhoneEntry(
        mac=mac,
        tenant_id=1,
        family=fam,
        model=model,
        access=access,
        firmware="",
        notify_base=typing.cast(NotifyInfo, None),  # never read by a decision
        notify_line=("", "", ""),
        directory=b"",
        files={f"{mac}.cfg": FILE},
    )


@dataclass
class Scope:
    files: dict[str, PhoneEntry] = field(default_factory=dict)
    tenants: list[TenantEntry] = field(default_factory=list)


@dataclass
class View:
    """A :class:`CacheView` over plain dictionaries."""

    identifier: Identifies
    shared: dict[str, ServedFile] = field(default_factory=lambda: {"000000000000.cfg": FILE})
    firmware: dict[str, DiskFile] = field(default_factory=lambda: {"fw/sip.ld": DISK})
    macs: dict[str, PhoneEntry] = field(default_factory=dict)
    scopes: dict[str, Scope] = field(default_factory=lambda: {"": Scope()})

    def add(self, tenant: TenantEntry, entry: PhoneEntry) -> None:
        scope = self.scopes.setdefault(tenant.policy.url_token, Scope())
        if tenant not in scope.tenants:
            scope.tenants.append(tenant)
        tenant.phones[entry.mac] = entry
        tenant.auth_in_use = tenant.auth_in_use or bool(entry.access.http_password)
        self.macs[entry.mac] = entry
        for path in entry.files:
            scope.files[path] = entry

    def scope_of(self, token: str) -> bool:
        return bool(token) and token in self.scopes

    def lookup(self, path: str, token: str = "") -> tuple[PhoneEntry, ServedFile] | None:
        entry = self.scopes[token].files.get(path.lower()) if token in self.scopes else None
        return None if entry is None else (entry, entry.files[path.lower()])

    def upload_target(self, path: str, token: str = "") -> tuple[PhoneEntry, str, UploadDef] | None:
        for tenant in self.tenants_in(token):
            for entry in tenant.phones.values():
                for upload in entry.family.uploads:
                    name = entry.upload_name(upload)
                    if name.lower() == path.lower():
                        return entry, name, upload
        return None

    def tenants_in(self, token: str = "") -> Sequence[TenantEntry]:
        scope = self.scopes.get(token)
        return scope.tenants if scope else []


class Counting:
    """The identifier and verifier a decision uses, counting the expensive steps."""

    def __init__(self, identifier: Identifier, digest: DigestAuth) -> None:
        self.identifier, self.digest = identifier, digest
        self.calls: Counter[str] = Counter()

    def from_path(self, path: str) -> tuple[Identity, frozenset[str]]:
        self.calls["identify"] += 1
        return self.identifier.from_path(path)

    def combine(self, user_agent: str | None, by_path: Identity) -> Identity:
        return self.identifier.combine(user_agent, by_path)

    def verify(self, header: str, **kwargs: typing.Any) -> Verdict:
        self.calls["digest"] += 1
        return self.digest.verify(header, **kwargs)

    def dummy_check(self, header: str, **kwargs: typing.Any) -> None:
        self.calls["digest"] += 1
        self.digest.dummy_check(header, **kwargs)


@dataclass
class World:
    view: View
    rules: Rules
    counting: Counting
    digest: DigestAuth
    acme: TenantEntry


def world(
    catalog: Catalog,
    access: Access | None,
    *,
    unknown: str = "ignore",
    addresses: Mapping[str, str] | None = None,
) -> World:
    digest = DigestAuth(b"k" * 32)
    counting = Counting(Identifier(catalog), digest)
    view = View(counting)
    acme = TenantEntry(policy(1, "acme", unknown=unknown), 1, {}, False)
    view.add(
        acme, phone(catalog, PROTECTED, replace(OPEN, http_password="x"), "yealink/tseries", "t46s")
    )
    if access is not None:
        view.add(acme, phone(catalog, MAC, access, "polycom/ucs", "vvx410"))
    rules = Rules(REALM, "acme", counting, dict(addresses or {}))
    return World(view, rules, counting, digest, acme)


# --- requests ------------------------------------------------------------------------

KINDS = {
    "shared": ("GET", "000000000000.cfg"),
    "own": ("GET", f"{MAC}.cfg"),
    "unknown": ("GET", f"{UNKNOWN}.cfg"),
    "not-phone": ("GET", "favicon.ico"),
    "optional": ("GET", f"{MAC}-license.cfg"),
    "upload": ("PUT", f"{MAC}-app.log"),
    "serve-back": ("GET", f"{MAC}-phone.cfg"),
    "unsafe": ("GET", "../etc/passwd"),
}
COLUMNS = ("http", "right", "wrong", "https", "cert", "tftp", "ftp")


def request(w: World, column: str, method: str, path: str, *, now: float = NOW) -> Fetch:
    """``path`` asked for as ``column`` says: credentials right or wrong, certificate, login."""
    protocol = {"https": Protocol.HTTPS, "cert": Protocol.HTTPS, "tftp": Protocol.TFTP}.get(
        column, Protocol.FTP if column == "ftp" else Protocol.HTTP
    )
    uri = "/" + path
    authorization = None
    if column in ("right", "wrong"):
        password = PASSWORD if column == "right" else "wrong"
        nonce = w.digest.nonce(REALM, now)  # a fresh nonce: counts are remembered per nonce
        authorization = answer(
            nonce, password=password, uri=uri, realm=REALM, user=MAC, method=method
        )
    return Fetch(
        protocol,
        path,
        CLIENT,
        authorization=authorization,
        method=method,
        uri=uri,
        ftp_tenant=1 if protocol is Protocol.FTP else None,
        cert_mac=MAC if column == "cert" else None,
    )


def outcome(decision: Decision) -> str:
    """A decision in the notation of the module docstring."""
    if isinstance(decision, ServeFile):
        return "shared" if decision.phone is None else "ok"
    if isinstance(decision, Fail):
        status = "n" if decision.challenge is None else "c"
        return f"{status}:{decision.miss}" + ("!" if decision.counted else "")
    if isinstance(decision, Challenge):
        return "401s" if decision.stale else "401"
    names = {ServeDisk: "disk", ServeBack: "back", Absent: "absent", AcceptUpload: "ticket"}
    return names.get(type(decision), "register")


# --- the matrix ----------------------------------------------------------------------

# One table per request kind: a row per state of the phone MAC ("every": all of
# them), a column per way of asking.
MATRIX = {
    "shared": """
        state     http       right      wrong      https      cert       tftp       ftp
        every     shared     shared     shared     shared     shared     shared     shared
    """,
    "own": """
        state     http       right      wrong      https      cert       tftp       ftp
        unknown   c:unknown! n:unknown! n:unknown! c:unknown! c:unknown! n:unknown! n:unknown!
        disabled  c:unknown! n:unknown! n:unknown! c:unknown! c:unknown! n:unknown! n:unknown!
        open      ok         ok         ok         ok         ok         ok         ok
        protected 401        ok         n:known!   401        401        n:known!   n:known!
        weak-on   401        ok         n:known!   401        401        ok         ok
        outside   c:known!   n:known!   n:known!   c:known!   c:known!   n:known!   n:known!
        tls-only  c:known!   n:known!   n:known!   ok         ok         n:known!   n:known!
        cert-only c:known!   n:known!   n:known!   c:known!   ok         n:known!   n:known!
        tftp-off  ok         ok         ok         ok         ok         n:known!   ok
    """,
    "unknown": """
        state     http       right      wrong      https      cert       tftp       ftp
        every     c:unknown! n:unknown! n:unknown! c:unknown! c:unknown! n:unknown! n:unknown!
    """,
    "not-phone": """
        state     http       right      wrong      https      cert       tftp       ftp
        every     n:other    n:other!   n:other!   n:other    n:other    n:other    n:other
    """,
    "optional": """
        state     http       right      wrong      https      cert       tftp       ftp
        unknown   c:unknown! n:unknown! n:unknown! c:unknown! c:unknown! n:unknown! n:unknown!
        disabled  c:unknown! n:unknown! n:unknown! c:unknown! c:unknown! n:unknown! n:unknown!
        open      c:normal   n:normal   n:normal   c:normal   c:normal   n:normal   n:normal
        protected c:normal   n:normal   n:normal   c:normal   c:normal   n:normal   n:normal
        weak-on   c:normal   n:normal   n:normal   c:normal   c:normal   n:normal   n:normal
        outside   c:normal   n:normal   n:normal   c:normal   c:normal   n:normal   n:normal
        tls-only  c:normal   n:normal   n:normal   c:normal   c:normal   n:normal   n:normal
        cert-only c:normal   n:normal   n:normal   c:normal   c:normal   n:normal   n:normal
        tftp-off  c:normal   n:normal   n:normal   c:normal   c:normal   n:normal   n:normal
    """,
    "upload": """
        state     http       right      wrong      https      cert       tftp       ftp
        unknown   c:unknown! n:unknown! n:unknown! c:unknown! c:unknown! n:unknown! n:unknown!
        disabled  c:unknown! n:unknown! n:unknown! c:unknown! c:unknown! n:unknown! n:unknown!
        open      c:upload!  n:upload!  n:upload!  c:upload!  ticket     n:upload!  n:upload!
        protected 401        ticket     n:known!   401        401        n:known!   n:known!
        weak-on   401        ticket     n:known!   401        401        n:upload!  n:upload!
        outside   c:known!   n:known!   n:known!   c:known!   c:known!   n:known!   n:known!
        tls-only  c:known!   n:known!   n:known!   c:upload!  ticket     n:known!   n:known!
        cert-only c:known!   n:known!   n:known!   c:known!   ticket     n:known!   n:known!
        tftp-off  c:upload!  n:upload!  n:upload!  c:upload!  ticket     n:known!   n:upload!
    """,
    "serve-back": """
        state     http       right      wrong      https      cert       tftp       ftp
        unknown   c:unknown! n:unknown! n:unknown! c:unknown! c:unknown! n:unknown! n:unknown!
        disabled  c:unknown! n:unknown! n:unknown! c:unknown! c:unknown! n:unknown! n:unknown!
        open      c:normal   n:normal   n:normal   c:normal   back       n:normal   n:normal
        protected 401        back       n:known!   401        401        n:known!   n:known!
        weak-on   401        back       n:known!   401        401        n:normal   n:normal
        outside   c:known!   n:known!   n:known!   c:known!   c:known!   n:known!   n:known!
        tls-only  c:known!   n:known!   n:known!   c:normal   back       n:known!   n:known!
        cert-only c:known!   n:known!   n:known!   c:known!   back       n:known!   n:known!
        tftp-off  c:normal   n:normal   n:normal   c:normal   back       n:known!   n:normal
    """,
    "unsafe": """
        state     http       right      wrong      https      cert       tftp       ftp
        every     n:unsafe!  n:unsafe!  n:unsafe!  n:unsafe!  n:unsafe!  n:unsafe!  n:unsafe!
    """,
}


def _cases() -> list[tuple[str, str, dict[str, str]]]:
    """``(kind, state, {column: outcome})`` for every kind and state, from the tables."""
    cases = []
    for kind, table in MATRIX.items():
        header, *rows = (line.split() for line in table.strip().splitlines())
        for state, *outcomes in rows:
            expected = dict(zip(header[1:], outcomes, strict=True))
            for each in STATES if state == "every" else [state]:
                cases.append((kind, each, expected))
    return cases


CASES = _cases()


def test_the_tables_cover_every_kind_state_and_column() -> None:
    assert {(kind, state) for kind, state, _ in CASES} == {(k, s) for k in KINDS for s in STATES}
    assert len(CASES) == len(KINDS) * len(STATES)
    assert all(tuple(expected) == COLUMNS for _, _, expected in CASES)


@pytest.mark.parametrize(
    ("kind", "state", "expected"), CASES, ids=[f"{k}-{s}" for k, s, _ in CASES]
)
def test_decision_matrix(catalog: Catalog, kind: str, state: str, expected: dict[str, str]) -> None:
    method, path = KINDS[kind]
    got, work = {}, {}
    for column in COLUMNS:
        w = world(catalog, STATES[state])
        req = request(w, column, method, path)
        w.counting.calls.clear()
        decision = decide(req, w.view, NOW, w.rules)
        got[column] = outcome(decision)
        work[column] = _equal_work(decision, req, w.counting.calls)
    assert got == expected
    assert all(work.values()), work


def _equal_work(decision: Decision, req: Fetch, calls: Counter[str]) -> bool:
    """Every failure and challenge: one identification, one digest check when credentials came."""
    if not isinstance(decision, Fail | Challenge):
        return True
    identified = 0 if isinstance(decision, Fail) and decision.miss is Miss.UNSAFE else 1
    checked = 0 if req.authorization is None else 1
    return calls == Counter({"identify": identified, "digest": checked}) - Counter()


# --- how failures count ------------------------------------------------------------

KEYS = [
    # kind, state, column -> miss, key, a cache miss in /metrics (a download that found nothing)
    ("unknown", "open", "http", Miss.UNKNOWN, f"mac:{UNKNOWN}", True),
    ("own", "unknown", "tftp", Miss.UNKNOWN, f"mac:{MAC}", True),
    ("upload", "open", "tftp", Miss.UPLOAD, f"upload:{MAC}", False),
    ("own", "outside", "http", Miss.KNOWN, None, False),
    ("serve-back", "open", "http", Miss.NORMAL, None, False),
    ("optional", "open", "http", Miss.NORMAL, None, True),
    ("not-phone", "open", "wrong", Miss.OTHER, None, True),
    ("unsafe", "open", "http", Miss.UNSAFE, None, False),
]


@pytest.mark.parametrize(("kind", "state", "column", "miss", "key", "cache_miss"), KEYS)
def test_failure_keys(
    catalog: Catalog,
    kind: str,
    state: str,
    column: str,
    miss: Miss,
    key: str | None,
    cache_miss: bool,
) -> None:
    w = world(catalog, STATES[state])
    method, path = KINDS[kind]
    decision = decide(request(w, column, method, path), w.view, NOW, w.rules)
    assert isinstance(decision, Fail)
    assert (decision.miss, decision.key, decision.cache_miss) == (miss, key, cache_miss)


def test_firmware_files_go_to_anyone(catalog: Catalog) -> None:
    for state, access in STATES.items():
        w = world(catalog, access)
        decision = decide(request(w, "tftp", "GET", "fw/SIP.ld"), w.view, NOW, w.rules)
        assert isinstance(decision, ServeDisk), state
        assert decision.disk is DISK


def test_an_expired_nonce_gets_a_stale_challenge(catalog: Catalog) -> None:
    w = world(catalog, STATES["protected"])
    req = request(w, "right", "GET", f"{MAC}.cfg", now=NOW - NONCE_LIFETIME - 1)
    assert outcome(decide(req, w.view, NOW, w.rules)) == "401s"


def test_a_replayed_nonce_count_is_refused(catalog: Catalog) -> None:
    w = world(catalog, STATES["protected"])
    req = request(w, "right", "GET", f"{MAC}.cfg")
    assert outcome(decide(req, w.view, NOW, w.rules)) == "ok"
    assert outcome(decide(req, w.view, NOW, w.rules)) == "n:known!"


# --- uploads -------------------------------------------------------------------------

UPLOADS = [
    # what differs from an open phone, column -> outcome
    ("uploads.enabled off", "right", "absent"),
    ("uploads.enabled off", "http", "absent"),
    ("uploads.unauthenticated", "tftp", "ticket"),
    ("uploads.unauthenticated", "ftp", "ticket"),
    ("uploads.unauthenticated", "http", "ticket"),
    ("from where it was admitted", "http", "c:normal"),
    ("from where it was admitted", "tftp", "n:normal"),
    ("in its URL token's scope", "http", "ticket"),
    ("in its URL token's scope", "tftp", "ticket"),
]


@pytest.mark.parametrize(("how", "column", "expected"), UPLOADS)
def test_upload_authentication(catalog: Catalog, how: str, column: str, expected: str) -> None:
    access = {
        "uploads.enabled off": replace(OPEN, uploads=False),
        "uploads.unauthenticated": replace(OPEN, open_uploads=True),
    }.get(how, OPEN)
    addresses = {MAC: CLIENT} if how == "from where it was admitted" else None
    w = world(catalog, None if "token" in how else access, addresses=addresses)
    path = KINDS["upload"][1]
    if "token" in how:
        hosted = TenantEntry(policy(1, "hosted", TOKEN), 1, {}, False)
        w.view.add(hosted, phone(catalog, MAC, access, "polycom/ucs", "vvx410"))
        path = f"{TOKEN}/{path}"
    decision = decide(request(w, column, "PUT", path), w.view, NOW, w.rules)
    assert outcome(decision) == expected
    if isinstance(decision, AcceptUpload):
        assert (decision.ticket.mac, decision.ticket.name) == (MAC, f"{MAC}-app.log")


# --- unknown devices -----------------------------------------------------------------

POLICIES = [
    # policy, kind, state -> registers?
    ("quarantine", "unknown", "open", True),
    ("auto-register", "unknown", "open", True),
    ("ignore", "unknown", "open", False),
    ("quarantine", "own", "unknown", True),
    ("quarantine", "own", "open", False),  # known: served or refused, never registered
    ("quarantine", "not-phone", "open", False),  # no MAC to register
    ("quarantine", "upload", "unknown", False),  # an upload never registers a device
    ("quarantine", "shared", "unknown", False),
]


@pytest.mark.parametrize(("unknown", "kind", "state", "registers"), POLICIES)
def test_unknown_device_policy(
    catalog: Catalog, unknown: str, kind: str, state: str, registers: bool
) -> None:
    w = world(catalog, STATES[state], unknown=unknown)
    method, path = KINDS[kind]
    decision = decide(request(w, "tftp", method, path), w.view, NOW, w.rules)
    assert isinstance(decision, Register) is registers, decision
    if isinstance(decision, Register):
        assert decision.tenant is w.acme
        assert decision.mac == path.split(".")[0]
        # Nothing was created: the failure identified before stands.
        assert outcome(resume(decision_request(w, path), w.view, NOW, w.rules, decision)) == (
            "n:unknown!"
        )
        # Created meanwhile (auto-register): its file is served like any admitted one's.
        w.view.add(w.acme, phone(catalog, decision.mac, OPEN, "polycom/ucs", "vvx410"))
        again = resume(decision_request(w, path), w.view, NOW, w.rules, decision)
        assert outcome(again) == "ok"


def decision_request(w: World, path: str) -> Fetch:
    return request(w, "tftp", "GET", path)


def test_the_url_tokens_tenant_decides_for_its_scope(catalog: Catalog) -> None:
    w = world(catalog, None)
    hosted = TenantEntry(policy(2, "hosted", TOKEN, unknown="quarantine"), 1, {}, False)
    w.view.scopes[TOKEN] = Scope(tenants=[hosted])
    decision = decide(request(w, "http", "GET", f"{TOKEN}/{UNKNOWN}.cfg"), w.view, NOW, w.rules)
    assert isinstance(decision, Register)
    assert decision.tenant is hosted
    # The root scope's default tenant ignores unknown devices; no digest in the hosted scope.
    decision = decide(request(w, "http", "GET", f"{UNKNOWN}.cfg"), w.view, NOW, w.rules)
    assert outcome(decision) == "c:unknown!"
    hosted.policy = policy(2, "hosted", TOKEN)
    decision = decide(request(w, "http", "GET", f"{TOKEN}/{UNKNOWN}.cfg"), w.view, NOW, w.rules)
    assert outcome(decision) == "n:unknown!"


def test_the_view_is_a_protocol(catalog: Catalog) -> None:
    view: CacheView = world(catalog, OPEN).view  # checked by mypy: no ConfigCache needed
    assert view.lookup(f"{MAC.upper()}.CFG") is not None

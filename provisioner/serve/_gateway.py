"""The one resolver behind HTTP(S), TFTP and FTP.

Theory of operation
-------------------
A request names a path, arrives over a protocol from an address, and may
carry a User-Agent and credentials. The gateway answers with a file, a
challenge (HTTP only) or the single uniform not-found:

1. A banned address gets not-found without further work.
2. The path is normalised (:func:`provisioner.paths.normalize`); a first
   segment equal to a tenant's URL token selects that tenant's scope.
3. Shared files (per family/model, never secret) and the files of active
   firmware sets (``fw/<vendor>/<label>/…``, and Cisco loads at the root)
   are served to anyone.
4. A per-phone file is served when the phone is known and enabled, the
   protocol is allowed for it (TFTP/FTP opt-in, CIDR allowlists) and, when
   it has HTTP credentials, the request authenticates (digest, or basic over
   TLS).
5. Everything else — unknown MAC, disabled phone, outside the allowlist,
   wrong credentials, unsafe path — ends in the same place (:meth:`_deny`):
   a challenge when the request carried no credentials and the scope uses
   authentication (so a missing phone looks exactly like a protected one),
   otherwise not-found. Failures that indicate probing are counted per
   address (a walk over unknown MACs counts each MAC once, challenged or
   not; a known phone's optional files never count) and lead to a temporary
   ban with a log line fail2ban can match.
6. Every failure does the same work before it answers: one identification
   of the request, and a full digest check when credentials came along.
   Bookkeeping (seen records, failure counting, log lines) runs after the
   answer has been handed to the front end, so its cost is not visible in
   the response time (security goal 2, docs/security.md).

Only an admitted fetch of a phone's own file (authenticated where the phone
needs it, inside its allowlists, over a transport allowed for it) teaches
the gateway the phone's address, which is where a direct check-sync NOTIFY
goes: a challenged or refused request never moves it (docs/security.md).
Uploads, and the serving back of uploaded files, additionally need a request
that authenticated as the phone (digest, its client certificate, or its
tenant's URL token) unless ``uploads.unauthenticated`` is set.

Unknown devices follow their tenant's ``unknown.policy``: recorded as
pending (quarantine) or created without lines (auto-register). Every request
leaves a seen record; none of them, nor any log line, holds a secret.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from enum import StrEnum

from provisioner.catalog import UploadDef
from provisioner.errors import ProvisionerError
from provisioner.identify import Identity
from provisioner.paths import normalize
from provisioner.render import RenderedFile
from provisioner.serve._access import transport_refusal
from provisioner.serve._bans import FailureTracker
from provisioner.serve._cache import ConfigCache, PhoneEntry, TenantEntry, served
from provisioner.serve._digest import DigestAuth
from provisioner.serve._metrics import Metrics
from provisioner.serve._model import Fetch, Protocol, Reply, ServedFile, Status, allowed
from provisioner.serve._seen import SeenRecorder
from provisioner.serve._uploads import UploadStore
from provisioner.store import Admitted, PendingDevice, Store

__all__ = ["Gateway", "UploadTicket"]

log = logging.getLogger("provisioner.gateway")
NOT_FOUND = Reply(Status.NOT_FOUND)
_POLICY_EVERY = 60.0  # seconds between unknown-device actions (database writes) per MAC
_MAX_TRACKED_DEVICES = 100_000
_MAX_AGENTS = 10_000  # distinct User-Agents remembered


@dataclass(frozen=True, slots=True)
class UploadTicket:
    """Permission to store one upload for one phone."""

    mac: str
    name: str
    limit: int


class _Admission(StrEnum):
    OK = "ok"
    CHALLENGE = "challenge"  # credentials needed
    STALE = "stale"  # right credentials, expired nonce
    WRONG = "wrong"  # credentials checked and refused
    FAIL = "fail"  # transport, allowlist or certificate refused


class _Miss(StrEnum):
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
        return self not in (_Miss.NORMAL, _Miss.OTHER)

    def key(self, mac: str | None) -> str | None:
        """Failures with one key count once per window: each unknown MAC, each phone's uploads."""
        if mac is None:
            return None
        if self is _Miss.UNKNOWN:
            return f"mac:{mac}"
        if self is _Miss.UPLOAD:
            return f"upload:{mac}"
        return None


class Gateway:
    """Decides what every request gets; shared by all front ends."""

    def __init__(
        self,
        *,
        store: Store,
        cache: ConfigCache,
        digest: DigestAuth,
        bans: FailureTracker,
        uploads: UploadStore,
        seen: SeenRecorder,
        metrics: Metrics,
        executor: Executor,
        realm: str,
        default_tenant: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.cache = cache
        self.digest = digest
        self.bans = bans
        self.uploads = uploads
        self.seen = seen
        self.metrics = metrics
        self.realm = realm
        self.default_tenant = default_tenant
        self._executor = executor
        self._clock = clock
        self._acted: dict[str, float] = {}  # MAC -> when its tenant's policy last acted
        self._registering: dict[str, asyncio.Task[None]] = {}
        self._agents: dict[tuple[str, str, str], Identity] = {}
        self._background: set[asyncio.Task[None]] = set()  # quarantine writes
        # Where each known phone last fetched from, admitted: the direct NOTIFY destination.
        self.addresses: dict[str, str] = {}
        self._admitted: dict[str, Admitted] = {}  # changes of addresses, not written yet

    # --- downloads -------------------------------------------------------

    async def fetch(self, req: Fetch) -> Reply:
        """Answer a request for a file."""
        now = self._clock()
        if self.bans.banned(req.client, now):
            return self._finish(req, req.path, NOT_FOUND, None)
        split = self._split(req.path)
        if split is None:
            return self._deny(req, req.path, "", now, _Miss.UNSAFE, Identity())
        token, path = split
        if self.cache.busy:
            await self.cache.settled()
        shared = self.cache.shared.get(path.lower())
        if shared is not None:
            self.metrics.cache_hits += 1
            return self._finish(req, path, Reply(Status.OK, shared), None)
        disk = self.cache.firmware.get(path.lower())
        if disk is not None:
            # Firmware and device files are never secret, like shared files.
            self.metrics.firmware_hits += 1
            return self._finish(req, path, Reply(Status.OK, disk=disk), None)
        hit = self.cache.lookup(path, token)
        if hit is not None:
            return self._own_file(req, path, token, now, *hit)
        identity, kind = self._identify(req, path)
        hit = await self._unknown(req, path, token, now, identity)
        if hit is not None:
            return self._own_file(req, path, token, now, *hit)
        target = self.cache.upload_target(path, token)
        if target is not None and target[2].serve_back:
            return await self._serve_back(req, path, token, now, target, identity)
        self.metrics.cache_misses += 1
        return self._deny(req, path, token, now, kind, identity)

    def _own_file(
        self, req: Fetch, path: str, token: str, now: float, phone: PhoneEntry, file: ServedFile
    ) -> Reply:
        admission = self._admit(req, phone, token, now)
        if admission == _Admission.OK:
            self.metrics.cache_hits += 1
            self._learn(req, phone)
            return self._finish(req, path, Reply(Status.OK, file), phone)
        return self._refuse(req, path, token, now, admission, phone)

    def _identify(self, req: Fetch, path: str) -> tuple[Identity, _Miss]:
        """What a request that is not an admitted hit is for, and what kind of miss it is.

        Run once on every such request, known phone or not, so that the
        failure paths cost the same (no timing oracle, security goal 2).
        """
        identifier = self.cache.identifier
        by_path, optional = identifier.from_path(path)
        identity = identifier.combine(req.user_agent or None, by_path)
        if by_path.mac is None:
            return identity, _Miss.OTHER
        phone = self.cache.macs.get(by_path.mac)
        if phone is not None:
            # A known phone asking for a per-phone name we do not serve it:
            # one of its family's optional files is a normal miss.
            return identity, _Miss.NORMAL if phone.family.key in optional else _Miss.KNOWN
        return identity, _Miss.UNKNOWN

    async def _serve_back(
        self,
        req: Fetch,
        path: str,
        token: str,
        now: float,
        target: tuple[PhoneEntry, str, UploadDef],
        identity: Identity,
    ) -> Reply:
        phone, name, _ = target
        admission = self._admit(req, phone, token, now)
        if admission != _Admission.OK:
            return self._refuse(req, path, token, now, admission, phone)
        if not self._may_upload(req, phone, token):
            # What was uploaded may be an attacker's; it goes back only to the
            # phone. The phone's own override file: a normal miss, not counted.
            return self._deny(req, path, token, now, _Miss.NORMAL, identity)
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(None, self.uploads.read, phone.mac, name)
        if found is None:
            # The phone has not uploaded it: a normal miss for its own file.
            return self._finish(req, path, NOT_FOUND, phone)
        self._learn(req, phone)
        data, mtime = found
        file = served(RenderedFile(name, data, _content_type(name), True), mtime)
        return self._finish(req, path, Reply(Status.OK, file), phone)

    # --- uploads ---------------------------------------------------------

    async def authorize_upload(self, req: Fetch) -> tuple[Reply, UploadTicket | None]:
        """Check an upload before its body is read: download admission, then authentication.

        By default only a request that authenticated as the phone may
        upload (:meth:`_may_upload`); anything else gets the uniform failure
        and counts towards a ban, once per phone and window.
        """
        now = self._clock()
        if self.bans.banned(req.client, now):
            return self._finish(req, req.path, NOT_FOUND, None), None
        split = self._split(req.path)
        if split is None:
            return self._deny(req, req.path, "", now, _Miss.UNSAFE, Identity()), None
        token, path = split
        if self.cache.busy:
            await self.cache.settled()
        target = self.cache.upload_target(path, token)
        if target is None:
            identity, kind = self._identify(req, path)
            kind = _Miss.UNSAFE if kind is _Miss.OTHER else kind
            return self._deny(req, path, token, now, kind, identity), None
        phone, name, upload = target
        admission = self._admit(req, phone, token, now)
        if admission != _Admission.OK:
            return self._refuse(req, path, token, now, admission, phone), None
        if not phone.access.uploads:
            return self._finish(req, path, NOT_FOUND, phone), None
        if not self._may_upload(req, phone, token):
            identity, _ = self._identify(req, path)
            # The phone itself (where it was admitted from) uploading its logs is
            # refused without counting; anyone else counts, once per phone.
            kind = _Miss.NORMAL if self.addresses.get(phone.mac) == req.client else _Miss.UPLOAD
            return self._deny(req, path, token, now, kind, identity), None
        ticket = UploadTicket(phone.mac, name, upload.max_bytes)
        return Reply(Status.OK), ticket

    async def upload_limit(self, req: Fetch) -> int:
        """Bytes the upload ``req`` asks for may have; 0 when it is refused."""
        _, ticket = await self.authorize_upload(req)
        return 0 if ticket is None else ticket.limit

    async def upload(self, req: Fetch, data: bytes) -> bool:
        """Store a complete upload whose body was read after :meth:`upload_limit`.

        Admission is checked again: the phone, its settings or the client's
        ban may have changed while the body arrived.
        """
        _, ticket = await self.authorize_upload(req)
        if ticket is None:
            return False
        return (await self.store_upload(req, ticket, data)).status is Status.OK

    async def store_upload(self, req: Fetch, ticket: UploadTicket, data: bytes) -> Reply:
        """Store an authorised upload (the caller enforced ``ticket.limit`` while reading)."""
        if len(data) > ticket.limit:
            return self._finish(req, req.path, Reply(Status.TOO_LARGE), None)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.uploads.write, ticket.mac, ticket.name, data)
        self.metrics.uploads += 1
        phone = self.cache.macs.get(ticket.mac)
        if phone is not None:
            self._learn(req, phone)
        log.info(
            "event=upload mac=%s name=%s bytes=%d client=%s protocol=%s",
            ticket.mac,
            ticket.name,
            len(data),
            req.client,
            req.protocol,
        )
        return self._finish(req, req.path, Reply(Status.OK), phone)

    # --- decisions -------------------------------------------------------

    def _split(self, raw: str) -> tuple[str, str] | None:
        path = normalize(raw)
        if path is None:
            return None
        head, slash, rest = path.partition("/")
        if slash and self.cache.scope_of(head):
            return head, rest
        return "", path

    def _scope_realm(self, token: str) -> str:
        tenants = self.cache.tenants_in(token) if token else []
        return tenants[0].policy.realm if tenants else self.realm

    def _admit(self, req: Fetch, phone: PhoneEntry, token: str, now: float) -> _Admission:
        access = phone.access
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
        verdict = self.digest.verify(
            req.authorization,
            method=req.method,
            uri=req.uri,
            realm=self._scope_realm(token),
            user=access.http_user,
            password=access.http_password,
            now=now,
            tls=req.protocol is Protocol.HTTPS,
        )
        if verdict.ok:
            return _Admission.OK
        return _Admission.STALE if verdict.stale else _Admission.WRONG

    def _may_upload(self, req: Fetch, phone: PhoneEntry, token: str) -> bool:
        """Whether an admitted request authenticated as ``phone`` (or the scope allows any).

        A URL token is the tenant's secret; a digest answer or a client
        certificate is the phone's own. An FTP login is shared by the whole
        tenant and TFTP has none, so neither counts.
        """
        access = phone.access
        if access.open_uploads or token or req.cert_mac == phone.mac:
            return True
        return req.protocol in (Protocol.HTTP, Protocol.HTTPS) and bool(access.http_password)

    def _learn(self, req: Fetch, phone: PhoneEntry) -> None:
        """Remember where an admitted phone fetched from: its direct NOTIFY destination."""
        if self.addresses.get(phone.mac) != req.client:
            self.addresses[phone.mac] = req.client
            self._admitted[phone.mac] = Admitted(
                phone.mac, req.client, req.protocol.value, int(self._clock())
            )

    def take_admitted(self) -> list[Admitted]:
        """Addresses learned since the last call, for the database (every node reads them)."""
        taken, self._admitted = self._admitted, {}
        return list(taken.values())

    def _refuse(
        self,
        req: Fetch,
        path: str,
        token: str,
        now: float,
        admission: _Admission,
        phone: PhoneEntry,
    ) -> Reply:
        # The same identification an unknown MAC costs (no timing oracle).
        identity, _ = self._identify(req, path)
        realm = self._scope_realm(token)
        if admission == _Admission.CHALLENGE:
            # Every phone with credentials is challenged once per file before it
            # answers: a known phone's challenge is not a failure.
            challenge = self.digest.challenge(realm, now)
            return self._finish(req, path, Reply(Status.CHALLENGE, None, challenge), None, identity)
        if admission == _Admission.STALE:
            challenge = self.digest.challenge(realm, now, stale=True)
            return self._finish(req, path, Reply(Status.CHALLENGE, None, challenge), None, identity)
        checked = admission == _Admission.WRONG
        return self._deny(req, path, token, now, _Miss.KNOWN, identity, checked=checked)

    def _auth_in_scope(self, token: str) -> bool:
        return any(t.auth_in_use for t in self.cache.tenants_in(token))

    def _deny(
        self,
        req: Fetch,
        path: str,
        token: str,
        now: float,
        kind: _Miss,
        identity: Identity,
        *,
        checked: bool = False,
    ) -> Reply:
        """The uniform failure: the same answer for every reason (security goal 2).

        A per-phone name asked for without credentials, in a scope where some
        phones need them, gets the challenge a protected phone would get, so
        a missing phone cannot be told from a protected one. Anything else
        gets not-found. Credentials that were not ``checked`` against a real
        phone are checked against an impossible one, so that the work is the
        same. Counting towards a ban follows :class:`_Miss`.
        """
        shaped = kind not in (_Miss.OTHER, _Miss.UNSAFE)
        http = req.protocol in (Protocol.HTTP, Protocol.HTTPS)
        if http and shaped and req.authorization is None and self._auth_in_scope(token):
            challenge = self.digest.challenge(self._scope_realm(token), now)
            reply = Reply(Status.CHALLENGE, None, challenge)
        else:
            if req.authorization is not None and not checked:
                self.digest.dummy_check(
                    req.authorization,
                    method=req.method,
                    uri=req.uri,
                    realm=self._scope_realm(token),
                    now=now,
                    tls=req.protocol is Protocol.HTTPS,
                )
            reply = NOT_FOUND
        key = kind.key(identity.mac)
        if kind.counts or (kind is _Miss.OTHER and req.authorization is not None):
            self._later(self.failed, req.client, req.protocol, "lookup_failed", path, key)
        return self._finish(req, path, reply, None, identity)

    def banned(self, client: str) -> bool:
        """Whether ``client`` is banned now (every front end refuses it without further work)."""
        return self.bans.banned(client, self._clock())

    def failed(
        self, client: str, protocol: Protocol, event: str, path: str = "", key: str | None = None
    ) -> None:
        """Count a failure from ``client``; log it, and the ban it may start.

        Failures with the same ``key`` (an unknown MAC) count once per ban
        window. The log lines are what a fail2ban filter matches, e.g.
        ``failregex = event=(lookup_failed|ftp_login_failed) client=<HOST>``.
        """
        log.warning(
            "event=%s client=%s protocol=%s path=%s", event, client, protocol, _loggable(path)
        )
        if self.bans.failure(client, self._clock(), key, event):
            self.metrics.bans += 1
            log.warning(
                "event=ban client=%s duration=%d failures=%d window=%d",
                client,
                self.bans.ban_seconds,
                self.bans.limit,
                self.bans.window,
            )

    def _later(self, callback: Callable[..., object], *args: object) -> None:
        """Run bookkeeping after the current answer has gone out (see the module docstring)."""
        asyncio.get_running_loop().call_soon(callback, *args)

    # --- unknown devices -------------------------------------------------

    def _policy_tenant(self, token: str) -> TenantEntry | None:
        tenants = self.cache.tenants_in(token)
        if token:
            return tenants[0] if tenants else None
        if self.default_tenant is not None:
            return next((t for t in tenants if t.policy.name == self.default_tenant), None)
        return tenants[0] if len(tenants) == 1 else None

    async def _unknown(
        self, req: Fetch, path: str, token: str, now: float, identity: Identity
    ) -> tuple[PhoneEntry, ServedFile] | None:
        """Apply the tenant's unknown-device policy; the phone's file if it was created.

        Quarantine is written in the background: the device gets the uniform
        failure at once, as under ``ignore``, without waiting for the database.
        """
        mac = identity.mac
        if mac is None or mac in self.cache.macs:
            return None
        tenant = self._policy_tenant(token)
        if tenant is None or tenant.policy.unknown_policy == "ignore":
            return None
        task = self._registering.get(mac)
        if task is not None:  # another request of this phone is registering it
            await asyncio.shield(task)
            return self.cache.lookup(path, token)
        # One database action per device and minute, whatever it sends: a
        # disabled phone or a failing registration must not cost a write per request.
        if now - self._acted.get(mac, -_POLICY_EVERY) < _POLICY_EVERY:
            return None
        if len(self._acted) >= _MAX_TRACKED_DEVICES:
            self._acted.clear()
        self._acted[mac] = now
        if tenant.policy.unknown_policy == "auto-register" and identity.model is not None:
            task = asyncio.get_running_loop().create_task(
                self._register(tenant, mac, identity.model)
            )
            self._registering[mac] = task
            try:
                await asyncio.shield(task)
            finally:
                self._registering.pop(mac, None)
            return self.cache.lookup(path, token)
        # quarantine (also auto-register when the model cannot be told)
        device = PendingDevice(
            mac=mac,
            tenant=tenant.policy.name,
            vendor=identity.vendor or "",
            model=identity.model or "",
            firmware=(identity.firmware or "")[:64],
            address=req.client,
            user_agent=req.user_agent[:255],
            first_seen=int(now),
            last_seen=int(now),
        )
        task = asyncio.get_running_loop().create_task(self._quarantine(device))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return None

    async def _quarantine(self, device: PendingDevice) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self.store.quarantine, device)
        except ProvisionerError as exc:
            log.warning("event=quarantine_failed mac=%s reason=%s", device.mac, _loggable(str(exc)))
            return
        log.info("event=quarantined mac=%s tenant=%s", device.mac, device.tenant)

    async def _register(self, tenant: TenantEntry, mac: str, model: str) -> None:
        groups = [tenant.policy.unknown_group] if tenant.policy.unknown_group else []

        def create() -> None:
            self.store.add_phone(
                tenant.policy.name, mac, model, groups=groups, description="auto-registered"
            )

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, create)
        except ProvisionerError as exc:
            log.warning("event=auto_register_failed mac=%s reason=%s", mac, _loggable(str(exc)))
            return
        log.info("event=auto_registered mac=%s tenant=%s model=%s", mac, tenant.policy.name, model)
        await self.cache.refresh()

    # --- bookkeeping -----------------------------------------------------

    async def drain(self) -> None:
        """Wait for the background writes started so far (quarantined devices)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def _finish(
        self,
        req: Fetch,
        path: str,
        reply: Reply,
        phone: PhoneEntry | None,
        identity: Identity | None = None,
    ) -> Reply:
        """Count the answer and leave a seen record (after the answer, for failures)."""
        self.metrics.request(req.protocol.value, reply.status.value)
        now = int(self._clock())
        if reply.status is Status.OK:
            self._record(req, path, reply.status, phone, identity, now)
        else:
            self._later(self._record, req, path, reply.status, phone, identity, now)
        return reply

    def _record(
        self,
        req: Fetch,
        path: str,
        status: Status,
        phone: PhoneEntry | None,
        identity: Identity | None,
        now: int,
    ) -> None:
        if phone is not None:
            # What we know about our own phone beats what the request suggests;
            # only the firmware comes from the User-Agent. ``path`` is normalised.
            identity = self._phone_identity(phone, req.user_agent)
            known = True
        else:
            if identity is None:
                identity = self.cache.identifier.identify(req.user_agent or None, path)
            known = identity.mac is not None and identity.mac in self.cache.macs
            path = _loggable(path)
        self.seen.add(
            identity=identity,
            address=req.client,
            protocol=req.protocol.value,
            path=path,
            user_agent=req.user_agent,
            status=status.value,
            known=known,
            now=now,
        )

    def _phone_identity(self, phone: PhoneEntry, user_agent: str) -> Identity:
        """A known phone's identity with the firmware its User-Agent reports.

        Memoised: a phone sends the same User-Agent on every request.
        """
        key = (phone.mac, phone.model, user_agent)
        found = self._agents.get(key)
        if found is None:
            if len(self._agents) >= _MAX_AGENTS:
                self._agents.clear()
            firmware = self.cache.identifier.identify(user_agent).firmware if user_agent else None
            found = Identity(
                phone.family.vendor, phone.family.key, phone.model, firmware, phone.mac
            )
            self._agents[key] = found
        return found


def _loggable(text: str) -> str:
    """Paths and messages as they may appear in logs: printable, bounded."""
    return "".join(c if c.isprintable() and c not in ' ="' else "?" for c in text[:255])


def _content_type(name: str) -> str:
    return "text/xml; charset=utf-8" if name.endswith(".xml") else "text/plain; charset=utf-8"

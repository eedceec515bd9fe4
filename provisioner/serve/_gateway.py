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
pending (quarantine) or created without lines (auto-register), unless an
admin rejected the MAC (:func:`provisioner.devices.reject_device`). Every request
leaves a seen record; none of them, nor any log line, holds a secret.

Where the work is done
----------------------
The decision — steps 2 to 5 and the equal work of step 6 — is the pure
function :func:`provisioner.serve._decide.decide` over a read-only view of
the cache; it names what to do as a :class:`~provisioner.serve._decide.Decision`.
This module is the shell that carries it out: the ban check (the opening
:meth:`Gateway._open`, shared by downloads and uploads; it never waits for
a refresh: requests are answered from the state the cache installed last),
making challenges (their nonces are random), metrics, seen records and
failure counting deferred until after the answer (:meth:`Gateway._later`),
the database writes of the unknown-device policy, learning addresses,
claiming an accepted digest answer for the whole cluster before serving
(:mod:`provisioner.serve._nonce_claims`), and reading and writing uploads
(database rows every node reads) in a worker thread. Front ends see it
through :class:`provisioner.serve._front.FrontGateway`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import typing
from collections.abc import Awaitable, Callable, Iterable

from provisioner.catalog import FORMAT_CONTENT_TYPES, OutputFormat, content_type_of
from provisioner.errors import ProvisionerError
from provisioner.identify import Identity
from provisioner.render import RenderedFile
from provisioner.serve._bans import FailureTracker
from provisioner.serve._cache import ConfigCache, PhoneEntry, TenantEntry, served
from provisioner.serve._db import Db
from provisioner.serve._decide import (
    Absent,
    AcceptUpload,
    Challenge,
    Decision,
    Fail,
    Register,
    Rules,
    ServeBack,
    ServeDisk,
    ServeFile,
    UploadTicket,
    decide,
    resume,
)
from provisioner.serve._digest import Claim, DigestAuth
from provisioner.serve._learned import LearnedAddresses
from provisioner.serve._metrics import Metrics
from provisioner.serve._model import Fetch, Pending, Protocol, Reply, ReplyOutcome, Status
from provisioner.serve._nonce_claims import NonceClaims, Outcome
from provisioner.serve._seen import SeenRecorder
from provisioner.store import PendingDevice, UploadRepository

__all__ = ["Gateway", "PendingDevices", "PhoneAdder", "UploadTicket"]

log = logging.getLogger("provisioner.gateway")
NOT_FOUND = Reply(Status.NOT_FOUND)
_POLICY_EVERY = 60.0  # seconds between unknown-device actions (database writes) per MAC
_MAX_TRACKED_DEVICES = 100_000
_MAX_AGENTS = 10_000  # distinct User-Agents remembered
_LINES_AFTER = 0.01  # seconds a failed lookup's log line waits (Gateway._lookup_failed)
# A failure's log line, the one fail2ban matches (Gateway.failed).
_FAILURE_LINE = "event=%s client=%s protocol=%s path=%s"


class PendingDevices(typing.Protocol):
    """Where an unknown device is held for an admin to claim (``unknown.action = quarantine``)."""

    def quarantine(self, device: PendingDevice) -> bool: ...

    def rejected(self, mac: str) -> bool: ...


class PhoneAdder(typing.Protocol):
    """How an unknown device becomes a phone (``unknown.action = register``)."""

    def add(
        self,
        tenant: str,
        mac: str,
        model: str,
        *,
        description: str = "",
        groups: Iterable[str] = (),
        enabled: bool = True,
    ) -> None: ...


class Gateway:
    """Carries out what :func:`~provisioner.serve._decide.decide` says; shared by all front ends."""

    def __init__(
        self,
        *,
        pending: PendingDevices,
        phones: PhoneAdder,
        cache: ConfigCache,
        digest: DigestAuth,
        bans: FailureTracker,
        uploads: UploadRepository,
        nonces: NonceClaims,
        seen: SeenRecorder,
        metrics: Metrics,
        learned: LearnedAddresses,
        db: Db,
        realm: str,
        default_tenant: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pending = pending
        self.phones = phones
        self.cache = cache
        self.digest = digest
        self.bans = bans
        self.uploads = uploads
        self.nonces = nonces
        self.on_ban: Callable[[], None] = _nothing  # the server writes a new ban at once
        self.seen = seen
        self.metrics = metrics
        self.realm = realm
        self.default_tenant = default_tenant
        self._db = db
        self._clock = clock
        self._acted: dict[str, float] = {}  # MAC -> when its tenant's policy last acted
        self._registering: dict[str, asyncio.Task[None]] = {}
        self._agents: dict[tuple[str, str, str], Identity] = {}
        self._background: set[asyncio.Task[None]] = set()  # quarantine writes
        self._lines: list[tuple[str, Protocol, str]] = []  # failed lookups' log lines, waiting
        self._lines_due: asyncio.TimerHandle | None = None
        self.learned = learned
        self._rules = Rules(realm, default_tenant, digest, learned.current)

    # --- the opening, shared by downloads and uploads ----------------------

    async def _open(self, req: Fetch) -> tuple[Decision, float]:
        """Refuse a banned client without further work, then decide on the state served now."""
        decision, now, claim = self._decide(req)
        if claim is not None:
            decision = await self._claimed(req, decision, now, claim)
        return decision, now

    def _decide(self, req: Fetch) -> tuple[Decision, float, Claim | None]:
        """The synchronous part of :meth:`_open`: the decision and the answer it accepted."""
        now = self._clock()
        if self.bans.banned(req.client, now):
            return Absent(req.path, None), now, None
        self.digest.take_claim()  # nothing left over from a decision made elsewhere
        decision = decide(req, self.cache, now, self._rules)
        return decision, now, self.digest.take_claim()

    async def _claimed(self, req: Fetch, decision: Decision, now: float, claim: Claim) -> Decision:
        """``decision``, once the digest answer it accepted is claimed for the cluster."""
        outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

        def claimed(result: Outcome) -> None:
            if not outcome.done():  # the request may have been cancelled meanwhile
                outcome.set_result(result)

        self.nonces.claim(claim.nonce, claim.count, claim.expires, claimed)
        return self._after_claim(req, decision, now, await outcome)

    def _after_claim(
        self, req: Fetch, decision: Decision, now: float, outcome: Outcome
    ) -> Decision:
        """``decision`` if no node accepted its digest answer before (``digest_nonce_counts``).

        When the database cannot be reached the node's own memory has to do:
        the answer is admitted, as it would be by a node on its own.
        """
        if isinstance(outcome, Exception):
            # A database outage must not stop authenticated phones.
            log.error("event=nonce_claim_failed", exc_info=outcome)
            return decision
        if not outcome:
            # Another node accepted this answer: now a replay in this node's
            # memory too, so deciding again refuses it as any replay is refused.
            self.metrics.digest_replays += 1
            decision = decide(req, self.cache, now, self._rules)
            self.digest.take_claim()
        return decision

    # --- downloads -------------------------------------------------------

    async def fetch(self, req: Fetch) -> Reply:
        """Answer a request for a file."""
        answer = self.begin(req)
        return answer if isinstance(answer, Reply) else await answer

    def begin(self, req: Fetch) -> Reply | Awaitable[Reply]:
        """Answer a request for a file at once when nothing needs waiting for.

        The reply when the answer needs no waiting (most requests); otherwise
        an awaitable of it: a :class:`~provisioner.serve._model.Pending` for a
        digest answer being claimed for the cluster (settled by the claim's
        callback), a coroutine for the unknown-device policy or an upload read
        back. It lets the HTTP front end skip a task per request;
        :meth:`fetch` is the same for callers that await anyway.
        """
        decision, now, claim = self._decide(req)
        if claim is not None:
            return self._begin_claimed(req, decision, now, claim)
        if isinstance(decision, Register | ServeBack | AcceptUpload):
            return self._carry_out(req, decision, now)
        return self._answer(req, decision, now)

    def _begin_claimed(self, req: Fetch, decision: Decision, now: float, claim: Claim) -> Pending:
        """The reply to a request whose digest answer is being claimed, once it is."""
        pending = Pending()

        def claimed(outcome: Outcome) -> None:
            try:
                after = self._after_claim(req, decision, now, outcome)
                if isinstance(after, Register | ServeBack | AcceptUpload):
                    rest = asyncio.ensure_future(self._carry_out(req, after, now))
                    rest.add_done_callback(lambda done: pending.settle(_outcome_of(done)))
                    return
                reply = self._answer(req, after, now)
            except Exception as exc:  # as an awaited coroutine would raise it
                pending.settle(exc)
                return
            pending.settle(reply)  # outside the try: the front end's failures are its own

        self.nonces.claim(claim.nonce, claim.count, claim.expires, claimed)
        return pending

    async def _carry_out(self, req: Fetch, decision: Decision, now: float) -> Reply:
        """Do what ``decision`` says and return the answer for the front end."""
        if isinstance(decision, Register):
            await self._unknown(req, now, decision)
            decision = resume(req, self.cache, now, self._rules, decision)
        if isinstance(decision, ServeBack):
            return await self._serve_back(req, decision)
        if isinstance(decision, AcceptUpload):
            return Reply(Status.OK)  # an upload's answer before its body is read
        return self._answer(req, decision, now)

    def _answer(
        self, req: Fetch, decision: ServeFile | ServeDisk | Challenge | Fail | Absent, now: float
    ) -> Reply:
        """Carry out a decision that needs no waiting: count, record, answer."""
        if isinstance(decision, ServeFile):
            self.metrics.cache_hits += 1
            phone = decision.phone
            if phone is not None:
                self._learn(req, phone, now)
            return self._finish(req, decision.path, Reply(Status.OK, decision.file), phone, now=now)
        if isinstance(decision, ServeDisk):
            self.metrics.firmware_hits += 1
            reply = Reply(Status.OK, disk=decision.disk)
            return self._finish(req, decision.path, reply, None, now=now)
        if isinstance(decision, Challenge):
            challenge = self.digest.challenge(decision.realm, now, stale=decision.stale)
            reply = Reply(Status.CHALLENGE, None, challenge)
            return self._finish(req, decision.path, reply, None, decision.identity, now=now)
        if isinstance(decision, Fail):
            return self._fail(req, decision, now)
        return self._finish(req, decision.path, NOT_FOUND, decision.phone, now=now)  # Absent

    def _fail(self, req: Fetch, fail: Fail, now: float) -> Reply:
        """The uniform failure; its counting towards a ban waits until after the answer."""
        if fail.cache_miss:
            self.metrics.cache_misses += 1
        reply = NOT_FOUND
        if fail.challenge is not None:
            reply = Reply(Status.CHALLENGE, None, self.digest.challenge(fail.challenge, now))
        if fail.counted:
            self._later(self._lookup_failed, req.client, req.protocol, fail.path, fail.key)
        return self._finish(req, fail.path, reply, None, fail.identity, now=now)

    async def _serve_back(self, req: Fetch, decision: ServeBack) -> Reply:
        phone, path = decision.phone, decision.path
        # Not the Db thread: a phone's read-back must not queue behind a render.
        found = await asyncio.to_thread(self.uploads.read, phone.mac, decision.name)
        if found is None:
            # The phone has not uploaded it: a normal miss for its own file.
            return self._finish(req, path, NOT_FOUND, phone)
        self._learn(req, phone)
        data, mtime = found
        name = decision.name
        file = served(RenderedFile(name, data, _content_type(name), True), mtime)
        return self._finish(req, path, Reply(Status.OK, file), phone)

    # --- uploads ---------------------------------------------------------

    async def authorize_upload(self, req: Fetch) -> tuple[Reply, UploadTicket | None]:
        """Check an upload before its body is read: download admission, then authentication.

        By default only a request that authenticated as the phone may
        upload; anything else gets the uniform failure and counts towards a
        ban, once per phone and window (:mod:`provisioner.serve._decide`).
        """
        decision, now = await self._open(req)
        if isinstance(decision, AcceptUpload):
            return Reply(Status.OK), decision.ticket
        return await self._carry_out(req, decision, now), None

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
        await asyncio.to_thread(self.uploads.write, ticket.mac, ticket.name, data, self._clock())
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

    # --- addresses and bans ----------------------------------------------

    def _learn(self, req: Fetch, phone: PhoneEntry, now: float | None = None) -> None:
        """Remember where an admitted phone fetched from: its direct NOTIFY destination.

        ``now`` is the time of the request's decision, if it was just made.
        """
        when = self._clock() if now is None else now
        self.learned.learn(phone.mac, req.client, req.protocol._value_, when)

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
        log.warning(_FAILURE_LINE, event, client, protocol, _loggable(path))
        self._count(client, event, key)

    def _lookup_failed(self, client: str, protocol: Protocol, path: str, key: str | None) -> None:
        """:meth:`failed` for a lookup, its log line written a little later.

        Counted at once, after the answer; the line waits :data:`_LINES_AFTER`
        with the others of that moment. Written right after the answer, the
        line kept the core busy while the client was woken (Linux may wake
        it on the same core), so a failure's answer arrived some 12 µs later
        than a protected phone's challenge, which is no failure
        (bench/security.py; docs/performance-notes.md, "A failure's log line").
        """
        self._lines.append((client, protocol, _loggable(path)))
        if len(self._lines) == 1:
            self._lines_due = asyncio.get_running_loop().call_later(_LINES_AFTER, self._write_lines)
        self._count(client, "lookup_failed", key)

    def _write_lines(self) -> None:
        """Write the failed lookups' log lines that wait (and stop waiting for the timer)."""
        if self._lines_due is not None:
            self._lines_due.cancel()
            self._lines_due = None
        lines, self._lines = self._lines, []
        for client, protocol, path in lines:
            log.warning(_FAILURE_LINE, "lookup_failed", client, protocol, path)

    def _count(self, client: str, event: str, key: str | None) -> None:
        """Count a failure from ``client`` towards a ban; log the ban it may start."""
        if self.bans.failure(client, self._clock(), key, event):
            self.metrics.bans += 1
            self.on_ban()
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

    async def _unknown(self, req: Fetch, now: float, step: Register) -> None:
        """Apply the tenant's unknown-device policy (the phone's file is then looked up again).

        Quarantine is written in the background: the device gets the uniform
        failure at once, as under ``ignore``, without waiting for the database.
        """
        mac, identity, tenant = step.mac, step.identity, step.tenant
        task = self._registering.get(mac)
        if task is not None:  # another request of this phone is registering it
            await asyncio.shield(task)
            return
        # One database action per device and minute, whatever it sends: a
        # disabled phone or a failing registration must not cost a write per request.
        if now - self._acted.get(mac, -_POLICY_EVERY) < _POLICY_EVERY:
            return
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
            return
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

    async def _quarantine(self, device: PendingDevice) -> None:
        try:
            held = await self._db.run(lambda: self.pending.quarantine(device))
        except ProvisionerError as exc:
            log.warning("event=quarantine_failed mac=%s reason=%s", device.mac, _loggable(str(exc)))
            return
        if held:
            log.info("event=quarantined mac=%s tenant=%s", device.mac, device.tenant)
        else:
            log.info("event=rejected_device mac=%s tenant=%s", device.mac, device.tenant)

    async def _register(self, tenant: TenantEntry, mac: str, model: str) -> None:
        groups = [tenant.policy.unknown_group] if tenant.policy.unknown_group else []

        def create() -> bool:
            if self.pending.rejected(mac):  # an admin said no: not even auto-registered
                return False
            self.phones.add(
                tenant.policy.name, mac, model, groups=groups, description="auto-registered"
            )
            return True

        try:
            created = await self._db.run(create)
        except ProvisionerError as exc:
            log.warning("event=auto_register_failed mac=%s reason=%s", mac, _loggable(str(exc)))
            return
        if not created:
            log.info("event=rejected_device mac=%s tenant=%s", mac, tenant.policy.name)
            return
        log.info("event=auto_registered mac=%s tenant=%s model=%s", mac, tenant.policy.name, model)
        await self.cache.refresh()

    # --- bookkeeping -----------------------------------------------------

    async def drain(self) -> None:
        """Wait for the background writes started so far (quarantined devices).

        Failed lookups' log lines that wait are written first.
        """
        self._write_lines()
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def _finish(
        self,
        req: Fetch,
        path: str,
        reply: Reply,
        phone: PhoneEntry | None,
        identity: Identity | None = None,
        *,
        now: float | None = None,
    ) -> Reply:
        """Count the answer and leave a seen record (after the answer, for failures).

        ``now`` is the time of the request's decision, if it was just made.
        """
        # ``_value_`` (the enum's documented sunder attribute) rather than
        # ``.value``, a descriptor call each: four per request on this path.
        self.metrics.request(req.protocol._value_, reply.status._value_)
        when = int(self._clock() if now is None else now)
        etag = reply.file.etag if reply.file is not None else ""
        if reply.status is Status.OK:
            self._record(req, path, reply.status, phone, identity, when, etag)
        else:
            self._later(self._record, req, path, reply.status, phone, identity, when, etag)
        return reply

    def _record(
        self,
        req: Fetch,
        path: str,
        status: Status,
        phone: PhoneEntry | None,
        identity: Identity | None,
        now: int,
        etag: str,
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
            protocol=req.protocol._value_,
            path=path,
            user_agent=req.user_agent,
            status=status._value_,
            known=known,
            now=now,
            etag=etag,
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
    """An uploaded file's type when served back: the catalog's map, text by default."""
    return content_type_of(name, FORMAT_CONTENT_TYPES[OutputFormat.KV])


def _outcome_of(done: asyncio.Future[Reply]) -> ReplyOutcome:
    """What a finished future of a reply carries: the reply, or what stopped it."""
    if done.cancelled():
        return asyncio.CancelledError()
    return done.exception() or done.result()


def _nothing() -> None:
    """The default ban callback: a gateway on its own has nobody to tell."""

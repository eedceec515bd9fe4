"""``provisioner serve``: HTTP, HTTPS, TFTP and FTP in one process.

Start-up renders every tenant before the first socket opens, so the first
phone is served from memory. Background tasks poll tenant revisions (cache
freshness; at once on a PostgreSQL announcement or a committed write of this
node's admin API), bans (also at once on a PostgreSQL ``NOTIFY`` from another
node, and when this node bans) and flush seen records. SIGHUP re-reads the configuration, TLS
files, catalog and templates without touching a connection or transfer
(:meth:`Server.reload`). SIGINT/SIGTERM drain: every front end stops
accepting, transfers and NOTIFYs in flight get ``shutdown_grace`` seconds,
unsent NOTIFYs are given back to the queue, what was seen is flushed
(:meth:`Server.stop`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import time
from collections.abc import Callable
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from provisioner.catalog import Catalog
from provisioner.errors import ProvisionerError
from provisioner.firmware import FirmwareLibrary, FirmwareStorage, LocalStorage, ObjectStorage
from provisioner.ftp import FtpServer
from provisioner.serve._access_log import AccessLog
from provisioner.serve._announcements import Announcement, parse
from provisioner.serve._build import build_gateway
from provisioner.serve._cache import ConfigCache
from provisioner.serve._collector import Settler
from provisioner.serve._config import RESTART_ONLY, ServeConfig
from provisioner.serve._connections import Connections, Site
from provisioner.serve._db import Db
from provisioner.serve._firmware import map_file
from provisioner.serve._front import FrontGateway
from provisioner.serve._ftp_backend import GatewayFtpBackend
from provisioner.serve._http import make_handler
from provisioner.serve._jobs import JobRunner
from provisioner.serve._learned import LearnedAddresses
from provisioner.serve._listen import listening
from provisioner.serve._metrics import Metrics
from provisioner.serve._model import Fetch, Protocol, Status, TenantPolicy
from provisioner.serve._pg_listener import PgListener
from provisioner.serve._reloads import Reloads
from provisioner.serve._rollouts import RolloutRunner
from provisioner.serve._tls import default_hosts, self_signed, server_context
from provisioner.serve._trim import release_free_memory
from provisioner.serve._uploads import import_disk_uploads
from provisioner.sip import Notifier
from provisioner.store import BANS_CHANNEL, CHANGES_CHANNEL, Ban, JobRequest, Store
from provisioner.tftp import Content, TftpEvent, TftpServer

if TYPE_CHECKING:
    from provisioner.api._listener import ApiListener

__all__ = ["ServeConfig", "Server"]

log = logging.getLogger("provisioner.serve")
# What a TFTP upload may hold in memory at most; each upload's own limit comes
# from the catalog's [[uploads]] entry (Polycom logs: 256 KiB to 1 MiB).
_TFTP_MAX_UPLOAD = 16 << 20
_NONCE_SWEEP = 60.0  # seconds between deletions of stale digest nonce counts
# SQLite announces nothing: how often its tenants' revisions are read (one
# small query) so a change committed by the CLI is rendered within about
# this much, rather than at the next poll (docs/scaling.md).
_REVISION_CHECK = 0.25


class Server:
    """All front ends around one gateway."""

    def __init__(
        self,
        config: ServeConfig,
        store: Store,
        catalog: Catalog,
        storage: FirmwareStorage | None = None,
        *,
        reload: Callable[[], ServeConfig] | None = None,
    ) -> None:
        """``storage`` holds firmware sets; by default ``<data dir>/firmware``.

        ``reload`` gives the configuration again on SIGHUP (the command line
        re-reads its file there; it raises ProvisionerError when it is broken).
        """
        self.config = config
        self.store = store
        self.catalog = catalog
        self.metrics = Metrics()
        # One worker thread for database reads/writes and rendering: SQLite
        # has one writer anyway, and renders never run on the event loop.
        self.db = Db()
        if storage is None:
            storage = LocalStorage(config.data_dir / "firmware")
        self.firmware = FirmwareLibrary(store.firmware, storage, catalog)
        self.cache = ConfigCache(
            store.tenants,
            store.firmware,
            catalog,
            self.db,
            self.metrics,
            site_dir=config.site_dir,
            storage=self.firmware.storage,
            settle=Settler(),
        )
        # Written by the gateway, read by the job runner, flushed by the server.
        self.learned = LearnedAddresses()
        self.gateway = build_gateway(
            config, store, self.cache, self.metrics, self.db, learned=self.learned
        )
        self.access = AccessLog(self.cache, enabled=config.access_log)
        self.bans = store.bans
        # Set when bans must be synced now: one made here, or a NOTIFY from another node.
        self._bans_due = asyncio.Event()
        self.gateway.on_ban = self._bans_due.set
        self.listener: PgListener | None = None
        self._runner: web.ServerRunner | None = None
        self._connections: Connections | None = None
        self._https: Site | None = None
        self._tftp: TftpServer | None = None
        self._ftp: FtpServer[int] | None = None
        self.notifier = Notifier(bind_host=config.bind, bind_port=config.sip_port)
        self.runner: JobRunner | None = None
        self.rollouts: RolloutRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._announcement = asyncio.Event()
        self._job_task: asyncio.Task[None] | None = None
        self._load = reload
        self._reloads = Reloads(self.reload)
        self.addresses: dict[str, tuple[str, int]] = {}
        self.api: ApiListener | None = None

    async def start(self) -> None:
        """Sweep firmware leftovers, render everything, then open the configured ports.

        :raises ListenError: when a port cannot be bound (those bound so far
            stay open: :meth:`stop` closes them).
        """
        swept = await self.db.run(self.firmware.sweep)
        if swept:
            log.info("event=firmware_swept entries=%s", ",".join(swept))
        uploads = self.config.data_dir / "uploads"
        await self.db.run(lambda: import_disk_uploads(uploads, self.store.uploads))
        await self.cache.refresh()  # settles the collector (._collector) once rendered
        await self.db.run(release_free_memory)
        await self._sync_bans()  # bans made before a restart or on other nodes hold at once
        config = self.config
        runner, connections = await self._start_https()
        if config.tftp_port:
            await self._start_tftp()
        if config.ftp_port:
            await self._start_ftp()
        await listening("sip", config.bind, config.sip_port, self.notifier.start)
        self.addresses["sip"] = self.notifier.local_address  # NOTIFYs come from here
        if config.api_port:
            await self._start_api()
        # Plain HTTP opens last: once /healthz answers, every other port listens
        # too (a load balancer or a test may use any of them at once).
        await self._start_plain_http(runner, connections)
        self._start_tasks()
        for name, (host, port) in sorted(self.addresses.items()):
            log.info("event=listening protocol=%s address=%s port=%d", name, host, port)

    async def _start_https(self) -> tuple[web.ServerRunner, Connections]:
        """Set up the server behind HTTP and HTTPS (our own sites, ``_connections``); open HTTPS."""
        config = self.config
        connections = self._connections = Connections(
            self.gateway,
            per_address=config.max_connections_per_address,
            header_timeout=config.header_timeout,
            handshake_timeout=config.handshake_timeout,
            trusted_proxies=config.trusted_proxies,
            access=self.access,
        )
        handler = make_handler(
            self.gateway, self.metrics, config.metrics_allow, config.trusted_proxies, connections
        )
        # Connections reach aiohttp through our Site, which builds their handlers itself.
        runner = self._runner = web.ServerRunner(
            web.Server(handler), shutdown_timeout=config.shutdown_grace
        )
        await runner.setup()
        if config.https_port:
            context = await asyncio.to_thread(self._tls_context, config)
            site = Site(
                runner,
                config.bind,
                config.https_port,
                connections,
                context,
                backlog=config.backlog,
            )
            await listening("https", config.bind, config.https_port, site.start)
            self._https = site
            self.addresses["https"] = (config.bind, config.https_port)
        return runner, connections

    async def _start_plain_http(self, runner: web.ServerRunner, connections: Connections) -> None:
        """Plain HTTP on the server :meth:`_start_https` set up."""
        config = self.config
        if config.http_port:
            site = Site(
                runner,
                config.bind,
                config.http_port,
                connections,
                backlog=config.backlog,
                fast=True,
            )
            await listening("http", config.bind, config.http_port, site.start)
            self.addresses["http"] = (config.bind, config.http_port)

    async def _start_api(self) -> None:
        """The admin API on its own listener (provisioner.api)."""
        from provisioner.api._listener import ApiListener, ListenerConfig

        config = self.config
        self.api = ApiListener(
            ListenerConfig(
                bind=config.api_bind,
                port=config.api_port,
                tls_cert=config.api_tls_cert,
                tls_key=config.api_tls_key,
                insecure=config.api_insecure,
                data_dir=config.data_dir,
                per_address=config.max_connections_per_address,
                header_timeout=config.header_timeout,
                handshake_timeout=config.handshake_timeout,
                trusted_proxies=config.trusted_proxies,
                max_fleet_body=config.api_max_fleet_body,
                shutdown_grace=config.shutdown_grace,
                backlog=config.backlog,
            ),
            self.store,
            self.catalog,
            self.gateway,
            self.firmware,
            # A committed API write refreshes the cache at once, as an announcement does.
            committed=self._announcement.set,
        )
        await listening("api", config.api_bind, config.api_port, self.api.start)
        self.addresses["api"] = (config.api_bind, config.api_port)

    @staticmethod
    def _tls_context(config: ServeConfig) -> ssl.SSLContext:
        """The HTTPS context from the configured files, or a generated self-signed pair."""
        cert, key = config.tls_cert, config.tls_key
        if cert is None or key is None:
            cert, key = self_signed(config.data_dir / "tls", default_hosts(config.bind))
        return server_context(cert, key, config.client_ca, config.client_crl)

    async def _start_tftp(self) -> None:
        config = self.config
        tftp = TftpServer(
            self._tftp_read,
            host=config.bind,
            port=config.tftp_port,
            on_event=self._tftp_event,
            # Off by default (tftpd-hpa's -c is opt-in too): TFTP has no
            # credentials, so an upload is admitted on the tenant's TFTP
            # allowlist alone. The per-file limit comes from the catalog.
            write=self._tftp_write if config.tftp_uploads else None,
            upload_limit=self._tftp_upload_limit if config.tftp_uploads else None,
            max_upload=_TFTP_MAX_UPLOAD,
            # A malformed datagram counts towards its sender's ban like a
            # failed lookup; a banned sender gets no reply at all.
            on_malformed=self._tftp_malformed,
            banned=self.gateway.banned,
        )
        await listening("tftp", config.bind, config.tftp_port, tftp.start)
        self._tftp = tftp
        self.addresses["tftp"] = tftp.address

    async def _start_ftp(self) -> None:
        config = self.config
        loop = asyncio.get_running_loop()
        backend = GatewayFtpBackend(self.gateway, loop, self.access)
        ftp: FtpServer[int] = FtpServer(
            backend,
            host=config.bind,
            port=config.ftp_port,
            passive_ports=config.ftp_passive_ports,
            max_connections=config.ftp_max_connections,
            max_connections_per_ip=config.ftp_max_per_address,
            login_timeout=config.ftp_login_timeout,
        )

        async def bind() -> None:
            ftp.start()

        await listening("ftp", config.bind, config.ftp_port, bind)
        self._ftp = ftp
        self.addresses["ftp"] = ftp.address

    def _start_tasks(self) -> None:
        """The job and rollout runners, the coordinator and the periodic chores."""
        config = self.config
        self.runner = JobRunner(
            jobs=self.store.jobs,
            addresses=self.store.addresses,
            served=self.cache,
            notifier=self.notifier,
            db=self.db,
            address_of=self.learned.current.get,
            lease=config.notify_lease,
            idle=config.poll_interval,
        )
        self.rollouts = RolloutRunner(
            self.store.rollouts,
            self.store.firmware,
            self.store.tenants,
            self.catalog,
            self.db,
            interval=config.poll_interval,
        )
        self._job_task = asyncio.create_task(self.runner.run())
        self._tasks = [
            asyncio.create_task(self.rollouts.run()),
            asyncio.create_task(self._every(config.poll_interval, self.cache.refresh)),
            asyncio.create_task(self._every(config.seen_interval, self._flush_seen)),
            asyncio.create_task(self._every(config.poll_interval, self._sync_bans)),
            asyncio.create_task(self._sync_bans_when_due()),
            asyncio.create_task(self._every(_NONCE_SWEEP, self._expire_nonces)),
            self._job_task,
            asyncio.create_task(self._coordinate()),
            # Announcements: PostgreSQL NOTIFYs (below) and this node's API writes.
            asyncio.create_task(self._refresh_when_announced()),
        ]
        url = self.store.engine.url
        if url.get_backend_name() == "postgresql":
            channels = {BANS_CHANNEL: self._bans_noted, CHANGES_CHANNEL: self._changes_noted}
            self.listener = PgListener(url, channels, retry=config.poll_interval)
            self._tasks.append(asyncio.create_task(self.listener.run()))
        else:
            self._tasks.append(
                asyncio.create_task(self._every(_REVISION_CHECK, self._check_revisions))
            )
        if isinstance(self.firmware.storage, ObjectStorage):
            self._tasks.append(
                asyncio.create_task(self._every(config.poll_interval, self._mirror_firmware))
            )

    def _bans_noted(self, payload: str | None) -> None:
        """Bans changed somewhere (or may have, ``None``): read them again soon."""
        self._bans_due.set()

    def _changes_noted(self, payload: str | None) -> None:
        """A tenant revision announced (``None``: some may have been missed); refresh soon."""
        announcement: Announcement | None = None
        if payload is not None:
            announcement = parse(payload)
            if announcement is None:
                return  # not ours: nothing to refresh for
        if announcement is None or self.cache.behind(*announcement):
            self._announcement.set()

    async def _check_revisions(self) -> None:
        """Announce a refresh when a tenant's revision moved (SQLite's stand-in for NOTIFY)."""
        revisions = await self.db.run(self.cache.source.revisions)
        if self.cache.tenants.keys() - revisions.keys() or any(
            self.cache.behind(tid, rev) for tid, rev in revisions.items()
        ):
            self._announcement.set()

    async def _refresh_when_announced(self) -> None:
        """Refresh once per burst of announcements (those during a refresh: once more after)."""
        while True:
            await self._announcement.wait()
            self._announcement.clear()
            try:
                await self.cache.refresh(fresh=True)
            except Exception:  # as the poll: log, and the next announcement tries again
                log.exception("event=background_error job=announced_refresh")

    async def _coordinate(self) -> None:
        """Act on what each cache refresh changed (the one place that does).

        Tenants with ``notify.on_change`` get a resync job for exactly the
        phones whose files changed; the store coalesces it with targets
        already queued.
        """
        while True:
            refreshed = await self.cache.changes.get()
            for change in refreshed.tenants:
                if change.policy is not None and change.policy.notify_on_change and change.changed:
                    try:
                        await self._queue_resync(change.policy, change.changed)
                    except Exception:  # a failed write must not end the coordinator
                        log.exception("event=on_change_failed tenant=%s", change.policy.name)
            # What the render freed goes back to the system (serve/_trim.py); on
            # the render thread, as trimming holds the allocator's lock.
            await self.db.run(release_free_memory)

    async def _queue_resync(self, policy: TenantPolicy, macs: tuple[str, ...]) -> None:
        """A resync job for phones whose files changed (``notify.on_change``)."""

        def create() -> int:
            request = JobRequest(
                f"changes in tenant {policy.name}", "resync", float(policy.notify_delay)
            )
            phones = [(mac, policy.tenant_id) for mac in macs]
            return self.store.jobs.create(request, phones, time.time())

        job = await self.db.run(create)
        log.info("event=send_profiles job=%d phones=%d reason=change", job, len(macs))
        if self.runner is not None:
            self.runner.wake()

    # The TFTP callbacks use the gateway as every front end does (FrontGateway).

    async def _tftp_read(self, path: str, client: tuple[str, int]) -> Content | None:
        gateway: FrontGateway = self.gateway
        reply = await gateway.fetch(Fetch(Protocol.TFTP, path, client[0]))
        if reply.status is Status.OK and reply.disk is not None:
            return await asyncio.to_thread(map_file, reply.disk.path)
        return reply.file.data if reply.status is Status.OK and reply.file else None

    async def _tftp_upload_limit(self, path: str, client: tuple[str, int]) -> int:
        gateway: FrontGateway = self.gateway
        return await gateway.upload_limit(Fetch(Protocol.TFTP, path, client[0], method="PUT"))

    async def _tftp_write(self, path: str, client: tuple[str, int], data: bytes) -> bool:
        gateway: FrontGateway = self.gateway
        return await gateway.upload(Fetch(Protocol.TFTP, path, client[0], method="PUT"), data)

    def _tftp_malformed(self, client: str) -> None:
        gateway: FrontGateway = self.gateway
        gateway.failed(client, Protocol.TFTP, "malformed_request")

    def _tftp_event(self, event: TftpEvent) -> None:
        log.debug("event=tftp client=%s status=%s", event.client[0], event.status)
        self.access.record(
            protocol=Protocol.TFTP.value,
            client=event.client[0],
            path=event.filename,
            status=event.status,
            size=event.transferred,
            seconds=event.seconds,
        )

    async def _every(self, seconds: float, job: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:  # a failed poll must not end the server; log and retry
                log.exception("event=background_error job=%s", getattr(job, "__name__", job))

    async def _mirror_firmware(self) -> None:
        """Copy every recorded set's missing files from object storage, then serve them.

        Inactive sets are mirrored too, so an activation finds its files here.
        Downloads run in a thread of their own, never in the database worker.
        """
        storage = self.firmware.storage
        assert isinstance(storage, ObjectStorage)
        sets = await self.db.run(self.store.firmware.sets)
        result = await asyncio.to_thread(storage.mirror, sets)
        if result.fetched:
            log.info("event=firmware_mirrored files=%d failed=%d", result.fetched, result.failed)
            await self.cache.reindex_firmware()

    async def _sync_bans(self) -> None:
        """Write the bans made here, then hold every ban the database has (all nodes')."""
        tracker = self.gateway.bans
        new = tracker.take_new()
        if new:
            rows = [Ban(b.address, b.until, b.reason, b.created_at) for b in new]
            await self.db.run(lambda: self.bans.record(rows))
            tracker.written(new)
        now = time.time()
        active = await self.db.run(lambda: self.bans.active(now))
        tracker.replace(((b.address, b.until) for b in active), time.time())

    async def _sync_bans_when_due(self) -> None:
        """Sync bans as soon as one is made here or another node announces one."""
        while True:
            await self._bans_due.wait()
            self._bans_due.clear()
            try:
                await self._sync_bans()
            except Exception:  # the poll retries; the loop must go on
                log.exception("event=background_error job=_sync_bans")

    async def _expire_nonces(self) -> None:
        """Forget digest nonce counts of nonces that went stale (any node may do it)."""
        now = time.time()
        await asyncio.to_thread(self.store.nonces.expire, now)

    async def _flush_seen(self) -> None:
        rows = self.gateway.seen.take()
        admitted = self.learned.take()
        if rows:
            await self.db.run(lambda: self.gateway.seen.write(rows))
        if admitted:
            await self.db.run(lambda: self.store.addresses.record(admitted))

    async def stop(self) -> None:
        """Drain, then close: what SIGTERM does.

        Every front end stops accepting at once; transfers in progress and
        NOTIFYs being sent get ``shutdown_grace`` seconds between them to
        finish, after which the rest are cut off and their job targets given
        back (``JobRunner.drain``). Then seen records and bans are flushed and
        the database thread ends. Safe after a start that failed half-way.
        """
        grace = self.config.shutdown_grace
        runner = self.runner
        chores = [task for task in self._tasks if task is not self._job_task]
        for task in chores:
            task.cancel()
        await asyncio.gather(*chores, return_exceptions=True)
        await asyncio.gather(
            self._drain_http(grace),
            self._tftp.close(grace) if self._tftp is not None else _nothing(),
            # Blocking join of the FTP threads; backend calls may be waiting on this loop.
            asyncio.to_thread(self._ftp.close, grace) if self._ftp is not None else _nothing(),
            runner.drain(grace) if runner is not None else _nothing(),
            self.api.stop() if self.api is not None else _nothing(),
        )
        if self._job_task is not None:
            self._job_task.cancel()
            await asyncio.gather(self._job_task, return_exceptions=True)
        await self._reloads.cancel()
        await self.notifier.close()
        await self.gateway.drain()
        await self._flush_seen()
        await self._sync_bans()
        self.db.close()

    async def _drain_http(self, grace: float) -> None:
        """Close the HTTP(S) listeners and idle connections; requests get ``grace`` s."""
        if self._runner is None:
            return
        for site in list(self._runner.sites):
            await site.stop()
        server = self._runner.server
        if server is not None:
            server.pre_shutdown()  # idle keep-alive connections close now
            await server.shutdown(grace)
        await self._runner.cleanup()

    async def run_until_signalled(self, ready: Callable[[], None] | None = None) -> None:
        """Start, call ``ready``, serve until SIGINT or SIGTERM (SIGHUP reloads), drain.

        A start that fails closes what it opened before the error goes on.
        """
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reloads.request)
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        if ready is not None:
            ready()
        try:
            await stop.wait()
        finally:
            log.info("event=stopping grace=%g", self.config.shutdown_grace)
            await self.stop()
            log.info("event=stopped")

    # --- SIGHUP --------------------------------------------------------------

    async def reload(self) -> None:
        """Read the configuration, TLS files, catalog and templates again (SIGHUP).

        Nothing in flight is dropped: listeners, connections and transfers
        stay as they are; new values apply to what starts afterwards. A
        configuration that cannot be read or used is logged and the running
        one kept; so are TLS files or templates that fail to load.
        Options in :data:`RESTART_ONLY` that changed are logged, not applied.
        """
        log.info("event=reload")
        if self._load is not None:
            try:
                fresh = await asyncio.to_thread(self._load)
            except ProvisionerError as exc:
                self.metrics.reload_failures += 1
                log.error("event=reload_failed reason=%s", _one_line(exc))
            else:
                self._apply(fresh)
        if self._https is not None:
            try:
                context = await asyncio.to_thread(self._tls_context, self.config)
            except (OSError, ssl.SSLError, ValueError) as exc:
                self.metrics.reload_failures += 1
                log.error("event=tls_reload_failed reason=%s", _one_line(exc))
            else:
                self._https.use_tls(context)
        await self.cache.reload_templates(self.config.site_dir)
        log.info("event=reloaded")

    def _apply(self, fresh: ServeConfig) -> None:
        """Take the values of ``fresh`` that apply without a restart; log the others."""
        old = self.config
        changed = [
            f.name for f in fields(ServeConfig) if getattr(old, f.name) != getattr(fresh, f.name)
        ]
        held = [name for name in changed if name in RESTART_ONLY]
        if held:
            log.warning("event=config_restart_needed keys=%s", ",".join(held))
            fresh = replace(fresh, **{name: getattr(old, name) for name in held})
        self.config = fresh
        bans = self.gateway.bans
        bans.limit, bans.window = fresh.ban_limit, fresh.ban_window
        bans.ban_seconds, bans.exempt = fresh.ban_seconds, fresh.ban_exempt
        if self._connections is not None:
            self._connections.per_address = fresh.max_connections_per_address
            self._connections.header_timeout = fresh.header_timeout
            self._connections.handshake_timeout = fresh.handshake_timeout
        self.access.enabled = fresh.access_log
        applied = [name for name in changed if name not in RESTART_ONLY]
        if applied:
            log.info("event=config_applied keys=%s", ",".join(applied))


async def _nothing() -> None:
    """An awaitable that does nothing, for a front end that is not running."""


def _one_line(exc: BaseException) -> str:
    """An error's message on one line, for a log value."""
    return " ".join(str(exc).split()) or type(exc).__name__

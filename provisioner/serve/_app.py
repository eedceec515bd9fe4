"""``provisioner serve``: HTTP, HTTPS, TFTP and FTP in one process.

Start-up renders every tenant before the first socket opens, so the first
phone is served from memory. Background tasks poll tenant revisions (cache
freshness) and flush seen records. SIGINT/SIGTERM stop accepting, let
requests in flight finish (bounded), flush what was seen, and close.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from provisioner.catalog import Catalog
from provisioner.firmware import FirmwareLibrary, FirmwareStorage, LocalStorage, ObjectStorage
from provisioner.ftp import FtpServer
from provisioner.serve._build import build_gateway
from provisioner.serve._cache import ConfigCache
from provisioner.serve._connections import Connections, Site
from provisioner.serve._db import Db
from provisioner.serve._firmware import map_file
from provisioner.serve._front import FrontGateway
from provisioner.serve._ftp_backend import GatewayFtpBackend
from provisioner.serve._http import make_handler
from provisioner.serve._jobs import JobRunner
from provisioner.serve._learned import LearnedAddresses
from provisioner.serve._metrics import Metrics
from provisioner.serve._model import Fetch, Network, Protocol, Status, TenantPolicy
from provisioner.serve._rollouts import RolloutRunner
from provisioner.serve._tls import default_hosts, self_signed, server_context
from provisioner.settings import parse_networks
from provisioner.sip import Notifier
from provisioner.store import Ban, JobRequest, Store
from provisioner.tftp import Content, TftpEvent, TftpServer

__all__ = ["ServeConfig", "Server"]

log = logging.getLogger("provisioner.serve")
# What a TFTP upload may hold in memory at most; each upload's own limit comes
# from the catalog's [[uploads]] entry (Polycom logs: 256 KiB to 1 MiB).
_TFTP_MAX_UPLOAD = 16 << 20


@dataclass(slots=True)
class ServeConfig:
    """Everything ``provisioner serve`` can be told; 0 disables a port."""

    data_dir: Path
    bind: str = "0.0.0.0"
    http_port: int = 8080
    https_port: int = 8443
    tftp_port: int = 6969
    tftp_uploads: bool = False
    ftp_port: int = 2121
    ftp_passive_ports: range | None = None
    ftp_login_timeout: float = 30.0  # a connection not logged in by then is closed
    ftp_max_connections: int = 1000
    ftp_max_per_address: int = 32  # 0 = no limit; phones behind one NAT share an address
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None  # PEM CAs whose client certificates are accepted
    client_crl: Path | None = None  # PEM CRLs for those certificates
    site_dir: Path | None = None  # site template directory, searched first
    sip_port: int = 0  # where NOTIFYs are sent from; 0 lets the system choose
    notify_lease: float = 120.0  # a claimed NOTIFY target returns to the queue after this
    realm: str = "provisioner"
    default_tenant: str | None = None
    poll_interval: float = 2.0
    seen_interval: float = 2.0
    seen_max_rows: int = 100_000
    metrics_allow: tuple[Network, ...] = field(
        default_factory=lambda: tuple(parse_networks("127.0.0.0/8,::1/128"))
    )
    trusted_proxies: tuple[Network, ...] = ()  # whose X-Forwarded-For/-Proto are believed
    ban_limit: int = 30
    ban_window: float = 60.0
    ban_seconds: float = 600.0
    ban_exempt: tuple[Network, ...] = ()  # never counted nor banned
    # HTTP(S) connections (_connections.py): until a request's headers are complete,
    # for the TLS handshake, and how many one address may hold open.
    header_timeout: float = 30.0
    handshake_timeout: float = 30.0
    max_connections_per_address: int = 256
    shutdown_grace: float = 5.0


class Server:
    """All front ends around one gateway."""

    def __init__(
        self,
        config: ServeConfig,
        store: Store,
        catalog: Catalog,
        storage: FirmwareStorage | None = None,
    ) -> None:
        """``storage`` holds firmware sets; by default ``<data dir>/firmware``."""
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
        )
        # Written by the gateway, read by the job runner, flushed by the server.
        self.learned = LearnedAddresses()
        self.gateway = build_gateway(
            config, store, self.cache, self.metrics, self.db, learned=self.learned
        )
        self.bans = store.bans
        self._runner: web.ServerRunner | None = None
        self._tftp: TftpServer | None = None
        self._ftp: FtpServer[int] | None = None
        self.notifier = Notifier(bind_host=config.bind, bind_port=config.sip_port)
        self.runner: JobRunner | None = None
        self.rollouts: RolloutRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.addresses: dict[str, tuple[str, int]] = {}

    async def start(self) -> None:
        """Sweep firmware leftovers, render everything, then open the configured ports."""
        swept = await self.db.run(self.firmware.sweep)
        if swept:
            log.info("event=firmware_swept entries=%s", ",".join(swept))
        await self.cache.refresh()
        await self._sync_bans()  # bans made before a restart or on other nodes hold at once
        config = self.config
        await self._start_http()
        if config.tftp_port:
            await self._start_tftp()
        if config.ftp_port:
            self._start_ftp()
        await self.notifier.start()
        self._start_tasks()
        for name, (host, port) in sorted(self.addresses.items()):
            log.info("event=listening protocol=%s address=%s port=%d", name, host, port)

    async def _start_http(self) -> None:
        """HTTP and HTTPS on one aiohttp server, through our own sites (``_connections``)."""
        config = self.config
        connections = Connections(
            self.gateway,
            per_address=config.max_connections_per_address,
            header_timeout=config.header_timeout,
            handshake_timeout=config.handshake_timeout,
            trusted_proxies=config.trusted_proxies,
        )
        handler = make_handler(
            self.gateway, self.metrics, config.metrics_allow, config.trusted_proxies, connections
        )
        # Connections reach aiohttp through our Site, which builds their handlers itself.
        self._runner = web.ServerRunner(web.Server(handler), shutdown_timeout=config.shutdown_grace)
        await self._runner.setup()
        if config.http_port:
            site = Site(self._runner, config.bind, config.http_port, connections)
            await site.start()
            self.addresses["http"] = (config.bind, config.http_port)
        if config.https_port:
            cert, key = config.tls_cert, config.tls_key
            if cert is None or key is None:
                cert, key = self_signed(config.data_dir / "tls", default_hosts(config.bind))
            context = server_context(cert, key, config.client_ca, config.client_crl)
            site = Site(self._runner, config.bind, config.https_port, connections, context)
            await site.start()
            self.addresses["https"] = (config.bind, config.https_port)

    async def _start_tftp(self) -> None:
        config = self.config
        self._tftp = TftpServer(
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
        await self._tftp.start()
        self.addresses["tftp"] = self._tftp.address

    def _start_ftp(self) -> None:
        config = self.config
        backend = GatewayFtpBackend(self.gateway, asyncio.get_running_loop())
        self._ftp = FtpServer(
            backend,
            host=config.bind,
            port=config.ftp_port,
            passive_ports=config.ftp_passive_ports,
            max_connections=config.ftp_max_connections,
            max_connections_per_ip=config.ftp_max_per_address,
            login_timeout=config.ftp_login_timeout,
        )
        self._ftp.start()
        self.addresses["ftp"] = self._ftp.address

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
        self._tasks = [
            asyncio.create_task(self.rollouts.run()),
            asyncio.create_task(self._every(config.poll_interval, self.cache.refresh)),
            asyncio.create_task(self._every(config.seen_interval, self._flush_seen)),
            asyncio.create_task(self._every(config.poll_interval, self._sync_bans)),
            asyncio.create_task(self.runner.run()),
            asyncio.create_task(self._coordinate()),
        ]
        if isinstance(self.firmware.storage, ObjectStorage):
            self._tasks.append(
                asyncio.create_task(self._every(config.poll_interval, self._mirror_firmware))
            )

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

    async def _flush_seen(self) -> None:
        rows = self.gateway.seen.take()
        admitted = self.learned.take()
        if rows:
            await self.db.run(lambda: self.gateway.seen.write(rows))
        if admitted:
            await self.db.run(lambda: self.store.addresses.record(admitted))

    async def stop(self) -> None:
        """Stop accepting, finish requests in flight, flush, close."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ftp is not None:
            # Blocking join of the FTP threads; backend calls may be waiting on this loop.
            await asyncio.to_thread(self._ftp.close)
        if self._tftp is not None:
            await self._tftp.close(self.config.shutdown_grace)
        await self.notifier.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.gateway.drain()
        await self._flush_seen()
        await self._sync_bans()
        self.db.close()

    async def run_until_signalled(self) -> None:
        """Start, wait for SIGINT or SIGTERM, stop."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            log.info("event=stopping")
            await self.stop()

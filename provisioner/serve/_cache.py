"""The in-memory cache of rendered files, kept in step with the store.

Theory of operation
-------------------
Everything a phone may fetch is rendered ahead of time, a tenant at a time,
and held in dictionaries keyed by the lower-cased request path, so a request
is one dictionary lookup and never a database round trip.

Freshness: every change under a tenant bumps ``tenants.revision`` in the
same transaction (:mod:`provisioner.store`). :meth:`ConfigCache.refresh`
reads all revisions (one small query) and re-renders exactly the tenants
whose revision moved, plus new ones, and drops deleted ones. It also checks
the template directories (names, sizes, modification times); when anything
there changed the catalog is loaded again and everything re-rendered. The server
calls it on a short interval and after its own writes (auto-registration).
While a refresh runs, :meth:`settled` lets requests wait for it, so a phone
never gets a mix of old and new files once a change has been noticed.

Rendering and database reads run in one worker thread (never on the event
loop); the dictionaries are swapped on the event loop thread only.

Scopes: tenants without a URL token share the root scope; a tenant with
``access.url_token`` lives only under ``/<token>/`` (hosted multi-tenant use).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Protocol

from provisioner.catalog import Catalog, Family, UploadDef, builtin_template_dir, expand_path
from provisioner.domain import FirmwareSet, Snapshot
from provisioner.errors import CatalogError
from provisioner.firmware import FirmwareStorage
from provisioner.identify import Identifier
from provisioner.notify import NotifyInfo, notify_info
from provisioner.pipeline import render_tenants
from provisioner.preview import etag_of
from provisioner.render import RenderedFile, Renderer, RenderError
from provisioner.resolve import FIRMWARE_SETTING, PhoneView
from provisioner.serve._access import access_from
from provisioner.serve._changes import Refreshed, TenantChange
from provisioner.serve._db import Db
from provisioner.serve._firmware import firmware_index
from provisioner.serve._metrics import Metrics
from provisioner.serve._model import Access, DiskFile, Network, ServedFile, TenantPolicy
from provisioner.settings import Value, parse_networks

__all__ = ["ConfigCache", "PhoneEntry", "TenantEntry", "served"]

_Rendered = tuple[dict[int, tuple["TenantEntry", list[RenderError]]], dict[str, DiskFile]]

log = logging.getLogger("provisioner.cache")


def _fingerprint(roots: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of every file in the template directories."""
    entries = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                stat = path.stat()
                entries.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


def _etags(phone: PhoneEntry) -> dict[str, str]:
    return {path: file.etag for path, file in phone.files.items()}


def served(file: RenderedFile, last_modified: int) -> ServedFile:
    """Wrap rendered bytes with a strong ETag (SHA-256, truncated) for HTTP caching."""
    etag = etag_of(file.data)
    http_date = formatdate(last_modified, usegmt=True)
    return ServedFile(file.data, file.content_type, etag, last_modified, http_date)


@dataclass(slots=True)
class PhoneEntry:
    """A known, enabled phone: its files, uploads and access settings."""

    mac: str
    tenant_id: int
    family: Family
    model: str
    access: Access
    firmware: str  # resolved firmware.version ("" = not assigned)
    notify: NotifyInfo
    files: dict[str, ServedFile] = field(default_factory=dict)  # lower path → file
    uploads: dict[str, tuple[str, UploadDef]] = field(default_factory=dict)  # lower → (name, def)


@dataclass(slots=True)
class TenantEntry:
    """One tenant's rendered state."""

    policy: TenantPolicy
    revision: int
    phones: dict[str, PhoneEntry]  # by MAC
    auth_in_use: bool  # some phone needs HTTP credentials


@dataclass(slots=True)
class _Scope:
    files: dict[str, tuple[PhoneEntry, ServedFile]] = field(default_factory=dict)
    uploads: dict[str, tuple[PhoneEntry, str, UploadDef]] = field(default_factory=dict)
    tenants: set[int] = field(default_factory=set)


def _networks(value: Value) -> tuple[Network, ...]:
    return tuple(parse_networks(str(value)))


def _policy(tenant_id: int, name: str, values: dict[str, Value]) -> TenantPolicy:
    return TenantPolicy(
        tenant_id=tenant_id,
        name=name,
        url_token=str(values["access.url_token"]),
        realm=str(values["access.realm"]) or name,
        unknown_policy=str(values["unknown.policy"]),
        unknown_group=str(values["unknown.group"]),
        ftp_enabled=bool(values["access.ftp.enabled"]),
        ftp_user=str(values["access.ftp.user"]),
        ftp_password=str(values["access.ftp.password"]),
        ftp_allow=_networks(values["access.ftp.allow"]),
        notify_rate=int(values["notify.rate"]),
        notify_max_in_flight=int(values["notify.max_in_flight"]),
        notify_jitter_ms=int(values["notify.jitter_ms"]),
        notify_delay=int(values["notify.delay_seconds"]),
        notify_on_change=bool(values["notify.on_change"]),
    )


def _phone_entry(view: PhoneView, files: list[RenderedFile], changed_at: int) -> PhoneEntry:
    """What the cache keeps of one rendered phone: its files and what serving needs."""
    values = {name: r.value for name, r in view.settings.items()}
    mac = view.phone.mac
    entry = PhoneEntry(
        mac=mac,
        tenant_id=view.tenant.id,
        family=view.family,
        model=view.model.id,
        access=access_from(values, mac),
        firmware=str(values.get(FIRMWARE_SETTING, "")),
        notify=notify_info(view),
        files={f.path.lower(): served(f, changed_at) for f in files},
    )
    for upload in view.family.uploads:
        name = expand_path(upload.path, view.model, mac)
        entry.uploads[name.lower()] = (name, upload)
    return entry


class RenderSource(Protocol):
    """What the cache reads of the tenants (:class:`provisioner.store.TenantRepository`)."""

    def revisions(self) -> dict[int, int]: ...

    def snapshot(
        self, macs: Collection[str] | None = None, tenant_ids: Collection[int] | None = None
    ) -> Snapshot: ...


class ActiveSets(Protocol):
    """Firmware sets as recorded (:class:`provisioner.store.FirmwareRepository`)."""

    def sets(
        self, vendor: str | None = None, label: str | None = None, active: bool | None = None
    ) -> list[FirmwareSet]: ...


class ConfigCache:
    """Rendered files of every tenant, refreshed from tenant revisions."""

    def __init__(
        self,
        tenants: RenderSource,
        firmware_sets: ActiveSets,
        catalog: Catalog,
        db: Db,
        metrics: Metrics,
        site_dir: Path | None = None,
        storage: FirmwareStorage | None = None,
    ) -> None:
        self.source = tenants
        self.firmware_sets = firmware_sets
        self.storage = storage
        self.catalog = catalog
        self.identifier = Identifier(catalog)
        self.metrics = metrics
        self._db = db
        self._site_dir = site_dir
        self._renderer = Renderer(catalog)
        self._templates = _fingerprint(catalog.search_path)
        self.shared: dict[str, ServedFile] = {}
        # Files of active firmware sets by lower-cased path (docs/firmware.md).
        self.firmware: dict[str, DiskFile] = {}
        self.tenants: dict[int, TenantEntry] = {}
        self.macs: dict[str, PhoneEntry] = {}
        self._scopes: dict[str, _Scope] = {"": _Scope()}
        self._refreshing: asyncio.Task[None] | None = None
        # What each refresh changed, for the server's coordinator to act on
        # (the cache never calls up; docs/ARCHITECTURE.md).
        self.changes: asyncio.Queue[Refreshed] = asyncio.Queue()

    # --- lookups (event loop thread, no I/O) ---------------------------------

    def scope_of(self, token: str) -> bool:
        """True when ``token`` is some tenant's URL token."""
        return bool(token) and token in self._scopes

    def lookup(self, path: str, token: str = "") -> tuple[PhoneEntry, ServedFile] | None:
        """The phone file at ``path`` (any case) in a scope, if rendered."""
        return self._scopes[token].files.get(path.lower()) if token in self._scopes else None

    def upload_target(self, path: str, token: str = "") -> tuple[PhoneEntry, str, UploadDef] | None:
        """The phone an upload path belongs to, its canonical file name and limits."""
        scope = self._scopes.get(token)
        return scope.uploads.get(path.lower()) if scope is not None else None

    def tenants_in(self, token: str = "") -> list[TenantEntry]:
        """The tenants served in a scope."""
        scope = self._scopes.get(token)
        return [self.tenants[t] for t in scope.tenants] if scope is not None else []

    def url_tokens(self) -> frozenset[str]:
        """The URL tokens tenants are served under (secrets: for the access log to hide)."""
        return frozenset(token for token in self._scopes if token)

    @property
    def busy(self) -> bool:
        """True while a refresh is running (requests should wait for :meth:`settled`)."""
        return self._refreshing is not None and not self._refreshing.done()

    async def settled(self) -> None:
        """Wait for a refresh in progress, if any."""
        task = self._refreshing
        if task is not None and not task.done():
            await asyncio.shield(task)

    # --- refresh ---------------------------------------------------------

    async def caught_up(self) -> None:
        """Return once every change committed before the call is served.

        What a check-sync job waits for before its NOTIFYs go out, so a phone
        never fetches files older than the change it is told about.
        """
        await self.refresh(fresh=True)

    async def refresh(self, *, fresh: bool = False) -> None:
        """Re-render tenants whose revision changed; one refresh at a time.

        A caller arriving during a refresh waits for it. That refresh may
        have read the revisions before the caller's last commit, so with
        ``fresh`` one more is run unless another started meanwhile: when it
        returns, everything committed before the call is rendered (the job
        runner relies on this before telling phones to fetch their files).
        """
        running = self._refreshing
        if running is not None and not running.done():
            await asyncio.shield(running)
            newer = self._refreshing
            if not fresh:
                return
            if newer is not running and newer is not None:
                await asyncio.shield(newer)  # started after this call began: recent enough
                return
        self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
        await asyncio.shield(self._refreshing)

    async def _refresh(self) -> None:
        reloaded = await self._db.run(self._reload_catalog)
        if isinstance(reloaded, CatalogError):
            # Counted here, on the loop: the worker thread touches no loop-owned state.
            self.metrics.render_errors += 1
            log.error("event=catalog_error %s", str(reloaded).replace("\n", " "))
            reloaded = None
        if reloaded is not None:
            # Templates or family definitions changed: everything is rendered again.
            self.catalog, self.identifier, self._renderer = reloaded
            self.shared = {}
            for tid in list(self.tenants):
                self.tenants[tid].revision = -1
        if not self.shared:
            self.shared, errors = await self._db.run(self._render_shared)
            self._count_errors(errors)
        revisions = await self._db.run(self.source.revisions)
        changed = [
            tid
            for tid, rev in revisions.items()
            if tid not in self.tenants or self.tenants[tid].revision != rev
        ]
        gone = [tid for tid in self.tenants if tid not in revisions]
        changes = [self._install(tid, None) for tid in gone]
        if changed:
            entries, firmware = await self._db.run(lambda: self._render_tenants(changed))
            self.firmware = firmware
            taken = (self._take(tid, entries.get(tid)) for tid in changed)
            changes += [change for change in taken if change is not None]
        self.metrics.tenants, self.metrics.phones = len(self.tenants), len(self.macs)
        if changes or reloaded is not None:
            self.changes.put_nowait(Refreshed(tuple(changes), reloaded is not None))

    async def reload_templates(self, site_dir: Path | None) -> None:
        """Read the catalog and templates again now (SIGHUP), ``site_dir`` first.

        Unlike the refresh every poll, which reloads when a file's size or
        time changed, this reloads whatever the files say; a catalog that
        fails to load is logged and the one in use kept, as there.
        """
        self._site_dir = site_dir
        self._templates = ()
        await self.refresh(fresh=True)

    async def reindex_firmware(self) -> None:
        """Index the active firmware sets again (files mirrored since are then served)."""
        self.firmware = await self._db.run(
            lambda: self._index_firmware(self.firmware_sets.sets(active=True))
        )

    def _index_firmware(self, active: Iterable[FirmwareSet]) -> dict[str, DiskFile]:
        """Where each file of the ``active`` sets is served from (worker thread: it stats files)."""
        if self.storage is None:
            return {}
        roots = {f.vendor for f in self.catalog.families.values() if f.firmware.root}
        return firmware_index(active, self.storage, roots)

    def _reload_catalog(self) -> tuple[Catalog, Identifier, Renderer] | CatalogError | None:
        """A new catalog when any template file changed, else ``None`` (worker thread).

        A catalog that fails to load is handed back as its error, and the old
        one kept; it is tried again when the files change again.
        """
        roots = [builtin_template_dir()]
        if self._site_dir is not None:
            roots.insert(0, self._site_dir)
        fingerprint = _fingerprint(roots)
        if fingerprint == self._templates:
            return None
        self._templates = fingerprint
        try:
            catalog = Catalog.load(self._site_dir)
        except CatalogError as exc:
            return exc
        log.info("event=catalog_reloaded families=%d", len(catalog.families))
        return catalog, Identifier(catalog), Renderer(catalog)

    def _render_shared(self) -> tuple[dict[str, ServedFile], list[RenderError]]:
        files, errors = self._renderer.shared_files()
        now = int(time.time())
        return {f.path.lower(): served(f, now) for f in files}, errors

    def _render_tenants(self, tenant_ids: Iterable[int]) -> _Rendered:
        """Render tenants through the one pipeline (worker thread); index the firmware too.

        Activating or deactivating a set moves every tenant's revision, so the
        index is rebuilt whenever anything is rendered. Nothing here reads or
        writes what the event loop owns; errors come back as data.
        """
        snapshot = self.source.snapshot(tenant_ids=list(tenant_ids))
        firmware = self._index_firmware(snapshot.firmware.values())
        renders = render_tenants(
            self.catalog,
            snapshot,
            lambda view, files: _phone_entry(view, files, view.tenant.changed_at),
            renderer=self._renderer,
        )
        entries: dict[int, tuple[TenantEntry, list[RenderError]]] = {}
        for tenant_id, render in renders.items():
            tenant = render.tenant
            policy = _policy(tenant_id, tenant.name, render.settings)
            entry = TenantEntry(policy, tenant.revision, {}, False)
            for phone in render.phones:
                entry.phones[phone.mac] = phone
                entry.auth_in_use = entry.auth_in_use or bool(phone.access.http_password)
            entries[tenant_id] = (entry, render.errors)
        return entries, firmware

    def _count_errors(self, errors: list[RenderError]) -> None:
        """Log and count render errors (event loop thread)."""
        for error in errors:
            self.metrics.render_errors += 1
            log.error("event=render_error %s", error)

    def _take(
        self, tenant_id: int, rendered: tuple[TenantEntry, list[RenderError]] | None
    ) -> TenantChange | None:
        """Install a re-rendered tenant, or keep its last good state if any phone failed.

        Keep-last-good is per tenant (``ErrorPolicy.KEEP_LAST_GOOD``): a
        template that fails for one phone leaves the whole tenant as it was
        (its revision noted, so it is not rendered again until it changes), so
        phones never get a mix of two states. A new tenant has nothing to
        keep and gets the phones that rendered.
        """
        if rendered is None:
            return self._install(tenant_id, None)
        entry, errors = rendered
        old = self.tenants.get(tenant_id)
        if errors:
            self._count_errors(errors)
            if old is not None:
                old.revision = entry.revision
                log.error("event=tenant_kept tenant=%s failed=%d", old.policy.name, len(errors))
                return None
        return self._install(tenant_id, entry)

    def _install(self, tenant_id: int, entry: TenantEntry | None) -> TenantChange:
        """Swap one tenant's entry into the lookup tables (event loop thread); what changed."""
        old = self.tenants.pop(tenant_id, None)
        changed: tuple[str, ...] = ()
        if old is not None and entry is not None:
            changed = tuple(
                mac
                for mac, phone in entry.phones.items()
                if mac in old.phones and _etags(old.phones[mac]) != _etags(phone)
            )
        if old is not None:
            scope = self._scopes.get(old.policy.url_token)
            for phone in old.phones.values():
                self.macs.pop(phone.mac, None)
                if scope is not None:
                    for path in phone.files:
                        scope.files.pop(path, None)
                    for path in phone.uploads:
                        scope.uploads.pop(path, None)
            if scope is not None:
                scope.tenants.discard(tenant_id)
                if old.policy.url_token and not scope.tenants:
                    del self._scopes[old.policy.url_token]
        if entry is None:
            return TenantChange(tenant_id, None, ())
        self.tenants[tenant_id] = entry
        scope = self._scopes.setdefault(entry.policy.url_token, _Scope())
        scope.tenants.add(tenant_id)
        for phone in entry.phones.values():
            self.macs[phone.mac] = phone
            for path, file in phone.files.items():
                scope.files[path] = (phone, file)
            for path, (name, upload) in phone.uploads.items():
                scope.uploads[path] = (phone, name, upload)
        return TenantChange(tenant_id, entry.policy, changed)

"""The in-memory cache of rendered files, kept in step with the store.

Theory of operation
-------------------
Everything a phone may fetch is rendered ahead of time, a tenant at a time,
and held in memory: a lower-cased request path names a MAC, the MAC its
phone's entry, and the entry holds the file, so a request is three
dictionary lookups and never a database round trip.

Freshness: every change under a tenant bumps ``tenants.revision`` in the
same transaction, and records in the change feed what it reached (a phone,
a group's members, the tenant directory, or the whole tenant;
:mod:`provisioner.store._feed`). :meth:`ConfigCache.refresh` reads all
revisions (one small query); for each tenant whose revision moved it reads
the feed since the revision it serves and re-renders only the phones that
changes reached. A change of the tenant directory names no phone: the
phones that read the directory are resolved again and only those whose
reading of it moved are rendered (:mod:`._directory_reads`). When the feed
cannot narrow a change (a gap, a tenant setting, a phonebook) every phone of
the tenant is resolved again and only those whose digest of inputs moved are
rendered; the others keep their entries. A tenant not served yet, and every
tenant after a template change, is rendered whole. Deleted tenants are
dropped. It also checks
the template directories (names, sizes, modification times); when anything
there changed the catalog is loaded again and everything re-rendered. The
server calls it on a short interval, when PostgreSQL announces a change
(``LISTEN``), and after its own writes (auto-registration).

Serving never waits for rendering: requests are answered from the state
installed last. Rendering and database reads run in one worker thread
(never on the event loop); what it produced is installed on the event loop
thread in one step per tenant, with no ``await`` in between, so a request
sees a tenant's whole old state or its whole new one, never a mix. That
step is kept short: what a render changes is compared with what is served
beside the render, a phone whose paths held is swapped by its MAC alone,
and the entries replaced are freed on the worker thread afterwards. Only a
check-sync job waits for a fresh state (:meth:`caught_up`), so phones never
fetch files older than the change they are told about.

Scopes: tenants without a URL token share the root scope; a tenant with
``access.url_token`` lives only under ``/<token>/`` (hosted multi-tenant use).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import ChainMap
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from pathlib import Path
from typing import Protocol

from provisioner.catalog import Catalog, Family, UploadDef, builtin_template_dir, expand_path
from provisioner.domain import FirmwareSet, Snapshot
from provisioner.errors import CatalogError
from provisioner.etags import etag_of
from provisioner.firmware import FirmwareStorage
from provisioner.identify import Identifier
from provisioner.notify import NotifyInfo, notify_info
from provisioner.pipeline import render_tenants
from provisioner.render import RenderedFile, Renderer, RenderError
from provisioner.resolve import FIRMWARE_SETTING, PhoneView
from provisioner.serve._access import access_from, networks
from provisioner.serve._changes import Refreshed, TenantChange
from provisioner.serve._collector import no_full_collections
from provisioner.serve._db import Db
from provisioner.serve._directory_reads import DirectoryReads, tenant_owned
from provisioner.serve._firmware import firmware_index
from provisioner.serve._metrics import Metrics
from provisioner.serve._model import Access, DiskFile, ServedFile, TenantPolicy
from provisioner.serve._packing import Packer
from provisioner.settings import Value, as_int
from provisioner.store import FEED_MAX_ENTRIES, Reach

__all__ = ["ConfigCache", "PhoneEntry", "TenantEntry", "served"]

_Rendered = tuple[dict[int, "_Render"], dict[str, DiskFile]]

log = logging.getLogger("provisioner.cache")

_NO_FILES: Mapping[str, ServedFile] = {}

# Phones read and resolved at once by a whole render (:meth:`ConfigCache._render_tenants`).
# At 100,000 phones 2,000 to 10,000 took the same time; the peak rose with the
# slice (start-up 260, 276, 300 MB: docs/scaling.md, "A whole tenant in slices").
SLICE_PHONES = 2_000


def _fingerprint(roots: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of every file in the template directories."""
    entries = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                stat = path.stat()
                entries.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


def _same_etags(before: PhoneEntry, after: PhoneEntry) -> bool:
    """True when every path of ``before`` has the same ETag in ``after`` (paths compared apart)."""
    files = after.files
    return all(file.etag == files[path].etag for path, file in before.files.items())


@functools.lru_cache(maxsize=256)
def _http_date(last_modified: int) -> str:
    """One string per time: a tenant's files share it instead of holding a copy each."""
    return formatdate(last_modified, usegmt=True)


def served(file: RenderedFile, last_modified: int) -> ServedFile:
    """Wrap rendered bytes with a strong ETag (SHA-256, truncated) for HTTP caching."""
    etag = etag_of(file.data)
    return ServedFile(file.data, file.content_type, etag, last_modified, _http_date(last_modified))


class _Identical:
    """Identical files of one render held once, deflated where that pays (:mod:`._packing`).

    Phones of one model and settings render identical files (a model's
    shared defaults, a group's directory); keyed by what a served file is
    made of, the second and later get the first one's :class:`ServedFile`,
    and it is deflated once. The key holds the ETag, not the bytes: keys
    of bytes would hold every file's bytes inflated until the render ends
    (the peak of a start-up render), and the ETag already stands for the
    bytes everywhere else (a 144-bit digest).

    A file the phone is served now with the same bytes and Last-Modified is
    that very file, not a second copy: after a template change, which
    renders every phone again, the files it did not change are not held
    twice until the new state is installed, nor deflated again.
    """

    __slots__ = ("_accesses", "_files", "_notify", "_packer", "_served")

    def __init__(self, packer: Packer, served: Mapping[str, PhoneEntry]) -> None:
        self._files: dict[tuple[str, str, int], ServedFile] = {}
        self._accesses: dict[Access, Access] = {}
        self._notify: dict[NotifyInfo, NotifyInfo] = {}
        self._packer = packer
        self._served = served  # the phones served now, by MAC (read, never changed)

    def served_files(self, mac: str) -> Mapping[str, ServedFile]:
        """The files served now to the phone with ``mac`` (none when it is not served)."""
        phone = self._served.get(mac)
        return _NO_FILES if phone is None else phone.files

    def access(self, access: Access) -> Access:
        """``access``, or the equal one a phone of this render already holds.

        Most phones of a tenant share their access settings: one object for
        them all is less memory, and fewer objects for the collector to walk
        after the install (:mod:`._collector`).
        """
        return self._accesses.setdefault(access, access)

    def notify(self, info: NotifyInfo) -> tuple[NotifyInfo, tuple[str, str, str]]:
        """``info`` as a :class:`PhoneEntry` holds it: shared part, the phone's own line."""
        base = replace(info, mac="", user="", auth_user="", password="")
        line = (info.user, info.auth_user, info.password)
        return self._notify.setdefault(base, base), line

    def served(
        self, file: RenderedFile, pattern: str, last_modified: int, now: ServedFile | None
    ) -> ServedFile:
        """``file`` wrapped for serving, or the same file served already (``now``, or this render).

        ``pattern`` names the files alike (:meth:`Packer.pack`); ``now`` is
        the file served at the same path to the same phone, if any.
        """
        data, content_type = file.data, file.content_type
        etag = etag_of(data)
        key = (etag, content_type, last_modified)
        found = self._files.get(key)
        if found is not None:
            return found
        if (
            now is not None
            and now.etag == etag
            and now.content_type == content_type
            and now.last_modified == last_modified
        ):
            found = self._files[key] = now
        else:
            stored, dictionary = self._packer.pack(pattern, data)
            found = self._files[key] = ServedFile(
                stored,
                content_type,
                etag,
                last_modified,
                _http_date(last_modified),
                dictionary,
                len(data),
            )
        return found


@dataclass(slots=True)
class PhoneEntry:
    """A known, enabled phone: its files, uploads and access settings."""

    mac: str
    tenant_id: int
    family: Family
    model: str
    access: Access
    firmware: str  # resolved firmware.version ("" = not assigned)
    # What its NOTIFY needs (:attr:`notify`): what phones alike share, held
    # once (:meth:`_Identical.notify`), and its own first line's user,
    # authentication user and password. A tuple of strings is not tracked by
    # the cyclic collector, an object per phone would be (:mod:`._collector`).
    notify_base: NotifyInfo
    notify_line: tuple[str, str, str]
    # What it reads of the tenant directory (shows it, directory.tenant_lines,
    # or has a keys.policy, whose keys are the directory's lines), as a digest:
    # b"" when it reads none (serve/_directory_reads.py).
    directory: bytes
    # Everything its files and this entry are made of, as a digest: a change
    # the feed cannot narrow renders only the phones whose digest moved.
    inputs: bytes = b""
    files: dict[str, ServedFile] = field(default_factory=dict)  # lower path → file
    # No upload names: they are computed from the path when asked
    # (ConfigCache.upload_target), not held for every phone.

    @property
    def notify(self) -> NotifyInfo:
        """What this phone's NOTIFY needs (:func:`provisioner.notify.notify_info`)."""
        user, auth_user, password = self.notify_line
        return replace(
            self.notify_base, mac=self.mac, user=user, auth_user=auth_user, password=password
        )

    def upload_name(self, upload: UploadDef) -> str:
        """The file name this phone uploads ``upload`` as (its MAC and model put in)."""
        model = next(m for m in self.family.models if m.id == self.model)
        return expand_path(upload.path, model, self.mac)


@dataclass(slots=True)
class TenantEntry:
    """One tenant's rendered state."""

    policy: TenantPolicy
    revision: int
    phones: dict[str, PhoneEntry]  # by MAC
    auth_in_use: bool  # some phone needs HTTP credentials


@dataclass(slots=True)
class _Render:
    """What the worker rendered of one tenant: all of it, or the part a change reached.

    A part (``whole`` false) replaces the phones in ``touched``: those in
    ``entry.phones`` with their new state, the others (removed, disabled,
    moved away) by nothing.
    """

    entry: TenantEntry
    errors: list[RenderError]
    rendered: int  # phones rendered (failed ones too), for the metric
    whole: bool = True
    touched: frozenset[str] = frozenset()
    # Against the state served when the plan was made (:func:`_compare`):
    # the phones whose files changed, and those whose paths moved (or that
    # went): only these need the path index touched.
    changed: tuple[str, ...] = ()
    moved: frozenset[str] = frozenset()
    lost_auth: bool = False  # a served phone with HTTP credentials replaced or removed


@dataclass(frozen=True, slots=True)
class _Plan:
    """One tenant to render: the state served now (``None``: not served yet) and the target.

    The worker reads ``entry`` while the refresh that made the plan awaits
    it: only a refresh changes served entries, and one runs at a time
    (:meth:`ConfigCache.refresh`), so nothing changes it meanwhile and no
    copy is taken on the event loop.
    """

    tenant_id: int
    entry: TenantEntry | None  # served now; what the render is compared with
    revision: int
    # Render every phone: a tenant not served yet, or after a template change.
    fresh: bool = False

    @property
    def served(self) -> int | None:
        """The revision served now, ``None`` when every phone is to be rendered."""
        return None if self.fresh or self.entry is None else self.entry.revision

    @property
    def phones(self) -> dict[str, PhoneEntry]:
        """The served phones a render may keep, by MAC (none when every phone is rendered)."""
        return {} if self.fresh or self.entry is None else self.entry.phones


@dataclass(slots=True)
class _Scope:
    """The lookup tables of one URL scope: a lower-cased path → the MAC it belongs to.

    The MAC, not the phone entry: a change that keeps a phone's paths (most
    do: a setting changes its files' bytes, not their names) swaps the entry
    in :attr:`ConfigCache.macs` alone and leaves this index as it is, so a
    large group's install costs a dictionary store per phone, not one per
    file. The file is in ``phone.files`` under the same key. An entry may
    outlive its phone's move to another scope's tenant; a lookup checks
    that the phone it finds is served in the scope.
    """

    files: dict[str, str] = field(default_factory=dict)
    tenants: set[int] = field(default_factory=set)


def _lower(path: str) -> str:
    """``path`` lower-cased, the same object when it already is (most are: one string, not two)."""
    lower = path.lower()
    return path if lower == path else lower


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
        ftp_allow=networks(values["access.ftp.allow"]),
        notify_rate=as_int(values["notify.rate"]),
        notify_max_in_flight=as_int(values["notify.max_in_flight"]),
        notify_jitter_ms=as_int(values["notify.jitter_ms"]),
        notify_delay=as_int(values["notify.delay_seconds"]),
        notify_on_change=bool(values["notify.on_change"]),
    )


def _phone_entry(
    view: PhoneView,
    files: list[RenderedFile],
    changed_at: int,
    identical: _Identical,
    reads: DirectoryReads,
) -> PhoneEntry:
    """What the cache keeps of one rendered phone: its files and what serving needs."""
    values = {name: r.value for name, r in view.settings.items()}
    mac = view.phone.mac
    notify_base, notify_line = identical.notify(notify_info(view))
    now = identical.served_files(mac)
    served: dict[str, ServedFile] = {}
    for file in files:
        path = _lower(file.path)
        # Files alike: one template's files for different phones of a family.
        pattern = f"{view.family.key}/{path.replace(mac, '{mac}')}"
        served[path] = identical.served(file, pattern, changed_at, now.get(path))
    return PhoneEntry(
        mac=mac,
        tenant_id=view.tenant.id,
        family=view.family,
        model=view.model.id,
        access=identical.access(access_from(values)),
        firmware=str(values.get(FIRMWARE_SETTING, "")),
        notify_base=notify_base,
        notify_line=notify_line,
        directory=reads.of(view),
        inputs=reads.inputs(view),
        files=served,
    )


class RenderSource(Protocol):
    """What the cache reads of the tenants (:class:`provisioner.store.TenantRepository`)."""

    def revisions(self) -> dict[int, int]: ...

    def reach(self, tenant_id: int, after: int, upto: int) -> Reach: ...

    def part_snapshot(
        self, tenant_id: int, macs: Collection[str], group_ids: Collection[int]
    ) -> Snapshot: ...

    def snapshot(
        self, macs: Collection[str] | None = None, tenant_ids: Collection[int] | None = None
    ) -> Snapshot: ...

    def slice_snapshot(
        self, tenant_id: int, after: str, size: int
    ) -> tuple[Snapshot, str | None]: ...

    def phone_counts(self) -> dict[int, int]: ...


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
        settle: Callable[[int], None] = lambda phones: None,
        slice_phones: int = SLICE_PHONES,
    ) -> None:
        self.source = tenants
        # A whole render reads at most about this many phones at once (:meth:`_render_tenants`).
        self._slice = slice_phones
        self.firmware_sets = firmware_sets
        self.storage = storage
        self.catalog = catalog
        self.identifier = Identifier(catalog)
        self.metrics = metrics
        self._db = db
        self._site_dir = site_dir
        self._renderer = Renderer(catalog)
        # Rendered files' dictionaries (serve/_packing.py): one set per catalog.
        self._packer = Packer()
        self._templates = _fingerprint(catalog.search_path)
        self.shared: dict[str, ServedFile] = {}
        # Files of active firmware sets by lower-cased path (docs/firmware.md).
        self.firmware: dict[str, DiskFile] = {}
        self.tenants: dict[int, TenantEntry] = {}
        self.macs: dict[str, PhoneEntry] = {}
        self._scopes: dict[str, _Scope] = {"": _Scope()}
        self._refreshing: asyncio.Task[None] | None = None
        # Entries an install replaced, for :func:`_release` to free off the loop.
        self._retired: list[PhoneEntry | TenantEntry] = []
        # Run on the event loop after a render was installed, with the number
        # of phones rendered; the server's is :class:`._collector.Settler`
        # (a test's cache leaves the collector be).
        self._settle = settle
        # What each refresh changed, for the server's coordinator to act on
        # (the cache never calls up; docs/ARCHITECTURE.md).
        self.changes: asyncio.Queue[Refreshed] = asyncio.Queue()

    # --- lookups (event loop thread, no I/O) ---------------------------------

    def scope_of(self, token: str) -> bool:
        """True when ``token`` is some tenant's URL token."""
        return bool(token) and token in self._scopes

    def lookup(self, path: str, token: str = "") -> tuple[PhoneEntry, ServedFile] | None:
        """The phone file at ``path`` (any case) in a scope, if rendered."""
        scope = self._scopes.get(token)
        if scope is None:
            return None
        lower = path.lower()
        phone = self.macs.get(scope.files.get(lower, ""))
        if phone is None or phone.tenant_id not in scope.tenants:
            return None
        file = phone.files.get(lower)
        return None if file is None else (phone, file)

    def upload_target(self, path: str, token: str = "") -> tuple[PhoneEntry, str, UploadDef] | None:
        """The phone an upload path belongs to, its canonical file name and limits.

        Computed from the path: the catalog's upload patterns name the MAC,
        the phone of that MAC must be served in this scope and be of the
        pattern's family, and the name it uploads must be the path.
        """
        scope = self._scopes.get(token)
        if scope is None:
            return None
        for family, upload, mac in self.identifier.paths.uploads(path):
            phone = self.macs.get(mac)
            # By key: after a catalog reload, phones not yet rendered again
            # hold the old catalog's family object.
            if phone is None or phone.tenant_id not in scope.tenants:
                continue
            if phone.family.key != family.key:
                continue
            name = phone.upload_name(upload)
            if name.lower() == path.lower():
                return phone, name, upload
        return None

    def tenants_in(self, token: str = "") -> list[TenantEntry]:
        """The tenants served in a scope."""
        scope = self._scopes.get(token)
        return [self.tenants[t] for t in scope.tenants] if scope is not None else []

    def behind(self, tenant_id: int, revision: int) -> bool:
        """True unless the tenant is served at ``revision`` or later (-1: it is gone)."""
        entry = self.tenants.get(tenant_id)
        if revision < 0:
            return entry is not None
        return entry is None or entry.revision < revision

    def url_tokens(self) -> frozenset[str]:
        """The URL tokens tenants are served under (secrets: for the access log to hide)."""
        return frozenset(token for token in self._scopes if token)

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
            self._packer = Packer()
            self.shared = {}
            for tid in list(self.tenants):
                self.tenants[tid].revision = -1
        if not self.shared:
            self.shared, errors = await self._db.run(self._render_shared)
            self._count_errors(errors)
        revisions = await self._db.run(self.source.revisions)
        plans = [
            self._plan(tid, rev)
            for tid, rev in revisions.items()
            if tid not in self.tenants or self.tenants[tid].revision != rev
        ]
        gone = [tid for tid in self.tenants if tid not in revisions]
        changes = [self._install(tid, None) for tid in gone]
        if plans:
            entries, firmware = await self._db.run(functools.partial(self._render_plans, plans))
            self.firmware = firmware
            taken = (self._take(plan.tenant_id, entries.get(plan.tenant_id)) for plan in plans)
            changes += [change for change in taken if change is not None]
        self.metrics.tenants, self.metrics.phones = len(self.tenants), len(self.macs)
        if changes or reloaded is not None:
            self.changes.put_nowait(Refreshed(tuple(changes), reloaded is not None))
        # The entries replaced are freed beside the loop, and the render's
        # transients are gone, before the one full collection that settles it.
        rendered = bool(plans)
        retired, self._retired = self._retired, []
        phones = 0
        if rendered:
            phones = sum(render.rendered for render in entries.values())
            del entries, taken
        del plans
        if retired:
            await self._db.run(functools.partial(_release, retired))
        if rendered:
            self._settle(phones)

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

    def _plan(self, tenant_id: int, revision: int) -> _Plan:
        """What to render of a tenant whose revision moved (event loop thread)."""
        old = self.tenants.get(tenant_id)
        return _Plan(tenant_id, old, revision, fresh=old is None or old.revision < 0)

    def _render_plans(self, plans: list[_Plan]) -> _Rendered:
        """Render what each plan needs (worker thread); index the firmware too.

        A tenant whose change feed names what changed since the revision
        served gets only those phones rendered (:meth:`_render_part`); any
        other, all of its phones. Activating or deactivating a set moves
        every tenant's revision, so the index is rebuilt whenever anything
        is rendered. Nothing here reads or
        writes what the event loop owns; errors come back as data.
        """
        with no_full_collections():  # ._collector: no serving pause mid-render
            return self._render_each(plans)

    def _render_each(self, plans: list[_Plan]) -> _Rendered:
        whole: dict[int, _Plan] = {}
        entries: dict[int, _Render] = {}
        firmware: dict[str, DiskFile] | None = None
        for plan in plans:
            reach = None
            if plan.served is not None:
                reach = self.source.reach(plan.tenant_id, plan.served, plan.revision)
            if (
                reach is None
                or reach.whole
                or len(reach.macs) + len(reach.groups) > FEED_MAX_ENTRIES
            ):
                whole[plan.tenant_id] = plan
                continue
            render, snapshot = self._render_part(plan, reach)
            if firmware is None:
                firmware = self._index_firmware(snapshot.firmware.values())
            if render is not None:
                entries[plan.tenant_id] = render
        if whole:
            renders, snapshot = self._render_tenants(whole)
            firmware = self._index_firmware(snapshot.firmware.values())
            entries.update(renders)
        if firmware is None:
            firmware = self._index_firmware(self.firmware_sets.sets(active=True))
        return entries, firmware

    def _render_part(self, plan: _Plan, reach: Reach) -> tuple[_Render | None, Snapshot]:
        """Render the phones of one tenant a change reached (worker thread); and what was read.

        The phones the feed names (``reach.macs``, members of ``reach.groups``)
        are rendered. A directory change names none: the phones that read the
        directory are resolved again and rendered only when what they read of
        it moved (:mod:`._directory_reads`) — a renamed line re-renders the
        phones whose keys or directory show it, not every phone with a
        policy. The others keep their entries (and ETags) untouched.
        """
        # The served phones that read the tenant directory, by MAC: what they
        # read of it (PhoneEntry.directory), for a directory change to compare.
        readers = (
            {mac: phone.directory for mac, phone in plan.phones.items() if phone.directory}
            if reach.directory
            else {}
        )
        wanted = reach.macs | readers.keys()
        if len(wanted) + len(reach.groups) > FEED_MAX_ENTRIES:
            # Too many to name in one query: read the tenant, still render only what moved.
            snapshot = self.source.snapshot(tenant_ids=[plan.tenant_id])
        else:
            snapshot = self.source.part_snapshot(plan.tenant_id, wanted, reach.groups)
        direct = reach.macs | {
            p.mac for p in snapshot.phones.values() if reach.groups.intersection(p.group_ids)
        }
        reads = DirectoryReads(tenant_owned(self.catalog))

        def keep(view: PhoneView) -> bool:
            mac = view.phone.mac
            return mac in direct or (mac in readers and reads.of(view) != readers[mac])

        render = self._render_snapshot(
            snapshot,
            _Identical(self._packer, plan.phones),
            macs=direct | readers.keys(),
            keep=keep,
            reads=reads,
        ).get(plan.tenant_id)
        if render is not None:
            # The target revision, not the snapshot's: a write that came
            # after the feed was read is rendered again at the next refresh.
            render.entry.revision = plan.revision
            render.whole = False
            render.touched = frozenset(direct | render.entry.phones.keys())
            _compare(plan.phones, render)
        return render, snapshot

    def _render_tenants(self, plans: dict[int, _Plan]) -> tuple[dict[int, _Render], Snapshot]:
        """Render whole tenants (worker thread); and the last snapshot read.

        A tenant of more than :attr:`_slice` phones is rendered a slice at
        a time (:meth:`_render_sliced`); the others are read together, up
        to about as many phones per snapshot.
        """
        counts = self.source.phone_counts()
        renders: dict[int, _Render] = {}
        batches: list[list[int]] = [[]]
        phones = 0
        snapshot: Snapshot | None = None
        for tenant_id, plan in plans.items():
            count = counts.get(tenant_id, 0)
            if count > self._slice:
                render, snapshot = self._render_sliced(plan)
                if render is not None:
                    renders[tenant_id] = render
                continue
            if phones + count > self._slice and batches[-1]:
                batches.append([])
                phones = 0
            batches[-1].append(tenant_id)
            phones += count
        for batch in batches:
            if batch:  # only the first is ever empty: when every tenant was sliced
                snapshot = self.source.snapshot(tenant_ids=batch)
                renders.update(self._render_whole(snapshot, {tid: plans[tid] for tid in batch}))
        for tenant_id, render in renders.items():
            entry = plans[tenant_id].entry
            if entry is not None:
                _compare(entry.phones, render)
        assert snapshot is not None  # a plan at least: a batch read, or a slice
        return renders, snapshot

    def _render_sliced(self, plan: _Plan) -> tuple[_Render | None, Snapshot]:
        """Render a large tenant whole, :attr:`_slice` phones at a time by MAC (worker thread).

        A whole snapshot is large (275 MB of objects for 100,000 phones) and
        would be held while every phone renders, beside the cache; a slice's
        is read, rendered and dropped before the next is read. The entries
        of every slice make one tenant, installed at once as an unsliced
        render's are: a phone in no slice is gone (removed or moved away
        meanwhile), and keep-last-good sees every slice's errors. The
        tenant's policy is the first slice's; its directory and phonebooks
        (what one phone's keys and directory show of the others) are read
        once, when a phone first asks, for every slice.

        Each slice is its own read (the tenant's own rows too), so slices
        may see different states of the tenant. That is safe because the
        render is tagged with the plan's revision, read before the first
        slice, not with what a slice read: a write committed before it is
        seen by every slice, and any later write moved the tenant past it,
        so the next refresh renders again what that write reached (the
        change feed since the plan's revision), as for a part
        (:meth:`_render_part`).
        """
        tenant_id = plan.tenant_id
        reads = DirectoryReads(tenant_owned(self.catalog))
        # One for all slices: files alike in different slices are one object.
        # Every phone served now, not just those a render may keep
        # (:attr:`_Plan.phones`): after a template change a file whose bytes held is reused.
        identical = _Identical(self._packer, plan.entry.phones if plan.entry is not None else {})
        render: _Render | None = None
        first: Snapshot | None = None
        after: str | None = ""
        while after is not None:
            snapshot, after = self.source.slice_snapshot(tenant_id, after, self._slice)
            if first is None:
                first = snapshot
            else:
                snapshot.directory, snapshot.phonebooks = first.directory, first.phonebooks
            part = self._render_whole(snapshot, {tenant_id: plan}, identical, reads).get(tenant_id)
            if part is None:  # deleted meanwhile: dropped now, as at the next refresh
                return None, first
            if render is None:
                render = part
            else:
                render.entry.phones.update(part.entry.phones)
                render.entry.auth_in_use = render.entry.auth_in_use or part.entry.auth_in_use
                render.errors.extend(part.errors)
                render.rendered += part.rendered
            del snapshot, part
        assert first is not None
        assert render is not None
        render.entry.revision = plan.revision
        return render, first

    def _render_whole(
        self,
        snapshot: Snapshot,
        plans: dict[int, _Plan],
        identical: _Identical | None = None,
        reads: DirectoryReads | None = None,
    ) -> dict[int, _Render]:
        """Render whole tenants (worker thread), keeping the served phones whose inputs held.

        Every phone is resolved; a phone served now whose digest of inputs
        (:meth:`DirectoryReads.inputs`) is what it was rendered from keeps
        its entry — the same files, ETags and Last-Modified, and no second
        copy of them while the rest renders. A tenant not served yet (or
        after a template change, which marks every tenant unserved) renders
        every phone.
        """
        reads = DirectoryReads(tenant_owned(self.catalog)) if reads is None else reads
        kept: dict[int, dict[str, PhoneEntry]] = {tid: {} for tid in plans}

        def keep(view: PhoneView) -> bool:
            tenant_id, mac = view.tenant.id, view.phone.mac
            served = plans[tenant_id].phones.get(mac)
            if served is None or served.inputs != reads.inputs(view):
                return True
            kept[tenant_id][mac] = served
            return False

        if identical is None:
            # Phones are served under one tenant at a time: one mapping by MAC.
            now = ChainMap(*(plan.entry.phones for plan in plans.values() if plan.entry))
            identical = _Identical(self._packer, now)
        renders = self._render_snapshot(snapshot, identical, keep=keep, reads=reads)
        for tenant_id, render in renders.items():
            for mac, served in kept[tenant_id].items():
                render.entry.phones[mac] = served
                render.entry.auth_in_use = render.entry.auth_in_use or bool(
                    served.access.http_password
                )
        return renders

    def _render_snapshot(
        self,
        snapshot: Snapshot,
        identical: _Identical,
        *,
        macs: Collection[str] | None = None,
        keep: Callable[[PhoneView], bool] | None = None,
        reads: DirectoryReads | None = None,
    ) -> dict[int, _Render]:
        """The snapshot's tenants through the one pipeline (worker thread), by id.

        ``identical`` holds the phones served now, whose files are reused
        where the bytes held, and the files of this render alike. ``macs``
        and ``keep`` choose the phones rendered (:func:`render_tenants`).
        """
        reads = DirectoryReads(tenant_owned(self.catalog)) if reads is None else reads
        renders = render_tenants(
            self.catalog,
            snapshot,
            lambda view, files: _phone_entry(view, files, view.tenant.changed_at, identical, reads),
            renderer=self._renderer,
            macs=macs,
            keep=keep,
        )
        entries: dict[int, _Render] = {}
        for tenant_id, render in renders.items():
            tenant = render.tenant
            policy = _policy(tenant_id, tenant.name, render.settings)
            entry = TenantEntry(policy, tenant.revision, {}, False)
            for phone in render.phones:
                entry.phones[phone.mac] = phone
                entry.auth_in_use = entry.auth_in_use or bool(phone.access.http_password)
            rendered = len(render.phones) + len(render.failed)
            entries[tenant_id] = _Render(entry, render.errors, rendered)
        return entries

    def _count_errors(self, errors: list[RenderError]) -> None:
        """Log and count render errors (event loop thread)."""
        for error in errors:
            self.metrics.render_errors += 1
            log.error("event=render_error %s", error)

    def _take(self, tenant_id: int, rendered: _Render | None) -> TenantChange | None:
        """Install a re-rendered tenant (or part), or keep its last good state if any phone failed.

        Keep-last-good is per tenant (``ErrorPolicy.KEEP_LAST_GOOD``): a
        template that fails for one phone leaves the whole tenant as it was
        (its revision noted, so it is not rendered again until it changes), so
        phones never get a mix of two states. A new tenant has nothing to
        keep and gets the phones that rendered.
        """
        if rendered is None:
            return self._install(tenant_id, None)
        entry, errors = rendered.entry, rendered.errors
        self.metrics.phones_rendered += rendered.rendered
        log.info(
            "event=tenant_rendered tenant=%s phones=%d part=%s",
            entry.policy.name,
            rendered.rendered,
            "no" if rendered.whole else "yes",
        )
        old = self.tenants.get(tenant_id)
        if errors:
            self._count_errors(errors)
            if old is not None:
                old.revision = entry.revision
                log.error("event=tenant_kept tenant=%s failed=%d", old.policy.name, len(errors))
                return None
        if not rendered.whole and old is not None:
            return self._install_part(old, rendered)
        return self._install(tenant_id, entry, rendered.changed)

    def _install_part(self, old: TenantEntry, part: _Render) -> TenantChange:
        """Swap the phones a change reached into a served tenant (event loop thread).

        One synchronous step: no request sees some of the phones new and
        others old. What changed was worked out beside the render
        (:func:`_compare`); a phone whose paths held costs two dictionary
        stores here. The entries replaced are kept for :func:`_release`, so
        freeing them is not done here either. The tenant's policy stays (a
        change to the tenant's own settings is never a part).
        """
        scope = self._scopes[old.policy.url_token]
        phones, macs, moved, new = old.phones, self.macs, part.moved, part.entry.phones
        retired = self._retired
        for mac in part.touched:
            after = new.get(mac)
            before = phones.pop(mac, None) if after is None else phones.get(mac)
            if before is not None:
                retired.append(before)
                if mac in moved:
                    self._unindex(scope, before)
            if after is not None:
                phones[mac] = after
                if before is None or mac in moved:
                    self._index(scope, after)
                else:
                    macs[mac] = after  # the path index names the MAC: it holds
        old.revision = part.entry.revision
        if part.lost_auth:  # the one case that needs every phone looked at (50 ms at 50,000)
            old.auth_in_use = any(p.access.http_password for p in phones.values())
        else:
            old.auth_in_use = old.auth_in_use or part.entry.auth_in_use
        return TenantChange(old.policy.tenant_id, old.policy, part.changed)

    def _unindex(self, scope: _Scope, phone: PhoneEntry) -> None:
        """Drop a phone from the lookup tables, but not what another tenant took since."""
        mac = phone.mac
        if self.macs.get(mac) is phone:
            del self.macs[mac]
        owner = self.macs.get(mac)  # another tenant's phone of this MAC, if any
        for path in phone.files:
            if scope.files.get(path) == mac and (
                owner is None or owner.tenant_id not in scope.tenants or path not in owner.files
            ):
                del scope.files[path]

    def _index(self, scope: _Scope, phone: PhoneEntry) -> None:
        """Make a phone's files and uploads findable."""
        mac = phone.mac
        self.macs[mac] = phone
        for path in phone.files:
            scope.files[path] = mac

    def _install(
        self, tenant_id: int, entry: TenantEntry | None, changed: tuple[str, ...] = ()
    ) -> TenantChange:
        """Swap one tenant's entry into the lookup tables (event loop thread).

        ``changed``: the phones whose files changed (:func:`_compare`), for
        the change this returns.
        """
        old = self.tenants.pop(tenant_id, None)
        if old is not None:
            self._retired.append(old)
            scope = self._scopes.get(old.policy.url_token)
            for phone in old.phones.values():
                if scope is not None:
                    self._unindex(scope, phone)
                elif self.macs.get(phone.mac) is phone:
                    del self.macs[phone.mac]
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
            self._index(scope, phone)
        return TenantChange(tenant_id, entry.policy, changed if old is not None else ())


def _compare(served: dict[str, PhoneEntry], render: _Render) -> None:
    """Note on ``render`` what it changes of the ``served`` phones (worker thread).

    The comparison would cost the event loop most of an install's time
    (about 5 µs a phone; 90 ms for 16,667 phones, ``bench.scale``'s group
    change at 100,000), so it is made beside the render. ``served`` is the
    tenant's state when the plan was made, which is still the one served
    when the render is installed (:class:`_Plan`).
    """
    new = render.entry.phones
    changed: list[str] = []
    moved: set[str] = set()
    lost_auth = False
    macs: Iterable[str] = new.keys() if render.whole else render.touched
    for mac in macs:
        before, after = served.get(mac), new.get(mac)
        if before is None or before is after:  # new, or kept as it was
            continue
        lost_auth = lost_auth or bool(before.access.http_password)
        same_paths = after is not None and before.files.keys() == after.files.keys()
        if not same_paths:
            moved.add(mac)
        if after is not None and not (same_paths and _same_etags(before, after)):
            changed.append(mac)
    render.changed = tuple(sorted(changed))
    render.moved = frozenset(moved)
    render.lost_auth = lost_auth


def _release(retired: list[PhoneEntry | TenantEntry]) -> None:
    """Free replaced entries (worker thread), one at a time.

    Freeing a phone's entry frees its files, access rules and NOTIFY
    details: for a large change tens of milliseconds (28 ms for 16,667
    phones at 100,000), all of it holding every request if done in one step
    on the event loop. Here the interpreter lock can pass to the loop
    between any two. A tenant's phones are taken out of its entry first
    (freeing the entry whole would free them in one step again); the entry
    itself is not changed, in case something still reads it.
    """
    while retired:
        item = retired.pop()
        if isinstance(item, TenantEntry):
            retired.extend(item.phones.values())

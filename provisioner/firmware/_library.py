"""Device files as an admin manages them: upload, activate, deactivate, remove.

The library ties the three places a set lives in: its bytes (storage, under
a fresh key), its record (the store) and the catalog (which vendors exist,
how their versions are written). An upload is ingested first and recorded
second; if recording fails (a label taken meanwhile) the files are removed
again, and a crash between the two leaves an unrecorded directory that
:meth:`FirmwareLibrary.sweep` deletes later. Nothing is ever half there.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner.actor import Actor
from provisioner.audit import AuditEntry, entry_for
from provisioner.catalog import Catalog
from provisioner.chars import check_text
from provisioner.domain import FirmwareFile, FirmwareSet
from provisioner.errors import InputError, NotFoundError
from provisioner.firmware._ingest import Limits
from provisioner.firmware._select import LABEL, derive_version
from provisioner.firmware._storage import FirmwareStorage, new_key
from provisioner.settings import parse_version

if TYPE_CHECKING:  # the store imports this package's rollout types; no cycle at run time
    from provisioner.store import FirmwareRepository

__all__ = ["KINDS", "FirmwareLibrary"]

KINDS = ("firmware", "unmanaged")
_VERSION_FILE_LIMIT = 256
DEFAULT_LIMITS = Limits()
_SWEEP_AGE = 3600.0  # seconds: older leftovers are certainly not an upload in progress


class FirmwareLibrary:
    """Firmware sets: their records in ``records`` and their files in ``storage``."""

    def __init__(
        self, records: FirmwareRepository, storage: FirmwareStorage, catalog: Catalog
    ) -> None:
        self.records = records
        self.storage = storage
        self.catalog = catalog

    def vendors(self) -> list[str]:
        """Vendors the catalog knows, sorted."""
        return sorted({family.vendor for family in self.catalog.families.values()})

    def check_names(self, vendor: str, label: str) -> None:
        """Refuse a vendor the catalog does not have, or a label not spelled as labels are."""
        if vendor not in self.vendors():
            raise InputError(f"unknown vendor {vendor!r}; one of: {', '.join(self.vendors())}")
        if not LABEL.fullmatch(label):
            raise InputError(
                f"invalid label {label!r}: 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )

    def upload(
        self,
        source: Path,
        name: str,
        *,
        vendor: str,
        label: str,
        description: str = "",
        kind: str = "firmware",
        version: str = "",
        limits: Limits = DEFAULT_LIMITS,
        actor: Actor | None = None,
    ) -> FirmwareSet:
        """Ingest the upload at ``source`` (originally called ``name``) as a new, inactive set.

        ``version`` is what phones will report when running it; without one,
        it is read from the set where the vendor's families say how (Polycom
        ``sip.ver``, Yealink image names). The three steps — :meth:`check_upload`,
        :meth:`stage`, :meth:`record` — can be run one by one, so that a server
        does the long middle one (hashing, archive checks, publishing) off the
        thread its database work runs on.
        """
        self.check_upload(vendor, label, kind=kind, description=description, version=version)
        staged = self.stage(
            source,
            name,
            vendor=vendor,
            label=label,
            description=description,
            kind=kind,
            version=version,
            limits=limits,
        )
        return self.record(staged, actor)

    def check_upload(
        self, vendor: str, label: str, *, kind: str, description: str, version: str
    ) -> None:
        """Refuse an upload by what it says about itself, before any byte is read.

        Reads the records (a label already taken): database work.
        """
        self.check_names(vendor, label)
        if kind not in KINDS:
            raise InputError(f"invalid kind {kind!r}: firmware or unmanaged")
        check_text(description, "description")
        if len(description) > 255:
            raise InputError("description is longer than 255 characters")
        if version:
            parse_version(version)  # refuses anything but dotted numbers (letters after them)
        if self.records.sets(vendor=vendor, label=label):
            raise InputError(
                f"a {vendor} set labelled {label!r} already exists; "
                "choose another label (a set is never replaced)"
            )

    def stage(
        self,
        source: Path,
        name: str,
        *,
        vendor: str,
        label: str,
        description: str = "",
        kind: str = "firmware",
        version: str = "",
        limits: Limits = DEFAULT_LIMITS,
    ) -> FirmwareSet:
        """Ingest and check the files into storage; the set to record (``id`` 0).

        No database work: only the storage and the catalog. Refused files
        leave nothing in storage; staged ones are removed by :meth:`record`
        if recording fails, and by :meth:`sweep` if it never happens.
        """
        key = new_key()
        if limits.image_suffixes is None:  # the families of this catalog, site ones too
            limits = replace(limits, image_suffixes=self.catalog.firmware_suffixes)
        ingested = self.storage.ingest(source, name, key, limits)
        try:
            paths = [f.path for f in ingested.files]
            if kind == "firmware":
                self._check_magic(vendor, key, paths)
            if not version and kind == "firmware":
                definitions = [
                    f.firmware for f in self.catalog.families.values() if f.vendor == vendor
                ]
                version = derive_version(
                    definitions, paths, lambda p: self.storage.read(key, p, _VERSION_FILE_LIMIT)
                )
        except BaseException:
            self.storage.remove(key)
            raise
        return FirmwareSet(
            id=0,
            vendor=vendor,
            label=label,
            kind=kind,
            description=description,
            version=version,
            active=False,
            storage_key=key,
            upload_name=Path(name).name,
            upload_sha256=ingested.upload_sha256,
            total_bytes=ingested.total_bytes,
            created_at=time.time(),
            files=tuple(FirmwareFile(f.path, f.size, f.sha256) for f in ingested.files),
        )

    def record(self, staged: FirmwareSet, actor: Actor | None = None) -> FirmwareSet:
        """Record a staged set (audited as ``firmware.upload``); its files go if this fails."""
        try:
            audit = []
            if actor is not None:
                after = {
                    "kind": staged.kind,
                    "version": staged.version,
                    "upload_name": staged.upload_name,
                    "upload_sha256": staged.upload_sha256,
                    "files": len(staged.files),
                    "total_bytes": staged.total_bytes,
                }
                audit.append(
                    _entry(actor, "firmware.upload", staged.vendor, staged.label, after=after)
                )
            set_id = self.records.add(staged, audit)
        except BaseException:
            self.storage.remove(staged.storage_key)
            raise
        return replace(staged, id=set_id)

    def _check_magic(self, vendor: str, key: str, paths: list[str]) -> None:
        """Refuse files that lack the first bytes the vendor's image format has (``magic``)."""
        rules = {
            suffix: magic
            for family in self.catalog.families.values()
            if family.vendor == vendor
            for suffix, magic in family.firmware.magic
        }
        for path in paths:
            for suffix, magic in rules.items():
                if not path.lower().endswith(suffix):
                    continue
                head = self.storage.read(key, path, len(magic))
                if head != magic:
                    raise InputError(
                        f"{path} is not a {vendor} firmware image: every {vendor} {suffix} "
                        f"file starts with the bytes {magic.hex(' ')}, this one with "
                        f"{head.hex(' ') or 'nothing (it is empty)'}; nothing was stored "
                        "(--unmanaged uploads device files unchecked)"
                    )

    def activate(self, vendor: str, label: str, actor: Actor | None = None) -> bool:
        """Serve a set and let phones be pointed at it; False if it already was active.

        For vendors whose phones fetch images from the server root (Cisco
        79xx/79x1 loads), two active sets may share a file name only when
        the file is the same.
        """
        self.check_names(vendor, label)
        found = self.records.sets(vendor=vendor, label=label)
        if not found:
            raise NotFoundError(f"no {vendor} firmware set labelled {label!r}")
        candidate = found[0]
        if any(f.firmware.root for f in self.catalog.families.values() if f.vendor == vendor):
            mine = {f.path.lower(): f.sha256 for f in candidate.files}
            for other in self.records.sets(vendor=vendor, active=True):
                if other.id == candidate.id:
                    continue
                for f in other.files:
                    if mine.get(f.path.lower(), f.sha256) != f.sha256:
                        raise InputError(
                            f"{f.path} differs in active {vendor} set {other.label!r}; "
                            f"{vendor} files are also served at the server root, so two "
                            "active sets cannot hold different files of one name"
                        )
        return self.records.set_active(vendor, label, True, _switched(actor, vendor, label, True))

    def deactivate(self, vendor: str, label: str, actor: Actor | None = None) -> bool:
        """Stop serving a set (phones pointed at it are no longer told to change)."""
        self.check_names(vendor, label)
        return self.records.set_active(vendor, label, False, _switched(actor, vendor, label, False))

    def remove(self, vendor: str, label: str, actor: Actor | None = None) -> list[str]:
        """Delete an inactive set; the scopes whose settings still name its label."""
        self.check_names(vendor, label)
        audit = [] if actor is None else [_entry(actor, "firmware.remove", vendor, label)]
        key = self.records.remove(vendor, label, audit)
        self.storage.remove(key)
        return self.records.references(label)

    def sweep(self, older_than: float = _SWEEP_AGE) -> list[str]:
        """Delete what crashed uploads left in storage."""
        return self.storage.sweep(self.records.storage_keys(), older_than)


def _entry(
    actor: Actor,
    action: str,
    vendor: str,
    label: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    return entry_for(
        actor,
        action,
        f"firmware:{vendor}/{label}",
        f"{vendor} set {label}",
        before=before,
        after=after,
    )


def _switched(actor: Actor | None, vendor: str, label: str, active: bool) -> list[AuditEntry]:
    """The audit entry of (de)activating a set (recorded only if that changed it)."""
    if actor is None:
        return []
    action = "firmware.activate" if active else "firmware.deactivate"
    return [
        _entry(
            actor, action, vendor, label, before={"active": not active}, after={"active": active}
        )
    ]

"""Firmware sets and their files in the database (the bytes are in firmware storage)."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from provisioner.audit import AuditEntry
from provisioner.domain import FirmwareFile, FirmwareSet
from provisioner.errors import InputError, NotFoundError
from provisioner.firmware._select import LABEL_SETTING, UNMANAGED_SETTING
from provisioner.store import _tables as t
from provisioner.store._audit import record_audit
from provisioner.store._feed import announce

__all__ = ["FIRMWARE_SETTINGS", "FirmwareRepository", "firmware_sets"]

# The settings whose values name a set's label (by vendor: the phone's).
FIRMWARE_SETTINGS = (LABEL_SETTING, UNMANAGED_SETTING)


def firmware_sets(
    conn: Connection,
    *,
    vendor: str | None = None,
    label: str | None = None,
    active: bool | None = None,
) -> list[FirmwareSet]:
    """Sets with their files, by vendor then label."""
    query = select(t.firmware_sets).order_by(t.firmware_sets.c.vendor, t.firmware_sets.c.label)
    if vendor is not None:
        query = query.where(t.firmware_sets.c.vendor == vendor)
    if label is not None:
        query = query.where(t.firmware_sets.c.label == label)
    if active is not None:
        query = query.where(t.firmware_sets.c.active.is_(active))
    rows = conn.execute(query).all()
    if not rows:
        return []
    files: dict[int, list[FirmwareFile]] = defaultdict(list)
    file_query = (
        select(t.firmware_files)
        .where(t.firmware_files.c.set_id.in_(query.with_only_columns(t.firmware_sets.c.id)))
        .order_by(t.firmware_files.c.set_id, t.firmware_files.c.path)
    )
    for f in conn.execute(file_query):
        files[f.set_id].append(FirmwareFile(f.path, f.size, f.sha256))
    return [
        FirmwareSet(
            id=row.id,
            vendor=row.vendor,
            label=row.label,
            kind=row.kind,
            description=row.description,
            version=row.version,
            active=row.active,
            storage_key=row.storage_key,
            upload_name=row.upload_name,
            upload_sha256=row.upload_sha256,
            total_bytes=row.total_bytes,
            created_at=row.created_at,
            files=tuple(files.get(row.id, ())),
        )
        for row in rows
    ]


def _insert_set(conn: Connection, record: FirmwareSet) -> int:
    """Record an ingested set (inactive); a taken (vendor, label) is an :class:`InputError`."""
    try:
        set_id = conn.execute(
            insert(t.firmware_sets)
            .values(
                vendor=record.vendor,
                label=record.label,
                kind=record.kind,
                description=record.description,
                version=record.version,
                active=False,
                storage_key=record.storage_key,
                upload_name=record.upload_name,
                upload_sha256=record.upload_sha256,
                total_bytes=record.total_bytes,
                created_at=record.created_at,
            )
            .returning(t.firmware_sets.c.id)
        ).scalar_one()
    except IntegrityError:
        raise InputError(
            f"a {record.vendor} set labelled {record.label!r} already exists; "
            "choose another label (a set is never replaced)"
        ) from None
    if record.files:
        conn.execute(
            insert(t.firmware_files),
            [
                {"set_id": set_id, "path": f.path, "size": f.size, "sha256": f.sha256}
                for f in record.files
            ],
        )
    return int(set_id)


def _one(conn: Connection, vendor: str, label: str) -> FirmwareSet:
    found = firmware_sets(conn, vendor=vendor, label=label)
    if not found:
        raise NotFoundError(f"no {vendor} firmware set labelled {label!r}")
    return found[0]


def _set_active(conn: Connection, vendor: str, label: str, active: bool) -> bool:
    """Activate or deactivate a set; True when that changed anything.

    Every tenant's revision moves, so servers re-render the phones that
    point at the label and start or stop serving its files.
    """
    current = _one(conn, vendor, label)
    if current.active == active:
        return False
    conn.execute(
        update(t.firmware_sets).where(t.firmware_sets.c.id == current.id).values(active=active)
    )
    conn.execute(
        update(t.tenants).values(revision=t.tenants.c.revision + 1, changed_at=int(time.time()))
    )
    for tenant_id, revision in conn.execute(select(t.tenants.c.id, t.tenants.c.revision)):
        announce(conn, tenant_id, revision)  # no feed rows: every phone may point at the label
    return True


def _label_references(conn: Connection, label: str) -> list[str]:
    """The scopes whose firmware settings name ``label``, e.g. ``group acme/sales``."""
    value = json.dumps(label)
    found: list[str] = []
    tenants = {row.id: row.name for row in conn.execute(select(t.tenants.c.id, t.tenants.c.name))}
    names = t.tenant_settings.c.name.in_(FIRMWARE_SETTINGS)
    for row in conn.execute(
        select(t.tenant_settings.c.tenant_id).where(names, t.tenant_settings.c.value == value)
    ):
        found.append(f"tenant {tenants[row.tenant_id]}")
    for row in conn.execute(
        select(t.groups.c.tenant_id, t.groups.c.name)
        .join(t.group_settings, t.group_settings.c.group_id == t.groups.c.id)
        .where(t.group_settings.c.name.in_(FIRMWARE_SETTINGS), t.group_settings.c.value == value)
    ):
        found.append(f"group {tenants[row.tenant_id]}/{row.name}")
    for row in conn.execute(
        select(t.phones.c.mac)
        .join(t.phone_settings, t.phone_settings.c.phone_id == t.phones.c.id)
        .where(t.phone_settings.c.name.in_(FIRMWARE_SETTINGS), t.phone_settings.c.value == value)
    ):
        found.append(f"phone {row.mac}")
    return sorted(set(found))


def _delete_set(conn: Connection, vendor: str, label: str) -> str:
    """Remove an inactive set's records; returns its storage key (its files go next)."""
    current = _one(conn, vendor, label)
    if current.active:
        raise InputError(
            f"{vendor} set {label!r} is active; deactivate it first "
            "(an active set is never changed)"
        )
    running = conn.execute(
        select(t.rollouts.c.id).where(
            t.rollouts.c.vendor == vendor,
            t.rollouts.c.label == label,
            t.rollouts.c.state == "running",
        )
    ).first()
    if running is not None:
        raise InputError(f"rollout {running.id} of {vendor} set {label!r} is running")
    conn.execute(delete(t.firmware_sets).where(t.firmware_sets.c.id == current.id))
    return current.storage_key


def _storage_keys(conn: Connection) -> set[str]:
    """The storage keys of every recorded set (what a sweep must keep)."""
    return set(conn.execute(select(t.firmware_sets.c.storage_key)).scalars())


class FirmwareRepository:
    """Recorded firmware sets and their files (the bytes live in firmware storage)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def sets(
        self, vendor: str | None = None, label: str | None = None, active: bool | None = None
    ) -> list[FirmwareSet]:
        """Recorded sets with their files, by vendor then label."""
        with self.engine.connect() as conn:
            return firmware_sets(conn, vendor=vendor, label=label, active=active)

    def add(self, record: FirmwareSet, audit: Sequence[AuditEntry] = ()) -> int:
        """Record an ingested set, inactive; its id (``audit`` recorded with it)."""
        with self.engine.begin() as conn:
            set_id = _insert_set(conn, record)
            record_audit(conn, audit)
            return set_id

    def set_active(
        self, vendor: str, label: str, active: bool, audit: Sequence[AuditEntry] = ()
    ) -> bool:
        """Activate or deactivate a set; True when that changed it (and ``audit`` recorded)."""
        with self.engine.begin() as conn:
            changed = _set_active(conn, vendor, label, active)
            if changed:
                record_audit(conn, audit)
            return changed

    def remove(self, vendor: str, label: str, audit: Sequence[AuditEntry] = ()) -> str:
        """Forget an inactive set; its storage key, for the caller to delete its files."""
        with self.engine.begin() as conn:
            key = _delete_set(conn, vendor, label)
            record_audit(conn, audit)
            return key

    def references(self, label: str) -> list[str]:
        """Scopes whose firmware settings name ``label``."""
        with self.engine.connect() as conn:
            return _label_references(conn, label)

    def storage_keys(self) -> set[str]:
        """Storage keys of every recorded set."""
        with self.engine.connect() as conn:
            return _storage_keys(conn)

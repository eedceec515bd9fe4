"""Plain records of the provisioning domain, as read from the store.

These are what settings resolution and rendering work on: frozen dataclasses
with no database session behind them. Setting values are kept apart, keyed by
scope, in :class:`Snapshot`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from provisioner.settings import Value

__all__ = [
    "NUMBER_KINDS",
    "DirectoryEntry",
    "FirmwareFile",
    "FirmwareSet",
    "Group",
    "Line",
    "Phone",
    "Phonebook",
    "PhonebookEntry",
    "ScopeKind",
    "Snapshot",
    "StoredValue",
    "Tenant",
]


class ScopeKind(StrEnum):
    """Where a setting value is stored."""

    TENANT = "tenant"
    GROUP = "group"
    PHONE = "phone"
    LINE = "line"


class StoredValue(NamedTuple):
    """A setting value as stored at one scope; only tenants and groups may lock."""

    value: Value
    locked: bool = False


@dataclass(frozen=True, slots=True)
class Tenant:
    """A provisioning domain."""

    id: int
    name: str
    sip_domain: str
    platform: str
    description: str
    revision: int = 0  # bumped with every change under the tenant
    changed_at: int = 0  # Unix time of that change


@dataclass(frozen=True, slots=True)
class Group:
    """A phone group; among a phone's groups the higher weight wins."""

    id: int
    tenant_id: int
    name: str
    description: str
    weight: int


@dataclass(frozen=True, slots=True)
class Phone:
    """A managed phone, keyed by its canonical MAC."""

    id: int
    tenant_id: int
    mac: str
    model: str
    description: str
    enabled: bool
    group_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Line:
    """A line (registration) on a phone; ``position`` counts from 1."""

    id: int
    phone_id: int
    position: int
    user: str
    auth_user: str
    password: str
    display_name: str
    label: str


class DirectoryEntry(NamedTuple):
    """One entry of a tenant directory: a line's display name and SIP user.

    ``groups`` names the groups of the line's phone (a key layout policy
    scoped to a group reads them; docs/settings.md "Key layouts by policy").
    """

    name: str
    user: str
    groups: frozenset[str] = frozenset()


# The kinds of number a phonebook entry may hold, one of each, in this order.
NUMBER_KINDS = ("work", "mobile", "home", "other")


@dataclass(frozen=True, slots=True)
class PhonebookEntry:
    """One contact of a phonebook; ``numbers`` are (kind, number) in NUMBER_KINDS order."""

    first_name: str
    last_name: str
    organisation: str
    numbers: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        """What a phone shows: first and last name, else the organisation."""
        return " ".join(n for n in (self.first_name, self.last_name) if n) or self.organisation


# eq=False: compared and hashed by identity, so that contexts derived from a
# phonebook can be cached per snapshot without hashing thousands of entries.
@dataclass(frozen=True, slots=True, eq=False)
class Phonebook:
    """A named list of contacts of a tenant, in the order they were imported."""

    name: str
    description: str
    entries: tuple[PhonebookEntry, ...]


@dataclass(frozen=True, slots=True)
class FirmwareFile:
    """One file of a firmware set, as recorded when it was ingested."""

    path: str  # relative POSIX path inside the set
    size: int
    sha256: str  # hex


@dataclass(frozen=True, slots=True)
class FirmwareSet:
    """A vendor's firmware release or a bundle of unmanaged files, under a label."""

    id: int
    vendor: str
    label: str
    kind: str  # firmware | unmanaged
    description: str
    version: str  # the firmware version phones report for it ("" when unknown)
    active: bool
    storage_key: str  # where its files are in the firmware storage
    upload_name: str
    upload_sha256: str
    total_bytes: int
    created_at: float
    files: tuple[FirmwareFile, ...] = ()


Settings = dict[str, StoredValue]


@dataclass(slots=True)
class Snapshot:
    """A consistent read of (part of) the store, as plain data."""

    tenants: dict[int, Tenant] = field(default_factory=dict)
    groups: dict[int, Group] = field(default_factory=dict)
    phones: dict[int, Phone] = field(default_factory=dict)
    lines: dict[int, list[Line]] = field(default_factory=dict)  # by phone id, by position
    settings: dict[tuple[ScopeKind, int], Settings] = field(default_factory=dict)
    device_key: bytes = b""  # server secret for generated per-device values
    directory: Mapping[int, tuple[DirectoryEntry, ...]] = field(default_factory=dict)  # by tenant
    phonebooks: Mapping[int, dict[str, Phonebook]] = field(default_factory=dict)  # tenant → name
    # Active firmware sets by (vendor, label): what phones may be pointed at.
    firmware: dict[tuple[str, str], FirmwareSet] = field(default_factory=dict)

    def values(self, kind: ScopeKind, owner_id: int) -> Settings:
        """The values stored at one scope (empty when none)."""
        return self.settings.get((kind, owner_id), {})

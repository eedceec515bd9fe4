"""Settings resolution with provenance.

Theory of operation
-------------------
A phone's value for a setting comes from the first of these, read from the
most specific end:

    line → phone → groups (higher weight first) → tenant → platform preset → schema default

with two exceptions:

* **Locks.** A tenant or group may lock a value (a *policy*, seed 004). A
  locked tenant value beats every group, phone and line value; a locked
  group value beats every unlocked group value and every phone and line
  value. When several of a phone's groups lock the same setting, the
  highest-weight one wins, as for unlocked values. Stores refuse writes that
  a lock would shadow (:mod:`provisioner.store`), so in a consistent store a
  lock never hides a more specific value; resolution still lets the lock win
  if one slips through.
* **Generated values.** Settings marked ``generated`` (phone admin password)
  that nobody set get a per-device value derived from the server's device
  key with HMAC-SHA256, so every phone has its own strong password and
  re-rendering gives the same bytes (security goal 15).

Every resolved value carries its :class:`Source`; ``provisioner explain``
prints it. Groups are ordered by (weight, name) so equal weights still give
one deterministic answer.

Resolution is per family: a tenant value for a Polycom-only setting is
invisible to Yealink phones. The tenant/preset layer is cached per
(tenant, family) and the group layer per (tenant, family, set of groups), so
rendering ten thousand phones resolves each distinct layer once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from provisioner.catalog import Catalog, Family, ModelDef
from provisioner.chars import CONTROL_CHARS
from provisioner.domain import (
    DirectoryEntry,
    Group,
    Line,
    Phone,
    Phonebook,
    ScopeKind,
    Snapshot,
    StoredValue,
    Tenant,
)
from provisioner.errors import InputError
from provisioner.firmware import (
    LABEL_SETTING,
    UNMANAGED_SETTING,
    FirmwareChoice,
    choose_image,
    served_path,
)
from provisioner.settings import Key, SettingSpec, Value, as_int, parse_version

__all__ = [
    "LineView",
    "PhoneView",
    "Resolved",
    "Resolver",
    "Source",
    "SourceKind",
    "TraceStep",
    "generated_secret",
]

FIRMWARE_SETTING = "firmware.version"
DIRECTORY_SETTING = "directory.tenant_lines"
PHONEBOOKS_SETTING = "phonebooks"
POLICY_SETTING = "keys.policy"
# Every setting the key layout policy reads (docs/settings.md "Key layouts by policy").
POLICY_SETTINGS = (
    POLICY_SETTING,
    "keys.policy.scope",
    "keys.policy.exclude_own",
    "keys.policy.sort",
    "keys.policy.label",
    "keys.policy.after",
)
_MAX_LABEL = 64  # provisioner.settings._keys.MAX_LABEL
# 32 symbols, so 5 bits of the HMAC per character and no modulo bias; no
# I/O/0/1 because admins read these off a screen.
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_GENERATED_LENGTH = 16


class SourceKind(StrEnum):
    """The layer a resolved value came from, least specific first."""

    DEFAULT = "default"
    PRESET = "preset"
    GENERATED = "generated"
    TENANT = "tenant"
    GROUP = "group"
    PHONE = "phone"
    LINE = "line"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a value was set: kind, the scope's name, and whether it is locked."""

    kind: SourceKind
    name: str = ""
    locked: bool = False

    def __str__(self) -> str:
        text = f"{self.kind} {self.name}" if self.name else str(self.kind)
        return f"{text} (locked)" if self.locked else text


class Resolved(NamedTuple):
    """A resolved value and its source."""

    value: Value
    source: Source


class TraceStep(NamedTuple):
    """One layer's contribution to a setting, for ``explain SETTING``."""

    source: Source
    value: Value
    outcome: str  # "wins", "overridden", or why it was ignored


@dataclass(frozen=True, slots=True)
class LineView:
    """A line with its resolved line settings."""

    line: Line
    settings: dict[str, Resolved]

    @property
    def auth_user(self) -> str:
        """The user the line authenticates as: its own auth user, else its SIP user."""
        return self.line.auth_user or self.line.user

    def registrar(self, sip_domain: str) -> tuple[str, int, str]:
        """Where the line registers: host (the tenant's SIP domain unless
        ``sip.registrar.host`` is set), port and transport. Rendering and
        check-sync both take it from here, so they cannot disagree."""
        s = self.settings
        return (
            str(s["sip.registrar.host"].value) or sip_domain,
            as_int(s["sip.registrar.port"].value),
            str(s["sip.registrar.transport"].value),
        )


@dataclass(frozen=True, slots=True)
class PhoneView:
    """Everything rendering needs about one phone, with provenance.

    ``settings`` holds every setting applicable to the phone's family
    (line settings at phone level, i.e. without line overrides);
    ``gated`` names settings the phone's firmware version rules out and
    ``hidden`` the server settings (access control): templates see neither;
    ``directory`` is the tenant directory when ``directory.tenant_lines`` is on;
    ``phonebooks`` the tenant phonebooks the ``phonebooks`` setting names, in
    its order, and ``missing_phonebooks`` the names it gives that the tenant
    has no phonebook of (the phone cannot be rendered).
    ``policy_keys`` are the keys the ``keys.policy`` rule gives this phone
    (placed after its ``keys`` list, :mod:`provisioner.keylayout`).
    ``firmware`` is the image of the active set ``firmware.label`` names for
    the phone's vendor, if that set has one for its model; ``unmanaged`` the
    served paths of the active unmanaged set ``firmware.unmanaged`` names.
    """

    phone: Phone
    tenant: Tenant
    model: ModelDef
    family: Family
    groups: tuple[Group, ...]
    settings: dict[str, Resolved]
    lines: tuple[LineView, ...]
    gated: frozenset[str]
    hidden: frozenset[str]
    directory: tuple[DirectoryEntry, ...]
    firmware: FirmwareChoice | None = None
    unmanaged: tuple[str, ...] = ()
    phonebooks: tuple[Phonebook, ...] = ()
    missing_phonebooks: tuple[str, ...] = ()
    policy_keys: Collection[Key] = ()


class _PolicyOrder(NamedTuple):
    """A policy's keys for a tenant, in order, with their users (shared by its phones)."""

    keys: tuple[tuple[str, Key], ...]  # (user, key)
    users: frozenset[str]


class PolicyKeys(Collection[Key]):
    """A phone's policy keys: the shared ordered keys less its own users, never copied.

    Placement reads only as many as there are free keys, so a tenant of ten
    thousand lines costs each phone its free keys, not ten thousand.
    """

    __slots__ = ("_order", "_skip")

    def __init__(self, order: _PolicyOrder, skip: frozenset[str]) -> None:
        self._order = order
        self._skip = skip & order.users

    def __iter__(self) -> Iterator[Key]:
        skip = self._skip
        return (key for user, key in self._order.keys if user not in skip)

    def __len__(self) -> int:
        return len(self._order.keys) - len(self._skip)

    def __contains__(self, key: object) -> bool:
        return any(k == key for k in self)


def _policy_order(directory: tuple[DirectoryEntry, ...], sort: str, label: str) -> _PolicyOrder:
    """A BLF key per line user of the directory (once each), in the policy's order."""
    names: dict[str, str] = {}
    for entry in directory:
        names.setdefault(entry.user, entry.name)

    def labelled(user: str) -> str:
        # Display names may hold controls (imports carry them): spaces, as rendering does.
        text = names[user] if label == "display_name" else user
        return CONTROL_CHARS.sub(" ", text)[:_MAX_LABEL].strip()

    def by_extension(user: str) -> tuple[bool, int, str]:
        digits = user.isascii() and user.isdigit()
        return (not digits, int(user) if digits else 0, user)

    def by_label(user: str) -> tuple[str, tuple[bool, int, str]]:
        return (labelled(user).casefold(), by_extension(user))

    users = sorted(names, key=by_label if sort == "label" else by_extension)
    keys = tuple(
        (u, Key({"type": "blf", "value": u, **({"label": labelled(u)} if labelled(u) else {})}))
        for u in users
    )
    return _PolicyOrder(keys, frozenset(names))


def generated_secret(key: bytes, mac: str, name: str) -> str:
    """The per-device generated value of setting ``name`` for phone ``mac``."""
    digest = hmac.new(key, f"{name}\0{mac}".encode(), hashlib.sha256).digest()
    bits = int.from_bytes(digest, "big")
    return "".join(_ALPHABET[(bits >> (5 * i)) & 31] for i in range(_GENERATED_LENGTH))


class _Layered(NamedTuple):
    values: dict[str, Resolved]
    locked: frozenset[str]


class Resolver:
    """Resolves settings for the phones of one :class:`Snapshot`."""

    def __init__(self, catalog: Catalog, snapshot: Snapshot) -> None:
        self.catalog = catalog
        self.snapshot = snapshot
        self._base: dict[tuple[int, str], _Layered] = {}
        self._grouped: dict[tuple[int, str, tuple[int, ...]], _Layered] = {}
        self._line_names: dict[str, tuple[str, ...]] = {}
        self._generated: dict[str, tuple[str, ...]] = {}
        self._gated: dict[str, tuple[SettingSpec, ...]] = {}
        self._server: dict[str, frozenset[str]] = {}
        self._policies: dict[tuple[int, tuple[Value, ...]], _PolicyOrder] = {}
        self._books: dict[
            tuple[int, tuple[str, ...]], tuple[tuple[Phonebook, ...], tuple[str, ...]]
        ] = {}
        for key in catalog.families:
            specs = catalog.specs_for(key)
            self._line_names[key] = tuple(n for n, s in specs.items() if s.line)
            self._generated[key] = tuple(n for n, s in specs.items() if s.generated)
            self._gated[key] = tuple(s for s in specs.values() if s.min_firmware or s.max_firmware)
            self._server[key] = frozenset(n for n, s in specs.items() if s.server)

    def groups_of(self, phone: Phone) -> tuple[Group, ...]:
        """The phone's groups, least significant first (weight, then name)."""
        groups = (self.snapshot.groups[g] for g in phone.group_ids)
        return tuple(sorted(groups, key=lambda g: (g.weight, g.name)))

    def tenant_settings(self, tenant: Tenant) -> dict[str, Value]:
        """Common settings as they stand at the tenant itself (default → preset → tenant).

        The server uses these where no phone is involved yet: unknown
        devices, FTP logins, the tenant's URL token.
        """
        values: dict[str, Value] = {n: s.default for n, s in self.catalog.common.items()}
        preset = self.catalog.presets.get(tenant.platform)
        if preset is not None:
            values.update(preset.defaults)
        for name, stored in self.snapshot.values(ScopeKind.TENANT, tenant.id).items():
            if name in values:
                values[name] = stored.value
        return values

    def _base_layer(self, tenant: Tenant, family: Family) -> _Layered:
        cache_key = (tenant.id, family.key)
        cached = self._base.get(cache_key)
        if cached is not None:
            return cached
        specs = self.catalog.specs_for(family.key)
        values = {n: Resolved(s.default, Source(SourceKind.DEFAULT)) for n, s in specs.items()}
        preset = self.catalog.presets.get(tenant.platform)
        if preset is None:
            raise InputError(f"tenant {tenant.name}: unknown platform {tenant.platform!r}")
        preset_source = Source(SourceKind.PRESET, preset.name)
        for name, value in preset.defaults.items():
            if name in specs:
                values[name] = Resolved(value, preset_source)
        locked: set[str] = set()
        for name, stored in self.snapshot.values(ScopeKind.TENANT, tenant.id).items():
            if self.catalog.applies_to(name, family):
                values[name] = Resolved(
                    stored.value, Source(SourceKind.TENANT, tenant.name, stored.locked)
                )
                if stored.locked:
                    locked.add(name)
        layered = _Layered(values, frozenset(locked))
        self._base[cache_key] = layered
        return layered

    def _group_layer(self, tenant: Tenant, family: Family, groups: tuple[Group, ...]) -> _Layered:
        cache_key = (tenant.id, family.key, tuple(g.id for g in groups))
        cached = self._grouped.get(cache_key)
        if cached is not None:
            return cached
        base = self._base_layer(tenant, family)
        if not groups:
            self._grouped[cache_key] = base
            return base
        values = dict(base.values)
        group_locked: set[str] = set()
        for group in groups:
            for name, stored in self.snapshot.values(ScopeKind.GROUP, group.id).items():
                if name in base.locked or not self.catalog.applies_to(name, family):
                    continue
                if name in group_locked and not stored.locked:
                    continue
                source = Source(SourceKind.GROUP, f"{tenant.name}/{group.name}", stored.locked)
                values[name] = Resolved(stored.value, source)
                if stored.locked:
                    group_locked.add(name)
        layered = _Layered(values, base.locked | group_locked)
        self._grouped[cache_key] = layered
        return layered

    def phone(self, phone: Phone) -> PhoneView:
        """Resolve every setting of ``phone`` and of its lines."""
        tenant = self.snapshot.tenants[phone.tenant_id]
        model = self.catalog.model(phone.model)
        family = self.catalog.family_of(model)
        groups = self.groups_of(phone)
        layered = self._group_layer(tenant, family, groups)
        values = dict(layered.values)
        phone_source = Source(SourceKind.PHONE, phone.mac)
        for name, stored in self.snapshot.values(ScopeKind.PHONE, phone.id).items():
            if name not in layered.locked and self.catalog.applies_to(name, family):
                values[name] = Resolved(stored.value, phone_source)
        for name in self._generated[family.key]:
            if values[name].source.kind is SourceKind.DEFAULT:
                secret = generated_secret(self.snapshot.device_key, phone.mac, name)
                values[name] = Resolved(secret, Source(SourceKind.GENERATED, "per-device"))
        line_names = self._line_names[family.key]
        lines = []
        for line in self.snapshot.lines.get(phone.id, ()):
            line_values = {name: values[name] for name in line_names}
            line_source = Source(SourceKind.LINE, f"{phone.mac}/{line.position}")
            for name, stored in self.snapshot.values(ScopeKind.LINE, line.id).items():
                if name in line_values and name not in layered.locked:
                    line_values[name] = Resolved(stored.value, line_source)
            lines.append(LineView(line, line_values))
        books, missing = self._phonebooks(tenant, values)
        return PhoneView(
            phone=phone,
            tenant=tenant,
            model=model,
            family=family,
            groups=groups,
            settings=values,
            lines=tuple(lines),
            gated=self._gated_names(family, values),
            hidden=self._server[family.key],
            directory=self.snapshot.directory.get(tenant.id, ())
            if values[DIRECTORY_SETTING].value
            else (),
            firmware=self._firmware(family, model, values),
            unmanaged=self._unmanaged(family, values),
            phonebooks=books,
            missing_phonebooks=missing,
            policy_keys=self._policy_keys(tenant, values, lines),
        )

    def _policy_keys(
        self, tenant: Tenant, values: dict[str, Resolved], lines: list[LineView]
    ) -> Collection[Key]:
        """The BLF keys the phone's ``keys.policy`` gives it (docs/settings.md)."""
        if POLICY_SETTING not in values or values[POLICY_SETTING].value != "blf":
            return ()
        rule = tuple(values[n].value for n in POLICY_SETTINGS)
        cache_key = (tenant.id, rule)
        ordered = self._policies.get(cache_key)
        if ordered is None:
            # Once per tenant and rule: phones only filter out their own lines.
            group = str(rule[1])
            ordered = self._policies[cache_key] = _policy_order(
                tuple(
                    e
                    for e in self.snapshot.directory.get(tenant.id, ())
                    if not group or group in e.groups
                ),
                str(rule[3]),
                str(rule[4]),
            )
        if not values["keys.policy.exclude_own"].value:
            return PolicyKeys(ordered, frozenset())
        return PolicyKeys(ordered, frozenset(lv.line.user for lv in lines))

    def _phonebooks(
        self, tenant: Tenant, values: dict[str, Resolved]
    ) -> tuple[tuple[Phonebook, ...], tuple[str, ...]]:
        """The phonebooks the phone's ``phonebooks`` setting names, and the names not found."""
        value = values[PHONEBOOKS_SETTING].value if PHONEBOOKS_SETTING in values else ()
        names = tuple(n for n in value if isinstance(n, str)) if isinstance(value, tuple) else ()
        if not names:
            return (), ()
        key = (tenant.id, names)
        found = self._books.get(key)
        if found is None:
            books = self.snapshot.phonebooks.get(tenant.id, {})
            # One tuple per distinct value: phones given the same books share the
            # object, which lets the renderer render their phonebook file once.
            found = self._books[key] = (
                tuple(books[n] for n in names if n in books),
                tuple(n for n in names if n not in books),
            )
        return found

    def _firmware(
        self, family: Family, model: ModelDef, values: dict[str, Resolved]
    ) -> FirmwareChoice | None:
        label = values[LABEL_SETTING].value if LABEL_SETTING in values else ""
        found = self.snapshot.firmware.get((family.vendor, str(label))) if label else None
        if found is None or found.kind != "firmware":
            return None
        file = choose_image(family.firmware, model.vars, (f.path for f in found.files))
        if file is None:
            return None
        return FirmwareChoice(
            vendor=found.vendor,
            label=found.label,
            version=found.version,
            file=file,
            path=served_path(found.vendor, found.label, file),
            root=family.firmware.root,
        )

    def _unmanaged(self, family: Family, values: dict[str, Resolved]) -> tuple[str, ...]:
        label = values[UNMANAGED_SETTING].value if UNMANAGED_SETTING in values else ""
        found = self.snapshot.firmware.get((family.vendor, str(label))) if label else None
        if found is None or found.kind != "unmanaged":
            return ()
        return tuple(served_path(found.vendor, found.label, f.path) for f in found.files)

    def _gated_names(self, family: Family, values: dict[str, Resolved]) -> frozenset[str]:
        specs = self._gated[family.key]
        if not specs:
            return frozenset()
        version = values[FIRMWARE_SETTING].value
        firmware = parse_version(version) if isinstance(version, str) and version else None
        return frozenset(s.name for s in specs if s.gated_out(firmware))

    def trace(self, view: PhoneView, name: str, line: LineView | None = None) -> list[TraceStep]:
        """Every layer that holds a value for ``name``, least specific first.

        The step whose source matches the resolved value ``wins``; earlier
        steps are ``overridden``; later steps are ignored because of a lock.
        """
        spec = self.catalog.specs_for(view.family.key).get(name)
        steps: list[tuple[Source, Value]] = []
        if spec is not None:
            steps.append((Source(SourceKind.DEFAULT), spec.default))
        preset = self.catalog.presets[view.tenant.platform]
        if name in preset.defaults:
            steps.append((Source(SourceKind.PRESET, preset.name), preset.defaults[name]))
        scoped: list[tuple[Source, StoredValue | None]] = [
            (
                Source(SourceKind.TENANT, view.tenant.name),
                self.snapshot.values(ScopeKind.TENANT, view.tenant.id).get(name),
            )
        ]
        for group in view.groups:
            scoped.append(
                (
                    Source(SourceKind.GROUP, f"{view.tenant.name}/{group.name}"),
                    self.snapshot.values(ScopeKind.GROUP, group.id).get(name),
                )
            )
        scoped.append(
            (
                Source(SourceKind.PHONE, view.phone.mac),
                self.snapshot.values(ScopeKind.PHONE, view.phone.id).get(name),
            )
        )
        if line is not None:
            scoped.append(
                (
                    Source(SourceKind.LINE, f"{view.phone.mac}/{line.line.position}"),
                    self.snapshot.values(ScopeKind.LINE, line.line.id).get(name),
                )
            )
        for source, stored in scoped:
            if stored is not None:
                steps.append((Source(source.kind, source.name, stored.locked), stored.value))
        resolved = (line.settings if line is not None else view.settings).get(name)
        if resolved is not None and resolved.source.kind is SourceKind.GENERATED:
            steps.append((resolved.source, resolved.value))
        result: list[TraceStep] = []
        winner_seen = False
        for source, value in steps:
            if resolved is not None and source == resolved.source and not winner_seen:
                winner_seen = True
                result.append(TraceStep(source, value, "wins"))
            elif winner_seen:
                assert resolved is not None
                result.append(TraceStep(source, value, f"ignored: locked at {resolved.source}"))
            else:
                result.append(TraceStep(source, value, "overridden"))
        return result

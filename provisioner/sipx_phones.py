"""sipXconfig's PhoneService (seed 003 §13.6) on our service layer: add, find, manage phones.

The SOAP endpoint (:mod:`provisioner.api._soap`) reads a request into the
dataclasses here and calls :func:`add_phone`, :func:`find_phones` or
:func:`manage_phones`; nothing here knows XML. Every write goes through
:class:`provisioner.edits.Edits` (one transaction per request, through
:func:`provisioner.preview.run_changes`, so a request is applied whole or
not at all) and every entry is checked by the fleet file's own parser
(:func:`provisioner.fleet.parse_phone_entry`), so a phone added here obeys
the same rules, and is refused in the same words, as one added by the REST
API or a fleet file. Profiles are sent by :func:`provisioner.send_profiles.send_profiles`.

Where sipXconfig and provisioner differ (docs/sipxcom-soap.md):

* a sipXcom system is one SIP domain; a request acts in one tenant (the
  caller chooses it, :mod:`provisioner.api._soap`);
* ``modelId`` takes a sipXconfig model id (a model alias) or ours, and
  ``findPhone`` answers the sipXconfig id when the model has one;
* ``deviceVersion`` is the phone's ``firmware.version`` setting
  (``polycom4.0.X`` is read as ``4.0``);
* ``generateProfiles`` queues a resync check-sync job and ``restart`` a
  reboot job (files are rendered from the store, so there is nothing to
  generate: the phones are told to fetch them again).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provisioner.catalog import Catalog
from provisioner.domain import ScopeKind
from provisioner.edits import Edits
from provisioner.entities import find_phone
from provisioner.errors import ConflictError, InputError, NotFoundError
from provisioner.fleet import line_entry, parse_line_entry, parse_phone_entry
from provisioner.mac import parse_mac
from provisioner.notify import Event
from provisioner.preview import run_changes
from provisioner.scope import ScopeRef
from provisioner.send_profiles import QueuedJob, send_profiles
from provisioner.sip_users import get_user, line_for
from provisioner.state import GroupState, LineState, Part, PhoneState, TenantState
from provisioner.store import Store, TenantSession

__all__ = [
    "EDITABLE",
    "ExternalLine",
    "ManagePhone",
    "PhoneSearch",
    "SipxLine",
    "SipxPhone",
    "add_phone",
    "find_phones",
    "manage_phones",
]

# The Phone fields ``managePhone``'s ``edit`` may change (the WSDL's Phone type
# less its lists, which have their own operations).
EDITABLE = ("serialNumber", "modelId", "description", "deviceVersion")
# sipXconfig's device versions name a firmware line: polycom4.0.X, polycom3.1.X.
_DEVICE_VERSION = re.compile(r"[A-Za-z]*([0-9]+(?:\.[0-9]+)*)(?:\.[Xx])?")


@dataclass(frozen=True, slots=True)
class SipxLine:
    """A line as sipXconfig names it: the user and the SIP URI."""

    user_id: str
    uri: str


@dataclass(slots=True)
class SipxPhone:
    """The WSDL's Phone."""

    serial_number: str
    model_id: str
    description: str | None = None
    groups: list[str] = field(default_factory=list)
    lines: list[SipxLine] = field(default_factory=list)
    device_version: str | None = None


@dataclass(frozen=True, slots=True)
class ExternalLine:
    """The WSDL's AddExternalLine: a line with its own credentials and registrar."""

    user_id: str
    registration_server: str
    display_name: str | None = None
    password: str | None = None
    voicemail: str | None = None


@dataclass(frozen=True, slots=True)
class PhoneSearch:
    """The WSDL's PhoneSearch; neither given: every phone of the tenant."""

    serial_number: str | None = None
    group: str | None = None

    def describe(self, tenant: str) -> str:
        """The check-sync job's selector text."""
        if self.serial_number is not None:
            return f"phone {parse_mac(self.serial_number)}"
        if self.group is not None:
            return f"group {tenant}/{self.group}"
        return f"tenant {tenant}"


@dataclass(slots=True)
class ManagePhone:
    """The WSDL's ManagePhone: what to do to the phones a search finds."""

    search: PhoneSearch
    edits: list[tuple[str, str | None]] = field(default_factory=list)
    delete: bool = False
    add_group: str | None = None
    remove_group: str | None = None
    add_line: SipxLine | None = None
    add_external_line: ExternalLine | None = None
    remove_line_by_user_id: str | None = None
    remove_line_by_uri: str | None = None
    generate_profiles: bool = False
    restart: bool = False

    def writes(self) -> bool:
        """Whether anything is stored (beside a check-sync job)."""
        return bool(
            self.edits
            or self.delete
            or self.add_group
            or self.remove_group
            or self.add_line
            or self.add_external_line
            or self.remove_line_by_user_id
            or self.remove_line_by_uri
        )


# --- addPhone -----------------------------------------------------------------------


def add_phone(
    store: Store,
    edits: Edits,
    tenant: str,
    phone: SipxPhone,
) -> None:
    """Create a phone with its groups (made when missing) and lines, in one transaction."""
    state = store.tenants.state(tenant, Part())
    entry: dict[str, Any] = {
        "tenant": tenant,
        "mac": phone.serial_number,
        "model": phone.model_id,
        "groups": list(dict.fromkeys(phone.groups)),
        "lines": [
            {**_internal_line(store, state, line, "phone.lines"), "position": n}
            for n, line in enumerate(phone.lines, 1)
        ],
    }
    if phone.description is not None:
        entry["description"] = phone.description
    if phone.device_version is not None:
        entry["settings"] = {"firmware.version": device_version(phone.device_version)}
    _, parsed = parse_phone_entry(entry, store.tenants.catalog, "phone")

    def operations(writer: Edits) -> None:
        for name in parsed.groups:
            if name not in state.groups:
                writer.groups.create(tenant, GroupState(name))
        writer.phones.create(tenant, parsed)

    run_changes(store, edits, operations, dry_run=False)


# --- findPhone ------------------------------------------------------------------------


def find_phones(store: Store, tenant: str, search: PhoneSearch) -> list[SipxPhone]:
    """The tenant's phones the search names, by MAC (none found is an empty list)."""
    if search.serial_number is not None:
        mac = parse_mac(search.serial_number)
        try:
            owner = store.tenants.tenant_of(mac)
        except NotFoundError:
            return []
        if owner != tenant:
            return []  # another tenant's phone is not this caller's to see
        state = store.tenants.state(tenant, Part(frozenset({mac})))
    elif search.group is not None:
        state = store.tenants.state(tenant, Part(groups=frozenset({search.group})))
    else:
        state = store.tenants.state(tenant)
    catalog = store.tenants.catalog
    return [
        sipx_phone(catalog, state, phone)
        for phone in sorted(state.phones.values(), key=lambda p: p.mac)
        if search.group is None or search.group in phone.groups
    ]


def sipx_phone(catalog: Catalog, state: TenantState, phone: PhoneState) -> SipxPhone:
    """A phone as the WSDL's Phone: sipXconfig's model id, lines as user and URI."""
    model = catalog.model(phone.model)
    version = phone.settings.get("firmware.version")
    return SipxPhone(
        serial_number=phone.mac,
        model_id=model.aliases[0] if model.aliases else model.id,
        description=phone.description or None,
        groups=sorted(phone.groups),
        lines=[SipxLine(line.user, line_uri(state, line)) for line in phone.lines],
        device_version=str(version) if version else None,
    )


def line_uri(state: TenantState, line: LineState) -> str:
    """``user@host``: the line's registrar, else its tenant's SIP domain."""
    host = line.settings.get("sip.registrar.host") or state.sip_domain
    return f"{line.user}@{host}"


# --- managePhone ----------------------------------------------------------------------


def manage_phones(
    store: Store,
    edits: Edits,
    tenant: str,
    manage: ManagePhone,
    now: float,
) -> QueuedJob | None:
    """Apply ``manage`` to the phones its search finds, in one transaction; then queue
    the check-sync job it asks for (``None``: none asked, or no enabled phone found).

    Within a phone the changes go in this order: ``edit``, ``removeGroup``,
    ``addGroup``, ``removeLineByUserId``, ``removeLineByUri``, ``addLine``,
    ``addExternalLine`` (so one request can replace a line).
    """
    _check(manage)
    state = _selected(store, tenant, manage.search)
    macs = sorted(state.phones)
    if any(name == "serialNumber" for name, _ in manage.edits) and len(macs) != 1:
        raise ConflictError(
            f"edit serialNumber names one phone; the search found {len(macs)} phones"
        )
    if manage.writes() and macs:
        plans = [_plan(store, state, manage, mac) for mac in macs]

        def operations(writer: Edits) -> None:
            if manage.add_group and manage.add_group not in state.groups:
                writer.groups.create(tenant, GroupState(manage.add_group))
            for index, plan in enumerate(plans):
                plan(writer)
                if index == 0:
                    _read_ahead(writer, tenant, macs)

        run_changes(store, edits, operations, dry_run=False)
    if not (manage.generate_profiles or manage.restart) or manage.delete:
        return None
    final = [_renamed(manage, mac) for mac in macs]
    phones = store.tenants.phones_for(macs=final) if final else []
    if not phones:
        return None
    event: Event = "reboot" if manage.restart else "resync"
    return send_profiles(
        store,
        store.tenants.catalog,
        phones,
        selector=manage.search.describe(tenant),
        event=event,
        now=now,
        actor=edits.actor,
    )


def _read_ahead(writer: Edits, tenant: str, macs: list[str]) -> None:
    """Read every phone the request changes into its transaction at once.

    Each edit reads the phone it changes; the session then loads phones one
    at a time, a few queries each. Once the first edit has opened the
    tenant in the session, asking for all of them loads the rest together
    (measured on 300 phones of a group: 8.2 s → 2.7 s, docs/sipxcom-soap.md).
    """
    session = writer.tenant_writer
    if isinstance(session, TenantSession) and len(macs) > 1:
        session.state(tenant, Part(frozenset(macs)))


def _check(manage: ManagePhone) -> None:
    if manage.delete:
        if not _only_delete(manage):
            raise InputError("deletePhone cannot be combined with other changes in one request")
        if manage.search.serial_number is None and manage.search.group is None:
            raise InputError("deletePhone needs a search (bySerialNumber or byGroup)")
    names = [name for name, _ in manage.edits]
    for name in names:
        if name not in EDITABLE:
            raise InputError(
                f"edit: unknown property {name!r}; expected one of {', '.join(EDITABLE)}"
            )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"edit: property {repeated[0]!r} is given twice")


def _only_delete(manage: ManagePhone) -> bool:
    return not (
        manage.edits
        or manage.add_group
        or manage.remove_group
        or manage.add_line
        or manage.add_external_line
        or manage.remove_line_by_user_id
        or manage.remove_line_by_uri
        or manage.generate_profiles
        or manage.restart
    )


def _selected(store: Store, tenant: str, search: PhoneSearch) -> TenantState:
    """The tenant with the phones the search finds (an unknown phone or group: not found)."""
    if search.serial_number is not None:
        mac = parse_mac(search.serial_number)
        if store.tenants.tenant_of(mac) != tenant:
            raise NotFoundError(f"no phone with MAC {mac}")
        state = store.tenants.state(tenant, Part(frozenset({mac})))
    elif search.group is not None:
        state = store.tenants.state(tenant, Part(groups=frozenset({search.group})))
        if search.group not in state.groups:
            raise NotFoundError(f"no group {tenant}/{search.group}")
    else:
        state = store.tenants.state(tenant)
    if search.group is not None:
        state.phones = {m: p for m, p in state.phones.items() if search.group in p.groups}
    return state


def _renamed(manage: ManagePhone, mac: str) -> str:
    """The phone's MAC once ``edit serialNumber`` is applied."""
    for name, value in manage.edits:
        if name == "serialNumber":
            return parse_mac(value or "")
    return mac


def _plan(
    store: Store, state: TenantState, manage: ManagePhone, mac: str
) -> Callable[[Edits], None]:
    """The edits ``manage`` makes of one phone, checked now and made in the transaction."""
    phone = find_phone(state, mac)
    if manage.delete:
        return lambda writer: writer.phones.remove(mac)
    fields = dict(manage.edits)
    renamed = _renamed(manage, mac)
    # A nil or empty value clears a description or device version; a model is required.
    description = (fields["description"] or "") if "description" in fields else None
    model = None
    if "modelId" in fields:
        model = store.tenants.catalog.model(fields["modelId"] or "").id
    groups = [g for g in phone.groups if g != manage.remove_group]
    if manage.add_group and manage.add_group not in groups:
        groups.append(manage.add_group)
    removed = _lines_to_remove(state, phone, manage)
    added = []
    if manage.add_line is not None:
        entry = _internal_line(store, state, manage.add_line, "addLine")
        added.append(parse_line_entry(entry, "addLine"))
    if manage.add_external_line is not None:
        added.append(parse_line_entry(external_line(manage.add_external_line), "addExternalLine"))

    def apply(writer: Edits) -> None:
        target = mac
        if renamed != mac:
            moved = PhoneState(**{**_fields(phone), "mac": renamed})
            writer.phones.remove(mac)
            writer.phones.create(state.name, moved)
            target = renamed
        if model is not None or description is not None or groups != phone.groups:
            writer.phones.update(target, model=model, description=description, groups=groups)
        if "deviceVersion" in fields:
            _set_version(writer, target, fields["deviceVersion"])
        for position in removed:
            writer.lines.remove(target, position)
        for line in added:
            writer.lines.add(target, LineState(**{**_fields(line), "position": 0}))

    return apply


def _fields(item: PhoneState | LineState) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__slots__}


def _set_version(writer: Edits, mac: str, text: str | None) -> None:
    scope = ScopeRef(ScopeKind.PHONE, mac=mac)
    if text:
        writer.settings.set(scope, "firmware.version", device_version(text))
    else:
        # An empty deviceVersion on a phone without one: nothing to clear.
        with contextlib.suppress(NotFoundError):
            writer.settings.unset(scope, "firmware.version")


def _lines_to_remove(state: TenantState, phone: PhoneState, manage: ManagePhone) -> list[int]:
    """Positions of the lines removeLineByUserId and removeLineByUri name (none: fine)."""
    positions = []
    wanted_uri = _bare_uri(manage.remove_line_by_uri) if manage.remove_line_by_uri else None
    by_user = manage.remove_line_by_user_id
    for line in phone.lines:
        if line.user == by_user or (
            wanted_uri is not None and _bare_uri(line_uri(state, line)) == wanted_uri
        ):
            positions.append(line.position)
    return positions


def _bare_uri(uri: str) -> str:
    """``sip:221@Example.COM`` → ``221@example.com`` (hosts ignore case: RFC 3261 §19.1.4)."""
    text = uri.strip()
    if text.lower().startswith("sip:"):
        text = text[4:]
    user, at, host = text.rpartition("@")
    return f"{user}@{host.lower()}" if at else text


def _internal_line(store: Store, state: TenantState, line: SipxLine, where: str) -> dict[str, Any]:
    """The line entry of a tenant's user: its credentials and names from the user store
    (:mod:`provisioner.sip_users`); an unknown user is not found."""
    user = line.user_id.strip()
    if not user:
        raise InputError(f"{where}.userId: empty; name one of the tenant's users")
    uri = _bare_uri(line.uri) if line.uri.strip() else ""
    if uri:
        uri_user, _, host = uri.rpartition("@")
        if uri_user and uri_user != user:
            raise InputError(f"{where}.uri: {line.uri!r} names user {uri_user!r}, userId {user!r}")
        if host and host != state.sip_domain.lower():
            raise InputError(
                f"{where}.uri: {line.uri!r} is not in tenant {state.name}'s SIP domain "
                f"{state.sip_domain}; a line of another registrar is an addExternalLine"
            )
    return line_entry(line_for(get_user(store, state.name, user)))


def external_line(line: ExternalLine) -> dict[str, Any]:
    """The line entry of an addExternalLine: its own credentials and registrar."""
    settings: dict[str, Any] = {}
    host, _, port = line.registration_server.strip().partition(":")
    settings["sip.registrar.host"] = host
    if port:
        if not port.isdigit():
            raise InputError(
                f"addExternalLine.registrationServer: {line.registration_server!r} "
                "is not HOST or HOST:PORT"
            )
        settings["sip.registrar.port"] = int(port)
    if line.voicemail:
        settings["voicemail.number"] = line.voicemail
    entry: dict[str, Any] = {"user": line.user_id, "auth_user": line.user_id, "settings": settings}
    if line.display_name:
        entry["display_name"] = line.display_name
    if line.password:
        entry["password"] = line.password
    return entry


def device_version(text: str) -> str:
    """sipXconfig's device version as our ``firmware.version``: ``polycom4.0.X`` → ``4.0``."""
    found = _DEVICE_VERSION.fullmatch(text.strip())
    if found is None:
        return text.strip()  # the setting's own check names what it accepts
    return found.group(1)

"""The fleet file: a declarative description of tenants, groups, phones and lines.

:func:`parse_fleet` turns a JSON or TOML document into tenant states and
reports every structural problem with its location (``phones[3].lines[0]``);
the store's ``apply`` then validates the states against the catalog and
writes them in one transaction. :func:`export_fleet` is the inverse, so
``export-fleet`` followed by ``apply`` changes nothing. The format is
documented in docs/fleet-file.md; its ``phonebooks`` in docs/phonebooks.md.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from provisioner.catalog import Catalog
from provisioner.chars import SURROGATES, decode_utf8
from provisioner.domain import Phonebook, PhonebookEntry
from provisioner.errors import EncodingError, InputError, Problem, ValidationFailed
from provisioner.mac import parse_mac
from provisioner.phonebook_files import CSV_COLUMNS, MAX_ENTRIES, entry_columns, entry_of
from provisioner.phonebooks import check_phonebook_name, guess_format, read_phonebook_file
from provisioner.settings import Value, parse_keys
from provisioner.state import GroupState, LineState, PhoneState, TenantState
from provisioner.validate import check_free_text

__all__ = [
    "FORMAT_VERSION",
    "export_fleet",
    "fleet_text",
    "group_entry",
    "line_entry",
    "load_fleet",
    "parse_fleet",
    "parse_group_entry",
    "parse_line_entry",
    "parse_phone_entry",
    "parse_tenant_entry",
    "phone_entry",
    "phonebook_entry",
    "read_fleet_text",
    "tenant_entry",
]

FORMAT_VERSION = 1
_T = TypeVar("_T")
# A JSON escape of a surrogate code point (RFC 8259 section 7: "\uD834"), or something like one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

# Shorthand keys and the settings they stand for. Each is optional; a key
# and the setting it stands for may not both be given.
_ENDPOINTS = {
    "registrar": ("sip.registrar", ("host", "port", "transport")),
    "outbound_proxy": ("sip.outbound_proxy", ("host", "port")),
    "secondary_outbound_proxy": ("sip.secondary_outbound_proxy", ("host", "port")),
}
_NTP = ("time.ntp_server", "time.ntp_server_secondary")
_SCALARS = {
    "time_zone": "time.zone",
    "voicemail_number": "voicemail.number",
    "keys": "keys",  # docs/settings.md "Keys"
}
_LINE_SHORTHANDS = ("registrar", "outbound_proxy", "secondary_outbound_proxy", "voicemail_number")
_FULL = (*_ENDPOINTS, "ntp_servers", "time_zone", "voicemail_number", "keys")


class _Reader:
    """Reads one JSON/TOML object with typed accessors, recording problems."""

    def __init__(self, data: object, where: str, problems: list[Problem]) -> None:
        self.where = where
        self.problems = problems
        self.ok = isinstance(data, dict)
        self.data: dict[str, Any] = dict(data) if isinstance(data, dict) else {}
        if not self.ok:
            self.problem("", f"expected an object, got {_kind(data)}")

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(f"{self.where}.{key}" if key else self.where, message))

    def get(self, key: str, kind: type, default: Any, *, required: bool = False) -> Any:
        if key not in self.data:
            if required:
                self.problem(key, "is required")
            return default
        value = self.data.pop(key)
        # A JSON true is not a number; a number is not text.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            self.problem(key, f"expected {kind.__name__}, got {_kind(value)}")
            return default
        return value

    def settings(self, key: str = "settings") -> dict[str, Value]:
        raw = self.get(key, dict, {})
        result: dict[str, Value] = {}
        for name, value in raw.items():
            try:
                result[name] = _setting_value(value)
            except InputError as exc:
                self.problem(f"{key}.{name}", str(exc))
        return result

    def names(self, key: str) -> list[str]:
        values = self.get(key, list, [])
        if not all(isinstance(v, str) for v in values):
            self.problem(key, "expected a list of names")
            return []
        return list(values)

    def shorthands(self, keys: Iterable[str], settings: dict[str, Value]) -> None:
        """Fold shorthand keys (``registrar``, ``time_zone``, …) into ``settings``."""

        def put(key: str, name: str, value: Any) -> None:
            if name in settings:
                self.problem(key, f"sets {name}, which settings also sets; give it once")
                return
            try:
                settings[name] = _setting_value(value)
            except InputError as exc:
                self.problem(key, str(exc))

        for key in keys:
            if key not in self.data:
                continue
            value = self.data.pop(key)
            if key in _ENDPOINTS:
                prefix, fields = _ENDPOINTS[key]
                sub = _Reader(value, f"{self.where}.{key}", self.problems)
                for field in fields:
                    if field in sub.data:
                        put(f"{key}.{field}", f"{prefix}.{field}", sub.data.pop(field))
                sub.done()
            elif key == "ntp_servers":
                if not isinstance(value, list) or not 1 <= len(value) <= len(_NTP):
                    self.problem(key, f"expected a list of 1 to {len(_NTP)} host names")
                    continue
                for index, host in enumerate(value):
                    put(f"{key}[{index}]", _NTP[index], host)
            else:
                put(key, _SCALARS[key], value)

    def done(self) -> None:
        for key in sorted(self.data):
            self.problem(key, "unknown key")


_SETTING_KINDS = "a boolean, integer, text, a list of text or a list of keys"


def _setting_value(value: object) -> Value:
    """A document's setting value as stored (a list becomes a tuple; objects, keys)."""
    if isinstance(value, bool | int | str):
        return value
    # A tuple comes from a stored entry (an API PATCH merges into it), a list from a document.
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    if isinstance(value, list | tuple) and all(isinstance(item, dict) for item in value):
        return parse_keys(value)
    raise InputError(f"expected {_SETTING_KINDS}, got {_kind(value)}")


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "a boolean", int: "an integer"}
    return names.get(type(value), type(value).__name__)


def load_fleet(path: Path) -> dict[str, Any]:
    """Read a fleet file: TOML when the name ends in ``.toml``, JSON otherwise.

    :raises EncodingError: the file is not UTF-8, or holds a lone surrogate.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    # Decoded here, strictly: json.loads(bytes) would let UTF-8-encoded
    # surrogates through ("surrogatepass"). A byte order mark is skipped.
    text = decode_utf8(raw, str(path)).removeprefix("\ufeff")
    return read_fleet_text(text, toml=path.suffix.lower() == ".toml", name=str(path))


def read_fleet_text(text: str, *, toml: bool, name: str) -> dict[str, Any]:
    """A fleet document from its text, TOML or JSON (``name`` says where it came from).

    :raises EncodingError: the text holds a lone surrogate.
    """
    try:
        data: object = tomllib.loads(text) if toml else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{name}: {exc}") from None
    except RecursionError:
        raise InputError(f"{name}: nested too deeply") from None
    if not isinstance(data, dict):
        raise InputError(f"{name}: the top level must be an object")
    # JSON escapes may still spell one ("\ud800"); TOML's parser refuses them. Walking
    # the document (to say where) is needed only when the text holds one or an escape
    # that may spell one: one scan of the text instead of a call per value.
    if SURROGATES.search(text) or _SURROGATE_ESCAPE.search(text):
        found = _surrogate(data, "")
        if found is not None:
            raise EncodingError(f"{name}: {found}")
    return data


def _surrogate(value: object, where: str) -> str | None:
    """Where the first lone surrogate of a decoded document is, and which, or None."""
    if isinstance(value, str):
        match = SURROGATES.search(value)
        if match is None:
            return None
        return (
            f"{where}: U+{ord(match.group()):04X} at position {match.start()} is a lone "
            "surrogate, not a character"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            found = _surrogate(key, f"a key of {where or 'the document'}")
            found = found or _surrogate(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _surrogate(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None


def parse_fleet(
    document: dict[str, Any], catalog: Catalog, base: Path | None = None
) -> list[TenantState]:
    """Turn a fleet document into tenant states.

    ``base`` is the directory of a fleet file read from disk: a phonebook's
    ``file`` is read relative to it; without it (a request body) ``file`` is
    refused.

    :raises ValidationFailed: with every structural problem found.
    """
    problems: list[Problem] = []
    top = _Reader(document, "", problems)
    top.where = "fleet"
    version = top.get("version", int, FORMAT_VERSION)
    if version != FORMAT_VERSION:
        top.problem(
            "version", f"unsupported format version {version}; this server reads {FORMAT_VERSION}"
        )
    tenants: dict[str, TenantState] = {}
    for index, item in enumerate(top.get("tenants", list, [])):
        state = _tenant(_Reader(item, f"tenants[{index}]", problems))
        if state is None:
            continue
        if state.name in tenants:
            problems.append(Problem(state.where, f"tenant {state.name!r} is listed twice"))
        tenants[state.name] = state
    for index, item in enumerate(top.get("groups", list, [])):
        _group(_Reader(item, f"groups[{index}]", problems), tenants)
    seen_macs: dict[str, str] = {}
    for index, item in enumerate(top.get("phones", list, [])):
        _phone(_Reader(item, f"phones[{index}]", problems), tenants, catalog, seen_macs)
    if "phonebooks" in top.data:
        # Given at all (even empty): every listed tenant's books are made to
        # match the file, like its groups; absent: books are left alone.
        for state in tenants.values():
            state.phonebooks = {}
        for index, item in enumerate(top.get("phonebooks", list, [])):
            _phonebook(_Reader(item, f"phonebooks[{index}]", problems), tenants, base)
    top.done()
    if problems:
        raise ValidationFailed(problems)
    return list(tenants.values())


def _one(reader: _Reader, state: _T | None) -> _T:
    """``state`` parsed from one entry, or every problem found in it."""
    if reader.problems or state is None:
        raise ValidationFailed(reader.problems or [Problem(reader.where, "is not valid")])
    return state


def parse_tenant_entry(data: object, where: str = "body") -> TenantState:
    """One tenant's entry (as under ``tenants`` in a fleet file), e.g. an API request body.

    :raises ValidationFailed: with every problem, located under ``where``.
    """
    reader = _Reader(data, where, [])
    return _one(reader, _tenant(reader) if reader.ok else None)


def parse_group_entry(data: object, where: str = "body") -> tuple[str, GroupState]:
    """One group's entry: its tenant's name and the group."""
    reader = _Reader(data, where, [])
    if not reader.ok:
        return _one(reader, None)
    tenant = reader.get("tenant", str, "", required=True)
    holder = {tenant: TenantState(tenant, "")} if tenant else {}
    reader.data["tenant"] = tenant
    _group(reader, holder)
    return tenant, _one(
        reader, next(iter(holder[tenant].groups.values()), None) if tenant else None
    )


def parse_phone_entry(
    data: object, catalog: Catalog, where: str = "body"
) -> tuple[str, PhoneState]:
    """One phone's entry with its lines: its tenant's name and the phone (MAC canonical)."""
    reader = _Reader(data, where, [])
    if not reader.ok:
        return _one(reader, None)
    tenant = reader.get("tenant", str, "", required=True)
    holder = {tenant: TenantState(tenant, "")} if tenant else {}
    reader.data["tenant"] = tenant
    _phone(reader, holder, catalog, {})
    return tenant, _one(
        reader, next(iter(holder[tenant].phones.values()), None) if tenant else None
    )


def parse_line_entry(data: object, where: str = "body", position: int = 0) -> LineState:
    """One line's entry; ``position`` when the entry gives none (0: the first free one)."""
    reader = _Reader(data, where, [])
    return _one(reader, _line(reader, position) if reader.ok else None)


def _tenant(r: _Reader) -> TenantState | None:
    if not r.ok:
        return None
    name = r.get("name", str, "", required=True)
    state = TenantState(
        name=name,
        sip_domain=r.get("sip_domain", str, "", required=True),
        platform=r.get("platform", str, "generic"),
        description=r.get("description", str, ""),
        settings=r.settings(),
        locked=set(r.names("locked")),
        where=r.where,
    )
    r.shorthands(_FULL, state.settings)
    r.done()
    return state if name else None


def _owner(r: _Reader, tenants: dict[str, TenantState]) -> TenantState | None:
    name = r.get("tenant", str, "", required=True)
    tenant = tenants.get(name)
    if name and tenant is None:
        r.problem("tenant", f"tenant {name!r} is not listed under tenants")
    return tenant


def _group(r: _Reader, tenants: dict[str, TenantState]) -> None:
    if not r.ok:
        return
    tenant = _owner(r, tenants)
    group = GroupState(
        name=r.get("name", str, "", required=True),
        description=r.get("description", str, ""),
        weight=r.get("weight", int, 0),
        settings=r.settings(),
        locked=set(r.names("locked")),
        where=r.where,
    )
    r.shorthands(_FULL, group.settings)
    r.done()
    if tenant is None or not group.name:
        return
    if group.name in tenant.groups:
        r.problem("name", f"group {tenant.name}/{group.name} is listed twice")
    tenant.groups[group.name] = group


def _phone(
    r: _Reader, tenants: dict[str, TenantState], catalog: Catalog, seen: dict[str, str]
) -> None:
    if not r.ok:
        return
    tenant = _owner(r, tenants)
    mac = _checked(r, "mac", r.get("mac", str, "", required=True), parse_mac)
    model = _checked(
        r, "model", r.get("model", str, "", required=True), lambda m: catalog.model(m).id
    )
    phone = PhoneState(
        mac=mac,
        model=model,
        description=r.get("description", str, ""),
        enabled=r.get("enabled", bool, True),
        groups=r.names("groups"),
        settings=r.settings(),
        where=r.where,
    )
    r.shorthands(_FULL, phone.settings)
    for index, item in enumerate(r.get("lines", list, [])):
        line = _line(_Reader(item, f"{r.where}.lines[{index}]", r.problems), index + 1)
        if line is not None:
            phone.lines.append(line)
    phone.lines.sort(key=lambda line: line.position)
    r.done()
    if not mac:
        return
    if mac in seen:
        r.problem("mac", f"MAC {mac} is also used by {seen[mac]}")
        return
    seen[mac] = r.where
    if tenant is not None and model:
        tenant.phones[mac] = phone


def _phonebook(r: _Reader, tenants: dict[str, TenantState], base: Path | None) -> None:
    """One ``[[phonebooks]]`` entry: its entries inline, or from a CSV/vCard ``file``."""
    if not r.ok:
        return
    tenant = _owner(r, tenants)
    name = _checked(r, "name", r.get("name", str, "", required=True), _valid_name)
    description = r.get("description", str, "")
    try:
        check_free_text(description, "phonebook description")
    except InputError as exc:
        r.problem("description", str(exc))
    given_file = "file" in r.data
    if given_file and "entries" in r.data:
        r.problem("file", "give file or entries, not both")
        r.data.pop("file")
        given_file = False
    entries: list[PhonebookEntry] = []
    if given_file:
        entries = _phonebook_file(r, r.get("file", str, ""), base)
    else:
        for index, item in enumerate(r.get("entries", list, [])):
            sub = _Reader(item, f"{r.where}.entries[{index}]", r.problems)
            if not sub.ok:
                continue
            cells = {column: sub.get(column, str, "") for column in CSV_COLUMNS}
            sub.done()
            try:
                entries.append(entry_of(cells))
            except InputError as exc:
                sub.problem("", str(exc))
        if len(entries) > MAX_ENTRIES:
            r.problem("entries", f"{len(entries)} entries: a phonebook holds {MAX_ENTRIES}")
    r.done()
    if tenant is None or not name or tenant.phonebooks is None:
        return
    if name in tenant.phonebooks:
        r.problem("name", f"phonebook {tenant.name}/{name} is listed twice")
    tenant.phonebooks[name] = Phonebook(name, description, tuple(entries))


def _valid_name(name: str) -> str:
    check_phonebook_name(name)
    return name


def _phonebook_file(r: _Reader, file: str, base: Path | None) -> list[PhonebookEntry]:
    """The entries of a phonebook's ``file``, read as ``phonebook import`` reads one."""
    if not file:
        r.problem("file", "expected the path of a CSV or vCard file")
        return []
    if base is None:
        r.problem("file", "only in a fleet file read from disk (apply FILE); give entries")
        return []
    path = base / file
    try:
        data = path.read_bytes()
    except OSError as exc:
        r.problem("file", f"cannot read {path}: {exc.strerror}")
        return []
    try:
        return read_phonebook_file(data, guess_format(file, data))
    except ValidationFailed as exc:
        for found in exc.problems:
            where = f"{file}, {found.location}" if found.location else file
            r.problem("file", f"{where}: {found.message}")
    except InputError as exc:
        r.problem("file", f"{file}: {exc}")
    return []


def _checked(r: _Reader, key: str, value: str, convert: Callable[[str], str]) -> str:
    if not value:
        return ""
    try:
        return convert(value)
    except InputError as exc:
        r.problem(key, str(exc))
        return ""


def _line(r: _Reader, default_position: int) -> LineState | None:
    if not r.ok:
        return None
    line = LineState(
        position=r.get("position", int, default_position),
        user=r.get("user", str, "", required=True),
        auth_user=r.get("auth_user", str, ""),
        password=r.get("password", str, ""),
        display_name=r.get("display_name", str, ""),
        label=r.get("label", str, ""),
        settings=r.settings(),
        where=r.where,
    )
    r.shorthands(_LINE_SHORTHANDS, line.settings)
    r.done()
    return line


def _export_settings(
    settings: dict[str, Value], shorthand: Iterable[str], out: dict[str, Any]
) -> None:
    """Write ``settings`` into ``out``, using shorthand keys where they fit."""
    rest = dict(settings)
    for key in shorthand:
        if key in _ENDPOINTS:
            prefix, fields = _ENDPOINTS[key]
            sub = {f: rest.pop(f"{prefix}.{f}") for f in fields if f"{prefix}.{f}" in rest}
            if sub:
                out[key] = sub
        elif key == "ntp_servers":
            if _NTP[0] in rest:
                out[key] = [rest.pop(name) for name in _NTP if name in rest]
        elif _SCALARS[key] in rest:
            out[key] = rest.pop(_SCALARS[key])
    if rest:
        out["settings"] = dict(sorted(rest.items()))


def tenant_entry(state: TenantState) -> dict[str, Any]:
    """The fleet file's entry for a tenant's own fields and settings (not its groups or phones)."""
    tenant: dict[str, Any] = {
        "name": state.name,
        "sip_domain": state.sip_domain,
        "platform": state.platform,
    }
    if state.description:
        tenant["description"] = state.description
    _export_settings(state.settings, _FULL, tenant)
    if state.locked:
        tenant["locked"] = sorted(state.locked)
    return tenant


def group_entry(tenant: str, group: GroupState) -> dict[str, Any]:
    """The fleet file's entry for a group of ``tenant``."""
    entry: dict[str, Any] = {"tenant": tenant, "name": group.name, "weight": group.weight}
    if group.description:
        entry["description"] = group.description
    _export_settings(group.settings, _FULL, entry)
    if group.locked:
        entry["locked"] = sorted(group.locked)
    return entry


def phone_entry(tenant: str, phone: PhoneState) -> dict[str, Any]:
    """The fleet file's entry for a phone of ``tenant``, with its lines."""
    item: dict[str, Any] = {"tenant": tenant, "mac": phone.mac, "model": phone.model}
    if phone.description:
        item["description"] = phone.description
    if not phone.enabled:
        item["enabled"] = False
    if phone.groups:
        item["groups"] = sorted(phone.groups)
    _export_settings(phone.settings, _FULL, item)
    if phone.lines:
        item["lines"] = [line_entry(line) for line in phone.lines]
    return item


def export_fleet(
    states: Iterable[TenantState], books: Mapping[str, Mapping[str, Phonebook]] | None = None
) -> dict[str, Any]:
    """The fleet document describing ``states`` (sorted, so output is stable).

    ``books`` are the phonebooks by tenant and book name: given, the document has a
    ``phonebooks`` list (empty if no tenant has one), so ``apply`` of it
    makes the books match too; ``None`` leaves phonebooks out.
    """
    tenants: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    phones: list[dict[str, Any]] = []
    phonebooks: list[dict[str, Any]] = []
    for state in sorted(states, key=lambda s: s.name):
        tenants.append(tenant_entry(state))
        for group in sorted(state.groups.values(), key=lambda g: g.name):
            groups.append(group_entry(state.name, group))
        for phone in sorted(state.phones.values(), key=lambda p: p.mac):
            phones.append(phone_entry(state.name, phone))
        if books is not None:
            for book in sorted(books.get(state.name, {}).values(), key=lambda b: b.name):
                phonebooks.append(phonebook_entry(state.name, book))
    document: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "tenants": tenants,
        "groups": groups,
        "phones": phones,
    }
    if books is not None:
        document["phonebooks"] = phonebooks
    return document


def phonebook_entry(tenant: str, book: Phonebook) -> dict[str, Any]:
    """The fleet file's entry for a phonebook of ``tenant``, its entries inline (stored order)."""
    item: dict[str, Any] = {"tenant": tenant, "name": book.name}
    if book.description:
        item["description"] = book.description
    item["entries"] = [
        {column: value for column, value in entry_columns(e).items() if value} for e in book.entries
    ]
    return item


def fleet_text(document: dict[str, Any], *, toml: bool) -> str:
    """A fleet document as ``export-fleet`` writes it: TOML or indented JSON, newline-ended."""
    text = tomli_w.dumps(document) if toml else json.dumps(document, indent=2, ensure_ascii=False)
    return text if text.endswith("\n") else text + "\n"


def line_entry(line: LineState) -> dict[str, Any]:
    """The fleet file's entry for a line."""
    entry: dict[str, Any] = {"position": line.position, "user": line.user}
    for key in ("auth_user", "password", "display_name", "label"):
        value = getattr(line, key)
        if value:
            entry[key] = value
    _export_settings(line.settings, _LINE_SHORTHANDS, entry)
    return entry

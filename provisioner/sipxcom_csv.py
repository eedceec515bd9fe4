"""sipXcom's CSV import and export of phones and users (seed 003 §7.5.4; docs/sipxcom.md).

The file is sipXcom 20.04's: a header line (:data:`HEADER`, "All CSV header
fields as of 20.04", in that order) and one row per user and phone. A row
creates or updates the user (:mod:`provisioner.sip_users`: user name, SIP
password, first and last name, aliases, auth account name) and the phone
(by serial number = MAC: model by sipXconfig model id — the catalog's
aliases — or our id, description, phone group and user group, created if
missing), and gives the phone a line of the user. Rows of the same phone
add its lines in order: the k-th row of a user on a phone is the phone's
k-th line of that user, a new line when there is none. Only the user name
and the serial number are obligatory (a row may hold either, or both); an
empty field never overwrites. Columns provisioner does not model (voicemail
PIN, e-mail, addresses …) are kept with the user as opaque attributes, so
an export gives them back.

An import reads and checks the whole file first, every problem reported as
``row N, column "X": …`` (row 1 is the header), then applies it in one
transaction through the edits' session (:func:`provisioner.preview.run_changes`),
all or nothing; a dry run is that service's preview. An export followed by
an import of its file changes nothing, and exporting again gives the same
bytes.
"""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select

from provisioner.audit import MAX_PATHS, changed, entry_for
from provisioner.catalog import Catalog
from provisioner.chars import check_text
from provisioner.edits import Edits
from provisioner.entities import secret_paths
from provisioner.errors import InputError, Problem, ProvisionerError, ValidationFailed
from provisioner.fleet import phone_entry
from provisioner.mac import parse_mac
from provisioner.masking import MASK
from provisioner.preview import PhoneDiff, run_changes
from provisioner.sip_users import (
    MAX_ALIASES,
    MAX_ATTRIBUTE,
    SipUser,
    UserChange,
    clashing_names,
    line_update,
    secret_path,
    user_entry,
)
from provisioner.state import GroupState, LineState, Part, PhoneState, TenantState
from provisioner.store import SipUserTable, Store, TenantSession
from provisioner.store import _tables as t
from provisioner.validate import (
    check_credential,
    check_free_text,
    check_name,
    check_sip_user,
)

__all__ = [
    "HEADER",
    "MAX_ROWS",
    "ImportReport",
    "Parsed",
    "Progress",
    "export_csv",
    "import_csv",
    "parse_csv",
]

# sipXcom 20.04's header, verbatim (seed 003 §7.5.4; the manual's line breaks are
# the PDF's, and sipXconfig's bulk/csv/Index.java labels confirm each name).
HEADER: tuple[str, ...] = (
    "User name", "PIN", "Voicemail PIN", "SIP password", "First name", "Last name",
    "User alias", "EMail address", "User group", "Phone serial number", "Phone model",
    "Phone group", "Phone description", "Im Id", "Salutation", "Manager", "EmployeeId",
    "Job Title", "Job department", "Company name", "Assistant name", "Cell phone number",
    "Home phone number", "Assistant phone number", "Fax number", "Did number",
    "Alternate email", "Alternate im", "Location", "Home street", "Home city", "Home state",
    "Home country", "Home zip", "Office street", "Office city", "Office state",
    "Office country", "Office zip", "Office mail stop", "Twitter", "Linkedin", "Facebook",
    "Xing", "Active greeting", "Email voicemail notification", "Email format",
    "Email attach audio", "Alternate email voicemail notification", "Alternate email format",
    "Alternate email attach audio", "Internal Voicemail Server", "Caller ID",
    "Block Caller ID", "Additional phone settings", "Additional line settings",
    "Auth Account Name", "EMail address aliases", "Custom 1", "Custom 2", "Custom 3",
)  # fmt: skip

USER_NAME = "User name"
SIP_PASSWORD = "SIP password"
FIRST_NAME = "First name"
LAST_NAME = "Last name"
USER_ALIAS = "User alias"
USER_GROUP = "User group"
SERIAL = "Phone serial number"
MODEL = "Phone model"
PHONE_GROUP = "Phone group"
DESCRIPTION = "Phone description"
AUTH_ACCOUNT = "Auth Account Name"
# Columns of the phone; every other column is the user's.
PHONE_COLUMNS = frozenset({SERIAL, MODEL, PHONE_GROUP, DESCRIPTION})
# The user's columns provisioner models; the rest (and the user group, which is
# also a phone group here) are kept as the user's attributes, by column name.
MODELLED = frozenset({USER_NAME, SIP_PASSWORD, FIRST_NAME, LAST_NAME, USER_ALIAS, AUTH_ACCOUNT})
KEPT = tuple(c for c in HEADER if c not in MODELLED and c not in PHONE_COLUMNS)
SECRET_COLUMNS = frozenset({SIP_PASSWORD, "PIN", "Voicemail PIN"})

MAX_ROWS = 250_000
MAX_PROBLEMS = 200  # reported of a bad file; the rest are counted
_SEP = "\x00"  # between a user's kept values (FileUser.attrs)
_POOLED = 1000  # distinct values of a kept column worth sharing (_Pool)
_CHUNK = 500  # values per IN (...) list: far below SQLite's and PostgreSQL's limits
_WHOLE_TENANT = 2000  # phones to read one by one; past this the whole tenant is read

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(slots=True)
class Row:
    """One data row, checked: its user's name and what it gives the phone (``""``: nothing)."""

    number: int
    user: str
    mac: str
    model: str  # the catalog's id
    description: str | None
    groups: tuple[str, ...]  # phone groups, then user groups


@dataclass(slots=True)
class FileUser:
    """What a file's rows give one user (each field from the first row giving it)."""

    row: int  # the first row of the user
    change: UserChange  # without attributes: they are ``attrs``
    # The kept columns' values in KEPT's order ("": empty) joined by NUL (which no value
    # holds: _row refuses it), or "" when none. One string weighs a fraction of a tuple
    # of strings (each ~50 bytes of header), and a file may hold 100,000 users.
    attrs: str


@dataclass(slots=True)
class Parsed:
    """A checked file: its rows, its users, and the kept (not modelled) columns that hold
    values. Applying it consumes ``users``."""

    rows: list[Row]
    users: dict[str, FileUser]
    kept: list[str]
    # What the rows left out were refused for; the store's checks add theirs before
    # anything is reported (import_csv), so a file's problems are all told at once.
    problems: _Problems = field(default_factory=lambda: _Problems())


@dataclass(slots=True)
class ImportReport:
    """What an import did (or, dry run, would do)."""

    rows: int
    dry_run: bool
    # Rows written by kind, as the store counts them ("phone created", "line changed",
    # "sip user created" …).
    changes: dict[str, int] = field(default_factory=dict)
    groups_created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # columns kept as opaque attributes
    problems: list[ProvisionerError] = field(default_factory=list)  # a refused dry run
    phones: list[PhoneDiff] = field(default_factory=list)  # a dry run's diffs


# --- parsing -------------------------------------------------------------


class _Problems:
    """Problems of a file, reported in row order, at most :data:`MAX_PROBLEMS` of them."""

    def __init__(self) -> None:
        self.found: list[tuple[int, Problem]] = []
        self.more = 0

    def add(self, row: int, column: str | None, message: str) -> None:
        if len(self.found) >= MAX_PROBLEMS:
            self.more += 1
            return
        where = f"row {row}" if column is None else f'row {row}, column "{column}"'
        self.found.append((row, Problem(where, message)))

    def raise_any(self) -> None:
        if not self.found:
            return
        # Stable: a row's problems stay in the order they were found.
        problems = [problem for _, problem in sorted(self.found, key=lambda f: f[0])]
        if self.more:
            problems.append(Problem("", f"and {self.more} more problems"))
        raise ValidationFailed(problems)


def _records(data: bytes, problems: _Problems) -> Iterator[tuple[int, list[str]]]:
    """The file's records, numbered from 1 (blank lines skipped, still counted).

    Decoded as it is read (a BOM dropped), so the file is never held as text too.
    """
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)
    number = 0
    try:
        for record in reader:
            number = reader.line_num
            if record and any(v.strip() for v in record):
                yield number, record
    except csv.Error as exc:
        problems.add(number + 1, None, f"not CSV: {exc}")
    except UnicodeDecodeError as exc:
        problems.add(
            number + 1, None, f"not UTF-8: {exc.reason} (byte 0x{exc.object[exc.start]:02x})"
        )


# The manual prints "Email voicemail, notification" where sipXconfig writes the one
# column "Email voicemail notification" (a line break of the PDF): a header copied from
# the manual is read as sipXconfig's, its "notification" field a column left empty.
_MANUAL_SPLIT = ("email voicemail", "notification")
_SPLIT_TAIL = "notification"


def _normal(name: str) -> str:
    return " ".join(name.lower().split())


def _header(names: list[str], problems: _Problems) -> list[str | None]:
    """Each header field's column (``None`` where it names none, or the manual's
    "notification" tail)."""
    known = {_normal(c): c for c in HEADER}
    known[_MANUAL_SPLIT[0]] = "Email voicemail notification"
    columns: list[str | None] = []
    seen: set[str] = set()
    for index, name in enumerate(names):
        normal = _normal(name)
        if normal == _MANUAL_SPLIT[1] and index and _normal(names[index - 1]) == _MANUAL_SPLIT[0]:
            columns.append(_SPLIT_TAIL)
            continue
        column = known.get(normal)
        if column is None:
            problems.add(1, name.strip(), "not a column of sipXcom's CSV header (docs/sipxcom.md)")
        elif column in seen:
            problems.add(1, column, "given twice")
        else:
            seen.add(column)
        columns.append(column)
    for needed in (USER_NAME, SERIAL):
        if needed not in seen:
            problems.add(1, needed, "missing from the header: it is obligatory")
    return columns


def _split(value: str) -> list[str]:
    return value.split()


def _row(
    catalog: Catalog, number: int, values: Mapping[str, str], problems: _Problems
) -> tuple[Row, UserChange, str] | None:
    """One record's checked values: the row, what it gives its user (the change and the
    kept values); ``None`` when a value is bad (problems say which)."""
    bad = False

    def check(column: str, test: Callable[..., object], *args: object) -> Any:
        nonlocal bad
        try:
            return test(values[column], *args)
        except InputError as exc:
            problems.add(number, column, str(exc))
            bad = True
            return None

    user = values.get(USER_NAME, "")
    if user:
        check(USER_NAME, check_sip_user, "user name")
    mac = ""
    if SERIAL in values:
        mac = check(SERIAL, parse_mac) or ""
    if not user and SERIAL not in values:
        problems.add(number, USER_NAME, "a row needs a user name or a phone serial number")
        return None
    model = ""
    if MODEL in values:
        found = check(MODEL, catalog.model)
        model = found.id if found is not None else ""
    description = None
    if DESCRIPTION in values:
        description = check(DESCRIPTION, check_free_text, "phone description")
    groups: list[str] = []
    for column in (PHONE_GROUP, USER_GROUP):
        if column in values:
            groups += check(column, _check_groups) or []
    change = UserChange()
    user_fields = [c for c in values if c not in PHONE_COLUMNS and c != USER_NAME]
    if user_fields and not user:
        problems.add(number, USER_NAME, f"{user_fields[0]} is given without a user name")
        return None
    if user:
        password = values.get(SIP_PASSWORD)
        if password is not None:
            check(SIP_PASSWORD, check_credential, "SIP password")
        aliases = _split(values.get(USER_ALIAS, "")) or None
        if aliases is not None:
            check(USER_ALIAS, _check_aliases, user)
        for column, what in ((FIRST_NAME, "first name"), (LAST_NAME, "last name")):
            if column in values:
                check(column, check_free_text, what)
        if AUTH_ACCOUNT in values:
            check(AUTH_ACCOUNT, check_sip_user, "auth account name")
        kept = [values[c] for c in KEPT if c in values]
        # One look at all of them (a file has tens of these per row); column by column
        # only to name the one that is wrong.
        if kept and not _attributes_fine(kept):
            for column in KEPT:
                if column in values:
                    check(column, _check_attribute)
        change = UserChange(
            password=password,
            first_name=values.get(FIRST_NAME),
            last_name=values.get(LAST_NAME),
            auth_user=values.get(AUTH_ACCOUNT),
            aliases=aliases,
        )
    if bad:
        return None
    attrs = (
        _SEP.join([values.get(c, "") for c in KEPT])
        if user and any(c in values for c in KEPT)
        else ""
    )
    row = Row(number, user, mac, model, description, tuple(dict.fromkeys(groups)))
    return row, change, attrs


def _check_groups(value: str) -> list[str]:
    # Interned: a file names a few groups on 100,000 rows.
    return [sys.intern(check_name(name, "group name")) for name in _split(value)]


def _check_aliases(value: str, user: str) -> None:
    aliases = _split(value)
    if len(aliases) > MAX_ALIASES:
        raise InputError(f"{len(aliases)} aliases; at most {MAX_ALIASES}")
    for alias in aliases:
        check_sip_user(alias, "user alias")
        if alias == user:
            raise InputError(f"alias {alias!r} is the user's own name")
    if len(set(aliases)) != len(aliases):
        raise InputError("an alias is given twice")


def _attributes_fine(values: list[str]) -> bool:
    try:
        check_text("".join(values), "value", controls=True)
    except InputError:
        return False
    return all(len(v) <= MAX_ATTRIBUTE for v in values)


def _check_attribute(value: str) -> None:
    check_text(value, "value", controls=True)
    if len(value) > MAX_ATTRIBUTE:
        raise InputError(f"{len(value)} characters; at most {MAX_ATTRIBUTE}")


def parse_csv(data: bytes, catalog: Catalog, progress: Progress | None = None) -> Parsed:
    """Read and check a whole file (UTF-8, with or without a BOM; CRLF or LF line ends).

    :raises ValidationFailed: every problem, as ``row N, column "X": …``.
    """
    parsed = _parse(data, catalog, progress)
    parsed.problems.raise_any()
    return parsed


def _parse(data: bytes, catalog: Catalog, progress: Progress | None) -> Parsed:
    """Read and check a whole file; problems of its rows are left in ``problems`` (those of
    its header are raised: no row can be read without it)."""
    problems = _Problems()
    records = _records(data, problems)
    first = next(records, None)
    if first is None:
        problems.add(1, None, "the file is empty: it needs sipXcom's header line")
        problems.raise_any()
    assert first is not None
    columns = _header([v.strip() for v in first[1]], problems)
    problems.raise_any()
    total = data.count(b"\n") or 1
    rows: list[Row] = []
    kept: set[str] = set()
    users: dict[str, FileUser] = {}
    phones: dict[str, Row] = {}
    for number, record in records:
        if len(rows) >= MAX_ROWS:
            problems.add(number, None, f"a file holds at most {MAX_ROWS} rows")
            break
        if len(record) > len(columns):
            problems.add(number, None, f"{len(record)} fields; the header has {len(columns)}")
            continue
        values = {}
        for column, raw in zip(columns, record, strict=False):
            value = raw.strip()
            if column is None or not value:
                continue
            if column == _SPLIT_TAIL:
                problems.add(
                    number,
                    column,
                    'the manual\'s header splits "Email voicemail notification" in two; '
                    "its value goes in the first",
                )
                continue
            if column in SECRET_COLUMNS and value == MASK:
                continue  # a masked export's secret: keep the stored one
            values[column] = value
        checked = _row(catalog, number, values, problems)
        if progress is not None and number % 1000 == 0:
            progress("reading", number, total)
        if checked is None:
            continue
        row, change, attrs = checked
        kept.update(c for c in KEPT if c in values)
        if row.user:
            _same_user(row, change, attrs, users, problems)
        if row.mac:
            _same_phone(row, phones, problems)
        rows.append(row)
    return Parsed(rows, users, [c for c in KEPT if c in kept], problems)


def _same_user(
    row: Row,
    change: UserChange,
    attrs: str,
    users: dict[str, FileUser],
    problems: _Problems,
) -> None:
    """Add a row's fields to its user's; a field given two different values is refused."""
    earlier = users.get(row.user)
    if earlier is None:
        users[row.user] = FileUser(row.number, change, attrs)
        return
    theirs = earlier.change
    fields = (
        (SIP_PASSWORD, "password"),
        (FIRST_NAME, "first_name"),
        (LAST_NAME, "last_name"),
        (AUTH_ACCOUNT, "auth_user"),
        (USER_ALIAS, "aliases"),
    )
    filled: dict[str, Any] = {}
    for column, name in fields:
        value, other = getattr(change, name), getattr(theirs, name)
        if value is not None and other is not None and value != other:
            problems.add(
                row.number, column, f"user {row.user} has another value at row {earlier.row}"
            )
        elif value is not None and other is None:
            filled[name] = value
    if filled:
        earlier.change = replace(theirs, **filled)
    if not attrs:
        return
    if not earlier.attrs:
        earlier.attrs = attrs
        return
    merged = earlier.attrs.split(_SEP)
    pairs = zip(KEPT, attrs.split(_SEP), earlier.attrs.split(_SEP), strict=True)
    for index, (column, value, other) in enumerate(pairs):
        if value and other and value != other:
            problems.add(
                row.number, column, f"user {row.user} has another value at row {earlier.row}"
            )
        elif value and not other:
            merged[index] = value
    earlier.attrs = _SEP.join(merged)


def _same_phone(row: Row, phones: dict[str, Row], problems: _Problems) -> None:
    """Refuse a phone's model or description given two different values on two rows."""
    first = phones.setdefault(row.mac, row)
    if first is row:
        return
    for column, mine, theirs in (
        (MODEL, row.model, first.model),
        (DESCRIPTION, row.description, first.description),
    ):
        if mine and theirs and mine != theirs:
            problems.add(
                row.number, column, f"phone {row.mac} has another value at row {first.number}"
            )
        elif mine and not theirs:
            if column == MODEL:
                first.model = mine
            else:
                first.description = mine


# --- applying --------------------------------------------------------------


def import_csv(
    store: Store,
    edits: Edits,
    tenant: str,
    data: bytes,
    *,
    dry_run: bool = False,
    reveal_secrets: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a sipXcom CSV file into ``tenant``: all of it in one transaction, or nothing.

    A dry run stores nothing but the audit entry (marked dry-run) and
    answers what would change: the counts and each affected phone's diffs
    (secrets masked unless ``reveal_secrets``); a refused file then comes
    back in ``problems``.

    :raises ValidationFailed: the file has problems (nothing is stored).
    """
    parsed = _parse(data, store.tenants.catalog, progress)
    del data  # the rows hold what is needed of it (the caller may let it go too)
    report = ImportReport(rows=len(parsed.rows), dry_run=dry_run, kept=parsed.kept)

    def operations(within: Edits) -> None:
        session = within.tenant_writer
        assert isinstance(session, TenantSession), "run_changes writes through a session"
        _apply(store, within, session, tenant, parsed, report, progress)

    outcome = run_changes(store, edits, operations, dry_run=dry_run, reveal_secrets=reveal_secrets)
    report.changes = dict(sorted(outcome.changes.items()))
    report.problems = outcome.problems
    report.phones = outcome.phones
    return report


def _chunks(values: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield list(values[start : start + _CHUNK])


def _owners(session: TenantSession, macs: Sequence[str]) -> dict[str, str]:
    """The tenant of each stored phone among ``macs``."""
    owners: dict[str, str] = {}
    query = select(t.phones.c.mac, t.tenants.c.name).join(
        t.tenants, t.tenants.c.id == t.phones.c.tenant_id
    )
    for chunk in _chunks(macs):
        for mac, name in session.conn.execute(query.where(t.phones.c.mac.in_(chunk))):
            owners[mac] = name
    return owners


def _apply(
    store: Store,
    edits: Edits,
    session: TenantSession,
    tenant: str,
    parsed: Parsed,
    report: ImportReport,
    progress: Progress | None,
) -> None:
    """Write a checked file into ``tenant`` inside ``session``'s transaction."""
    table = store.sip_users.on(session.conn)
    table.tenant_id(tenant)  # NotFoundError for a tenant that does not exist
    problems = parsed.problems
    rows = parsed.rows
    file_macs = list(dict.fromkeys(r.mac for r in rows if r.mac))
    owners = _owners(session, file_macs)
    first_row: dict[str, Row] = {}
    for row in rows:
        if row.mac:
            first_row.setdefault(row.mac, row)
    for mac in file_macs:
        owner = owners.get(mac)
        row = first_row[mac]
        if owner is not None and owner != tenant:
            problems.add(row.number, SERIAL, f"phone {mac} belongs to tenant {owner}")
        elif owner is None and not row.model:
            problems.add(row.number, MODEL, f"phone {mac} is new: its model is needed")
    stored = table.all(tenant)
    users = _merged_users(parsed, stored)
    _check_names(stored, users, rows, problems)
    problems.raise_any()
    changed_users = {n: u for n, u in users.items() if stored.get(n) != u}
    # What a stored user's change writes to its lines; a new user's lines are made from
    # it (or, a line already there, given its fields: _write_phones asks line_update).
    through = {n: line_update(stored[n], u) for n, u in changed_users.items() if n in stored}
    through = {n: fields for n, fields in through.items() if fields}
    elsewhere = _lines_elsewhere(table, tenant, [n for n in through if n in stored])
    reached = set(file_macs) | {mac for refs in elsewhere.values() for mac, _ in refs}
    part = Part(frozenset(reached)) if len(reached) <= _WHOLE_TENANT else None
    # New users whose rows only restate lines that have no user (a fleet file's or the
    # API's lines, as an export writes them): no user is made of them, so an export
    # imported back changes nothing.
    restating = {n for n in changed_users if n not in stored and _bare(users[n])}
    created: list[str] = []
    # The audit entry lists every changed path of a small import; a large one (past
    # what the audit log keeps of a write anyway, audit.MAX_PATHS) is counted.
    detailed = len(reached) + len(changed_users) <= MAX_PATHS
    audited: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]] = {}

    def mutate(state: TenantState) -> None:
        watched = reached if detailed else set()
        before = {m: phone_entry(tenant, state.phones[m]) for m in watched if m in state.phones}
        created.extend(
            _write_phones(
                state, rows, users, through, stored.__contains__, elsewhere, restating, progress
            )
        )
        for mac in watched:
            after = phone_entry(tenant, state.phones[mac]) if mac in state.phones else None
            if before.get(mac) != after:
                audited[mac] = (before.get(mac), after)

    session.change(tenant, mutate, part=part)
    for name in restating:
        del changed_users[name]
    # The users first: the tenant's write (its checks and rows) is what needs the most
    # memory, and by then the users are stored and let go. A refused tenant rolls them
    # back with everything else.
    session.changes.update(table.save(tenant, changed_users.values()))
    user_paths = (
        (
            {n: user_entry(stored.get(n)) for n in changed_users if n in stored},
            {n: user_entry(u) for n, u in changed_users.items()},
        )
        if detailed
        else ({}, {})
    )
    for held in (users, changed_users, stored, first_row, owners, through):
        held.clear()
    count = len(rows)
    rows.clear()
    session.flush()
    report.groups_created = sorted(created)
    if not session.changes:
        return
    if detailed:
        secret = secret_paths(store.tenants.catalog)
        old, new = changed(
            {
                "users": user_paths[0],
                "phones": {m: was for m, (was, _) in audited.items() if was is not None},
                "groups": {},
            },
            {
                "users": user_paths[1],
                "phones": {m: now for m, (_, now) in audited.items() if now is not None},
                "groups": {g: {"created": True} for g in report.groups_created},
            },
            lambda path: secret(path) or secret_path(path),
        )
    else:
        old, new = {}, {"changes": dict(sorted(session.changes.items()))}
    session.audit.append(
        entry_for(
            edits.actor,
            "csv.import",
            f"tenant:{tenant}",
            f"tenant {tenant}: sipXcom CSV file of {count} rows",
            tenant=tenant,
            before=old,
            after=new,
        )
    )


def _merged_users(parsed: Parsed, stored: Mapping[str, SipUser]) -> dict[str, SipUser]:
    """Each user of the file as it will be (stored, with the file's fields applied).
    ``parsed.users`` is emptied as they are merged."""
    users: dict[str, SipUser] = {}
    pool = _Pool()
    while parsed.users:
        name, given = next(iter(parsed.users.items()))
        del parsed.users[name]
        change = given.change
        old = stored.get(name)
        if old is None and given.attrs:
            # A new user's attributes are the file's alone: kept as the file gave them.
            user = change.applied_to(SipUser(name))
            users[name] = replace(user, attributes=_Kept(given.attrs))
            continue
        if given.attrs:
            values = given.attrs.split(_SEP)
            kept = {c: pool.one(c, v) for c, v in zip(KEPT, values, strict=True) if v}
            change = replace(change, attributes=kept)
        users[name] = change.applied_to(old or SipUser(name))
    return users


# KEPT's indexes in the order of the column names: a user's attributes are by name.
_BY_NAME = tuple(sorted(range(len(KEPT)), key=KEPT.__getitem__))
_INDEX = {column: index for index, column in enumerate(KEPT)}


class _Kept(Mapping[str, str]):
    """A new user's attributes, read from its NUL-joined kept values (FileUser.attrs), in
    the order of their names as :meth:`UserChange.applied_to` gives them. A dict of
    them would weigh several times the string (47 columns filled: ~5 KB a user)."""

    __slots__ = ("_values",)

    def __init__(self, values: str) -> None:
        self._values = values

    def _pairs(self) -> Iterator[tuple[str, str]]:
        values = self._values.split(_SEP)
        return ((KEPT[i], values[i]) for i in _BY_NAME if values[i])

    def __getitem__(self, name: str) -> str:
        index = _INDEX.get(name)
        value = "" if index is None else self._values.split(_SEP)[index]
        if not value:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return (column for column, _ in self._pairs())

    def __len__(self) -> int:
        return sum(1 for _ in self._pairs())

    def items(self) -> ItemsView[str, str]:
        # Mapping's would split the string once per value.
        return _KeptItems(self)

    def __repr__(self) -> str:
        return repr(dict(self._pairs()))


class _KeptItems(ItemsView[str, str]):
    """A :class:`_Kept`'s items, from one split of its string."""

    _mapping: _Kept

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return self._mapping._pairs()


class _Pool:
    """One copy of each value of the kept columns that repeat a few values (job title,
    company, location, voicemail e-mail settings …): held by each of 100,000 users, a
    copy of its own costs each ~50 bytes. A column found to hold more than
    :data:`_POOLED` distinct values is no longer pooled: its values are the users' own,
    and a pool of them would only add to them."""

    def __init__(self) -> None:
        self.columns: dict[str, dict[str, str] | None] = {}

    def one(self, column: str, value: str) -> str:
        """``value``, or the equal string already handed out for ``column``."""
        pool = self.columns.setdefault(column, {})
        if pool is None:
            return value
        found = pool.setdefault(value, value)
        if len(pool) > _POOLED:
            self.columns[column] = None
        return found


def _check_names(
    stored: Mapping[str, SipUser],
    users: Mapping[str, SipUser],
    rows: Sequence[Row],
    problems: _Problems,
) -> None:
    """Refuse an alias or name another user of the tenant (in the file or stored) has."""
    merged = {**stored, **users}
    clashes = clashing_names(merged)
    if not clashes:
        return
    first: dict[str, int] = {}
    for row in rows:
        if row.user:
            first.setdefault(row.user, row.number)
    for message in clashes:
        # The message names both users; report it at the row of a user of the file.
        named = [n for n in users if f"user {n}" in message]
        if named:
            problems.add(first[named[-1]], USER_ALIAS, message)


def _lines_elsewhere(
    table: SipUserTable, tenant: str, names: Sequence[str]
) -> dict[str, list[tuple[str, int]]]:
    """The stored lines of users ``names`` (whose changes reach their lines), by user."""
    if not names:
        return {}
    wanted = set(names)
    refs = table.lines_of(tenant, None if len(names) > _CHUNK else names)
    return {n: [(r.mac, r.position) for r in found] for n, found in refs.items() if n in wanted}


def _write_phones(
    state: TenantState,
    rows: Sequence[Row],
    users: Mapping[str, SipUser],
    through: Mapping[str, Mapping[str, str]],
    stored_user: Callable[[str], bool],
    elsewhere: Mapping[str, Sequence[tuple[str, int]]],
    restating: set[str],
    progress: Progress | None,
) -> list[str]:
    """Apply the rows to ``state``: groups, phones and their lines, and the users' lines.

    Users are dropped from ``restating`` unless each of their rows names an
    existing line that holds exactly what the user would. Returns the names
    of the groups created.
    """
    created = []
    for row in rows:
        for name in row.groups:
            if name not in state.groups:
                state.groups[name] = GroupState(name)
                created.append(name)
    done: set[tuple[str, int]] = set()  # lines written from their row
    taken: Counter[tuple[str, str]] = Counter()  # (MAC, user): that user's rows so far
    for index, row in enumerate(rows, 1):
        if progress is not None and index % 1000 == 0:
            progress("writing", index, len(rows))
        if not row.mac:
            restating.discard(row.user)
            continue
        phone = state.phones.get(row.mac)
        if phone is None:
            phone = PhoneState(row.mac, row.model, where=f"row {row.number}")
            state.phones[row.mac] = phone
        elif row.model:
            phone.model = row.model
        if row.description is not None:
            phone.description = row.description
        phone.groups.extend(g for g in row.groups if g not in phone.groups)
        if not row.user:
            continue
        user = users[row.user]
        nth = taken[(row.mac, row.user)]
        taken[(row.mac, row.user)] += 1
        mine = [line for line in phone.lines if line.user == row.user]
        if nth < len(mine):
            line = mine[nth]
            if _line_user(line) != user:
                restating.discard(row.user)
            fields = through.get(row.user)
            if fields is None and not stored_user(row.user):
                fields = line_update(None, user)
            _update_line(line, fields or {})
        else:
            restating.discard(row.user)
            used = {x.position for x in phone.lines}
            position = next(p for p in range(1, len(used) + 2) if p not in used)
            line = LineState(
                position,
                user.user_name,
                auth_user=user.auth_user,
                password=user.password,
                display_name=user.display_name,
            )
            phone.lines.append(line)
            phone.lines.sort(key=lambda x: x.position)
        line.where = f'row {row.number}, column "{USER_NAME}"'
        done.add((row.mac, line.position))
    for name, refs in elsewhere.items():
        for mac, position in refs:
            if (mac, position) in done or mac not in state.phones:
                continue
            for line in state.phones[mac].lines:
                if line.position == position:
                    _update_line(line, through[name])

    return created


def _line_user(line: LineState) -> SipUser:
    """The user a line without one stands for (its display name as the first name): what
    an export writes for it."""
    return SipUser(line.user, line.password, line.display_name, "", line.auth_user)


def _bare(user: SipUser) -> bool:
    """Whether ``user`` holds nothing a line could not (no aliases, no attributes)."""
    return not user.aliases and not user.attributes


def _update_line(line: LineState, fields: Mapping[str, str]) -> None:
    for name, value in fields.items():
        setattr(line, name, value)


# --- export ----------------------------------------------------------------


def _model_id(catalog: Catalog, model: str) -> str:
    """The model as sipXconfig names it (the catalog's first alias), else our id."""
    found = catalog.model(model)
    return found.aliases[0] if found.aliases else found.id


def export_csv(store: Store, tenant: str, *, reveal_secrets: bool = True) -> str:
    """The tenant's phones, lines and users as sipXcom's CSV file (CRLF line ends).

    One row per line (phones by MAC, lines by position), then one per phone
    without lines, then one per user with no line, by name. A line's user
    columns are its user's; a line whose user is not stored gives its own
    credentials (its display name as the first name). Without
    ``reveal_secrets`` the secret columns hold ``********``, which an import
    takes as "keep the stored value".
    """
    catalog = store.tenants.catalog
    state = store.tenants.state(tenant)
    users = {u.user_name: u for u in store.sip_users.page(tenant)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    on_lines: set[str] = set()
    bare: list[PhoneState] = []
    for mac in sorted(state.phones):
        phone = state.phones[mac]
        phone_values = {
            SERIAL: mac,
            MODEL: _model_id(catalog, phone.model),
            PHONE_GROUP: " ".join(sorted(phone.groups)),
            DESCRIPTION: phone.description,
        }
        if not phone.lines:
            bare.append(phone)
            continue
        for line in sorted(phone.lines, key=lambda x: x.position):
            on_lines.add(line.user)
            user = users.get(line.user) or _line_user(line)
            writer.writerow(_cells({**_user_values(user, reveal_secrets), **phone_values}))
    for phone in bare:
        writer.writerow(
            _cells(
                {
                    SERIAL: phone.mac,
                    MODEL: _model_id(catalog, phone.model),
                    PHONE_GROUP: " ".join(sorted(phone.groups)),
                    DESCRIPTION: phone.description,
                }
            )
        )
    for name in sorted(users.keys() - on_lines):
        writer.writerow(_cells(_user_values(users[name], reveal_secrets)))
    return out.getvalue()


def _user_values(user: SipUser, reveal_secrets: bool) -> dict[str, str]:
    values = {
        USER_NAME: user.user_name,
        SIP_PASSWORD: user.password,
        FIRST_NAME: user.first_name,
        LAST_NAME: user.last_name,
        USER_ALIAS: " ".join(user.aliases),
        AUTH_ACCOUNT: user.auth_user,
        **{c: user.attributes[c] for c in KEPT if c in user.attributes},
    }
    if not reveal_secrets:
        values = {c: MASK if c in SECRET_COLUMNS and v else v for c, v in values.items()}
    return values


def _cells(values: Mapping[str, str]) -> list[str]:
    return [values.get(column, "") for column in HEADER]

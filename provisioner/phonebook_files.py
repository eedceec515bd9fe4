"""Phonebook files: CSV and vCard 3.0/4.0 in and out, strictly (docs/phonebooks.md).

Parsing either returns every entry of the file or raises
:class:`ValidationFailed` listing every problem with its line (CSV) or its
card and line (vCard): an import never stores part of a file. Entries are
checked against the limits here (field lengths, numbers, entry count) so
that a stored phonebook always renders.

vCard is read by a small parser of RFC 2426 (3.0) and RFC 6350 (4.0) rather
than a library: only ``N``, ``FN``, ``ORG`` and ``TEL`` matter, the two
versions spell ``TYPE`` and telephone values differently, and refusing
what we do not understand (vCard 2.1's quoted-printable, a missing
``VERSION``) is easier to state here than on top of a lenient parser
(docs/dependencies.md).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping

from provisioner.chars import check_text
from provisioner.domain import NUMBER_KINDS, PhonebookEntry
from provisioner.errors import InputError, Problem, ValidationFailed

__all__ = [
    "CSV_COLUMNS",
    "MAX_ENTRIES",
    "MAX_NAME",
    "MAX_NUMBER",
    "MAX_ORGANISATION",
    "check_entry",
    "entry_columns",
    "entry_of",
    "parse_csv",
    "parse_vcard",
    "write_csv",
    "write_vcard",
]

MAX_ENTRIES = 5000  # per phonebook
MAX_NAME = 40  # first or last name, characters (Polycom fn/ln hold 40 bytes)
MAX_ORGANISATION = 128
MAX_NUMBER = 64
CSV_COLUMNS = ("first_name", "last_name", "organisation", *NUMBER_KINDS)

# Visual separators people type inside numbers; dropped on import.
_SEPARATORS = re.compile(r"[\s\-().\u00a0]")
_DIALLED = re.compile(r"\+?[0-9*#]+")
_ADDRESS = re.compile(r"[A-Za-z0-9._+*#!~%-]+@[A-Za-z0-9.-]+")


def normal_number(text: str) -> str:
    """A number as stored: digits (with a leading ``+``, ``*``, ``#``) or ``user@host``.

    Spaces, dashes, dots and brackets are dropped from dialled numbers;
    ``tel:`` and ``sip:`` prefixes are dropped.
    """
    value = text.strip()
    lowered = value.lower()
    for prefix in ("tel:", "sip:"):
        if lowered.startswith(prefix):
            value = value[len(prefix) :]
            break
    if "@" in value:
        if _ADDRESS.fullmatch(value) is None:
            raise InputError(f"{text!r} is not a number or user@host address")
    else:
        value = _SEPARATORS.sub("", value)
        if _DIALLED.fullmatch(value) is None:
            raise InputError(f"{text!r} is not a number (digits, with + * # allowed)")
    if len(value) > MAX_NUMBER:
        raise InputError(f"number {text!r} is longer than {MAX_NUMBER} characters")
    return value


def check_entry(entry: PhonebookEntry) -> None:
    """Refuse an entry a phone could not show; :class:`InputError` says why."""
    for what, value, limit in (
        ("first name", entry.first_name, MAX_NAME),
        ("last name", entry.last_name, MAX_NAME),
        ("organisation", entry.organisation, MAX_ORGANISATION),
    ):
        check_text(value, what)
        if len(value) > limit:
            raise InputError(f"{what} {value!r} is longer than {limit} characters")
    if not entry.name:
        raise InputError("an entry needs a first name, a last name or an organisation")
    if not entry.numbers:
        raise InputError(f"{entry.name!r} has no number")
    kinds = [kind for kind, _ in entry.numbers]
    if kinds != sorted(kinds, key=NUMBER_KINDS.index) or len(set(kinds)) != len(kinds):
        raise InputError(f"{entry.name!r}: at most one number of each kind, in kind order")


def _entry(first: str, last: str, organisation: str, numbers: dict[str, str]) -> PhonebookEntry:
    entry = PhonebookEntry(
        first.strip(),
        last.strip(),
        organisation.strip(),
        tuple((kind, numbers[kind]) for kind in NUMBER_KINDS if numbers.get(kind)),
    )
    check_entry(entry)
    return entry


def _finish(entries: list[PhonebookEntry], problems: list[Problem]) -> list[PhonebookEntry]:
    if len(entries) > MAX_ENTRIES:
        problems.append(Problem("", f"{len(entries)} entries: a phonebook holds {MAX_ENTRIES}"))
    if problems:
        raise ValidationFailed(problems)
    return entries


# --- CSV ---------------------------------------------------------------------


def parse_csv(text: str) -> list[PhonebookEntry]:
    """Entries of a CSV file whose first row names its columns (any of :data:`CSV_COLUMNS`)."""
    rows = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(rows, None)
    except csv.Error as exc:
        raise ValidationFailed([Problem("line 1", f"not CSV: {exc}")]) from None
    if header is None:
        raise ValidationFailed([Problem("", "empty file: expected a header row")])
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    unknown = [h for h in names if h not in CSV_COLUMNS]
    if unknown or len(set(names)) != len(names):
        raise ValidationFailed(
            [
                Problem(
                    "line 1",
                    f"header {','.join(header)!r}: expected distinct columns among "
                    f"{','.join(CSV_COLUMNS)}",
                )
            ]
        )
    entries: list[PhonebookEntry] = []
    problems: list[Problem] = []
    try:
        for row in rows:
            where = f"line {rows.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                problems.append(Problem(where, f"{len(row)} fields, the header has {len(names)}"))
                continue
            try:
                entries.append(entry_of(dict(zip(names, row, strict=True))))
            except InputError as exc:
                problems.append(Problem(where, str(exc)))
    except csv.Error as exc:
        problems.append(Problem(f"line {rows.line_num}", f"not CSV: {exc}"))
    return _finish(entries, problems)


def entry_of(cells: Mapping[str, str]) -> PhonebookEntry:
    """An entry from its columns (any of :data:`CSV_COLUMNS`; a missing one is empty).

    A CSV row, or an item of a fleet file's phonebook ``entries``.

    :raises InputError: saying what is wrong with it.
    """
    numbers = {k: normal_number(cells[k]) for k in NUMBER_KINDS if cells.get(k)}
    return _entry(
        cells.get("first_name", ""),
        cells.get("last_name", ""),
        cells.get("organisation", ""),
        numbers,
    )


def entry_columns(entry: PhonebookEntry) -> dict[str, str]:
    """An entry's columns (:data:`CSV_COLUMNS` order), every one: what :func:`entry_of` reads."""
    numbers = dict(entry.numbers)
    return {
        "first_name": entry.first_name,
        "last_name": entry.last_name,
        "organisation": entry.organisation,
        **{k: numbers.get(k, "") for k in NUMBER_KINDS},
    }


def write_csv(entries: Iterable[PhonebookEntry]) -> str:
    """Entries as CSV with the header :data:`CSV_COLUMNS` (what :func:`parse_csv` reads)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        writer.writerow(entry_columns(e).values())
    return out.getvalue()


# --- vCard -------------------------------------------------------------------

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_PROPERTY = re.compile(r"(?:[A-Za-z0-9-]+\.)?([A-Za-z0-9-]+)((?:;[^:]*)?):(.*)", re.DOTALL)


def _unfold(text: str) -> Iterator[tuple[int, str]]:
    """Logical lines with the number of their first physical line (RFC 6350 §3.2)."""
    current: str | None = None
    start = 0
    for number, line in enumerate(_LINE_BREAK.split(text), 1):
        if line[:1] in (" ", "\t") and current is not None:
            current += line[1:]
            continue
        if current is not None:
            yield start, current
        current, start = line, number
    if current is not None:
        yield start, current


def _split(value: str, sep: str) -> list[str]:
    """Split on unescaped ``sep`` and undo the backslash escapes of RFC 6350 §3.4."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            current.append("\n" if escaped in ("n", "N") else escaped)
        elif char == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _types(params: str) -> set[str]:
    """The TYPE values of a property's parameters, lower case, in either version's spelling."""
    found: set[str] = set()
    for param in params.split(";"):
        if not param:
            continue
        key, _, value = param.partition("=")
        if not value:  # vCard 2.1 style bare type ("TEL;CELL")
            found.add(key.lower())
        elif key.strip().upper() == "TYPE":
            found.update(v.strip().strip('"').lower() for v in value.split(","))
        elif key.strip().upper() == "ENCODING":
            raise InputError(f"ENCODING={value} is vCard 2.1, not 3.0 or 4.0")
    return found


def _kind(types: set[str]) -> str:
    if "cell" in types:
        return "mobile"
    for kind in ("work", "home"):
        if kind in types:
            return kind
    return "other"


class _Card:
    def __init__(self, line: int) -> None:
        self.line = line
        self.version = ""
        self.first = self.last = self.full = self.organisation = ""
        self.numbers: dict[str, str] = {}

    def add(self, name: str, params: str, value: str) -> None:
        if name == "VERSION":
            if value.strip() not in ("3.0", "4.0"):
                raise InputError(f"VERSION {value.strip()}: only vCard 3.0 and 4.0 are read")
            self.version = value.strip()
        elif name == "N":
            parts = [*_split(value, ";"), ""]
            self.last, self.first = parts[0], parts[1]
        elif name == "FN":
            self.full = _split(value, "\0")[0]  # one text value: only unescape it
        elif name == "ORG":
            self.organisation = _split(value, ";")[0]
        elif name == "TEL":
            kind = _kind(_types(params))
            if kind in self.numbers:
                raise InputError(f"a second {kind} number: an entry holds one of each kind")
            self.numbers[kind] = normal_number(value)

    def entry(self) -> PhonebookEntry:
        if not self.version:
            raise InputError("no VERSION property")
        first, last = self.first, self.last
        if not (first or last) and self.full != self.organisation:
            first = self.full  # a card with only FN: show it as is
        return _entry(first, last, self.organisation, self.numbers)


def parse_vcard(text: str) -> list[PhonebookEntry]:
    """Entries of a vCard 3.0 or 4.0 file (one or more ``BEGIN:VCARD`` … ``END:VCARD``)."""
    entries: list[PhonebookEntry] = []
    problems: list[Problem] = []
    card: _Card | None = None
    failed = False
    for number, line in _unfold(text):
        if not line.strip():
            continue
        match = _PROPERTY.fullmatch(line)
        if match is None:
            problems.append(Problem(f"line {number}", f"not a vCard property: {line[:40]!r}"))
            failed = True
            continue
        name, params, value = match.group(1).upper(), match.group(2), match.group(3)
        if name == "BEGIN" and value.strip().upper() == "VCARD":
            if card is not None:
                problems.append(Problem(f"line {number}", "BEGIN:VCARD inside a card"))
            card, failed = _Card(number), False
            continue
        if card is None:
            problems.append(Problem(f"line {number}", f"{name} outside BEGIN:VCARD … END:VCARD"))
            continue
        where = f"card at line {card.line}"
        if name == "END" and value.strip().upper() == "VCARD":
            if not failed:
                try:
                    entries.append(card.entry())
                except InputError as exc:
                    problems.append(Problem(where, str(exc)))
            card = None
            continue
        if failed:
            continue
        try:
            card.add(name, params, value)
        except InputError as exc:
            problems.append(Problem(f"{where}, line {number}", str(exc)))
            failed = True
    if card is not None:
        problems.append(Problem(f"card at line {card.line}", "no END:VCARD"))
    if not entries and not problems:
        problems.append(Problem("", "no BEGIN:VCARD: not a vCard file"))
    return _finish(entries, problems)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


_VCARD_TYPES = {"work": "work", "mobile": "cell", "home": "home", "other": "voice"}


def write_vcard(entries: Iterable[PhonebookEntry], version: str = "4.0") -> str:
    """Entries as vCard ``version`` (3.0 or 4.0), CRLF line ends, as :func:`parse_vcard` reads."""
    if version not in ("3.0", "4.0"):
        raise InputError(f"vCard version {version!r}: expected 3.0 or 4.0")
    lines: list[str] = []
    for e in entries:
        lines += ["BEGIN:VCARD", f"VERSION:{version}"]
        lines.append(f"N:{_escape(e.last_name)};{_escape(e.first_name)};;;")
        lines.append(f"FN:{_escape(e.name)}")
        if e.organisation:
            lines.append(f"ORG:{_escape(e.organisation)}")
        for kind, number in e.numbers:
            if version == "4.0":
                value = number if "@" in number else f"tel:{number}"
                scheme = "sip:" if "@" in number else ""
                lines.append(f"TEL;VALUE=uri;TYPE={_VCARD_TYPES[kind]}:{scheme}{value}")
            else:
                lines.append(f"TEL;TYPE={_VCARD_TYPES[kind]}:{_escape(number)}")
        lines.append("END:VCARD")
    return "".join(f"{line}\r\n" for line in lines)

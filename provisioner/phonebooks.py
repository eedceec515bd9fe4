"""Tenant phonebooks, the service layer: import, export, list, show, remove (docs/phonebooks.md).

The command line calls these (and the admin API can, with its own
:class:`Actor`); each write records one audit entry in its own transaction.
Phones get phonebooks through the ``phonebooks`` setting, which names them.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import PurePath
from typing import Protocol

from provisioner.actor import Actor
from provisioner.audit import AuditEntry, entry_for
from provisioner.chars import decode_utf8
from provisioner.domain import Phonebook, PhonebookEntry
from provisioner.errors import ConflictError, InputError, NotFoundError
from provisioner.phonebook_files import MAX_ENTRIES, parse_csv, parse_vcard, write_csv, write_vcard
from provisioner.store import PhonebookSummary
from provisioner.validate import check_free_text

__all__ = [
    "Format",
    "PhonebookStore",
    "check_phonebook_name",
    "export_phonebook",
    "guess_format",
    "import_phonebook",
    "list_phonebooks",
    "read_phonebook_file",
    "remove_phonebook",
    "show_phonebook",
]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")  # as the `phonebooks` setting's items


class Format(StrEnum):
    """A phonebook file format."""

    CSV = "csv"
    VCARD = "vcard"  # 4.0 on export
    VCARD3 = "vcard3"  # 3.0 on export; on import the same as vcard


class PhonebookStore(Protocol):
    """What the service needs of :class:`provisioner.store.PhonebookRepository`."""

    def summaries(self, tenant: str) -> list[PhonebookSummary]: ...

    def get(self, tenant: str, name: str) -> Phonebook | None: ...

    def save(self, tenant: str, book: Phonebook, audit: list[AuditEntry]) -> bool: ...

    def remove(self, tenant: str, name: str, audit: list[AuditEntry]) -> None: ...

    def references(self, tenant: str, name: str) -> list[str]: ...


def check_phonebook_name(name: str) -> None:
    """Refuse a name the ``phonebooks`` setting could not name (:class:`InputError`)."""
    if NAME.fullmatch(name) is None:
        raise InputError(
            f"invalid phonebook name {name!r}: 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def guess_format(filename: str, data: bytes) -> Format:
    """The format of an import: by extension (.csv, .vcf/.vcard), else by content."""
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".csv":
        return Format.CSV
    if suffix in (".vcf", ".vcard"):
        return Format.VCARD
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:11].upper() == b"BEGIN:VCARD":
        return Format.VCARD
    return Format.CSV


def read_phonebook_file(data: bytes, fmt: Format) -> list[PhonebookEntry]:
    """The entries of a phonebook file, checked whole (``phonebook import``, fleet files).

    :raises ValidationFailed: naming every bad line; :class:`EncodingError`: not UTF-8.
    """
    text = decode_utf8(data, "phonebook file").removeprefix("\ufeff")
    return parse_csv(text) if fmt is Format.CSV else parse_vcard(text)


def import_phonebook(
    store: PhonebookStore,
    actor: Actor,
    tenant: str,
    name: str,
    data: bytes,
    fmt: Format,
    *,
    description: str | None = None,
    append: bool = False,
) -> tuple[bool, int]:
    """Create phonebook ``name`` from a file, or replace (``append``: extend) its entries.

    The whole file is checked before anything is stored; a bad file raises
    :class:`provisioner.errors.ValidationFailed` naming every bad line.
    Returns whether the phonebook was new and how many entries it now has.
    """
    check_phonebook_name(name)
    if description is not None:
        check_free_text(description, "phonebook description")
    entries = read_phonebook_file(data, fmt)
    old = store.get(tenant, name)
    if append and old is not None:
        entries = [*old.entries, *entries]
        if len(entries) > MAX_ENTRIES:
            raise InputError(
                f"phonebook {name}: {len(entries)} entries after appending, "
                f"a phonebook holds {MAX_ENTRIES}"
            )
    kept = old.description if old is not None else ""
    book = Phonebook(name, kept if description is None else description, tuple(entries))
    audit = entry_for(
        actor,
        "phonebook.import",
        f"tenant:{tenant}",
        f"phonebook {name}",
        tenant=tenant,
        before={"entries": len(old.entries)} if old is not None else {},
        after={"entries": len(book.entries), "format": fmt.value},
    )
    created = store.save(tenant, book, [audit])
    return created, len(book.entries)


def export_phonebook(store: PhonebookStore, tenant: str, name: str, fmt: Format) -> str:
    """A phonebook as CSV, vCard 4.0 (``vcard``) or vCard 3.0 (``vcard3``)."""
    book = show_phonebook(store, tenant, name)
    if fmt is Format.CSV:
        return write_csv(book.entries)
    return write_vcard(book.entries, "3.0" if fmt is Format.VCARD3 else "4.0")


def list_phonebooks(store: PhonebookStore, tenant: str) -> list[PhonebookSummary]:
    """The tenant's phonebooks by name, with their entry counts."""
    return store.summaries(tenant)


def show_phonebook(store: PhonebookStore, tenant: str, name: str) -> Phonebook:
    """One phonebook with its entries; :class:`NotFoundError` when there is none."""
    book = store.get(tenant, name)
    if book is None:
        raise NotFoundError(f"tenant {tenant} has no phonebook {name!r}")
    return book


def remove_phonebook(store: PhonebookStore, actor: Actor, tenant: str, name: str) -> None:
    """Delete a phonebook no ``phonebooks`` setting of the tenant names.

    :raises ConflictError: naming the scopes that still give it to phones.
    """
    users = store.references(tenant, name)
    if users:
        raise ConflictError(
            f"phonebook {name!r} is still given to phones by the phonebooks setting of "
            f"{', '.join(users)}: remove it there first"
        )
    book = show_phonebook(store, tenant, name)
    audit = entry_for(
        actor,
        "phonebook.remove",
        f"tenant:{tenant}",
        f"phonebook {name}",
        tenant=tenant,
        before={"entries": len(book.entries)},
    )
    store.remove(tenant, name, [audit])

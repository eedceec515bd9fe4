"""Phonebooks in fleet files: parsing, apply in one transaction, describe, export round trip.

docs/phonebooks.md "Phonebooks in fleet files"; the store tests run on
SQLite and PostgreSQL (the ``store`` fixture).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from provisioner.actor import Actor
from provisioner.catalog import Catalog
from provisioner.domain import PhonebookEntry
from provisioner.edits import Edits
from provisioner.errors import ValidationFailed
from provisioner.fleet import export_fleet, fleet_text, parse_fleet, read_fleet_text
from provisioner.fleet_apply import apply_fleet
from provisioner.phonebooks import Format, import_phonebook
from provisioner.store import Store
from provisioner.store import _tables as t

ANN = {
    "first_name": "Ann",
    "last_name": "Smith",
    "organisation": "Parts Ltd",
    "work": "+4930123456",
}
BOB = {"first_name": "Bob & <Co>", "mobile": "+49 170 555-0100"}


def doc(
    phonebooks: list[dict[str, Any]] | None = None, group_books: list[str] | None = None
) -> Any:
    """A one-tenant fleet; ``phonebooks`` (None: no key at all), the sales group's setting."""
    document: dict[str, Any] = {
        "tenants": [{"name": "acme", "sip_domain": "acme.example.com"}],
        "groups": [{"tenant": "acme", "name": "sales"}],
    }
    if group_books is not None:
        document["groups"][0]["settings"] = {"phonebooks": group_books}
    if phonebooks is not None:
        document["phonebooks"] = phonebooks
    return document


def book(name: str = "suppliers", *entries: dict[str, str], **more: Any) -> dict[str, Any]:
    return {"tenant": "acme", "name": name, "entries": list(entries), **more}


def problems(catalog: Catalog, document: Any, base: Path | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as failed:
        parse_fleet(document, catalog, base)
    return [(p.location, p.message) for p in failed.value.problems]


# --- parsing ---------------------------------------------------------------------


def test_without_the_key_books_are_left_alone_with_it_they_are_given(catalog: Catalog) -> None:
    assert parse_fleet(doc(), catalog)[0].phonebooks is None
    assert parse_fleet(doc([]), catalog)[0].phonebooks == {}
    (state,) = parse_fleet(doc([book("suppliers", ANN, BOB, description="Suppliers")]), catalog)
    assert state.phonebooks is not None
    given = state.phonebooks["suppliers"]
    assert given.description == "Suppliers"
    assert given.entries == (
        PhonebookEntry("Ann", "Smith", "Parts Ltd", (("work", "+4930123456"),)),
        PhonebookEntry("Bob & <Co>", "", "", (("mobile", "+491705550100"),)),
    )


def test_every_problem_is_located(catalog: Catalog) -> None:
    found = problems(
        catalog,
        doc(
            [
                book(
                    "suppliers",
                    ANN,
                    {"first_name": "Nobody"},
                    {"last_name": "C", "fax": "2", "work": "1"},
                ),
                book("suppliers", ANN),
                book("bad name!", ANN),
                {"tenant": "other", "name": "x", "entries": []},
                book("both", ANN, file="a.csv"),
            ]
        ),
    )
    assert found == [
        ("phonebooks[0].entries[1]", "'Nobody' has no number"),
        ("phonebooks[0].entries[2].fax", "unknown key"),
        ("phonebooks[1].name", "phonebook acme/suppliers is listed twice"),
        (
            "phonebooks[2].name",
            "invalid phonebook name 'bad name!': 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        ),
        ("phonebooks[3].tenant", "tenant 'other' is not listed under tenants"),
        ("phonebooks[4].file", "give file or entries, not both"),
    ]


def test_too_many_entries_are_refused(catalog: Catalog) -> None:
    entries = [{"first_name": f"N{n}", "work": str(n)} for n in range(5001)]
    assert problems(catalog, doc([book("big", *entries)])) == [
        ("phonebooks[0].entries", "5001 entries: a phonebook holds 5000")
    ]


def test_a_file_is_read_beside_the_fleet_file_as_import_reads_it(
    tmp_path: Path, catalog: Catalog
) -> None:
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "s.csv").write_text("first_name,work\nAnn,+4930123456\n")
    (tmp_path / "books" / "v.vcf").write_bytes(
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Vip;Victor;;;\r\nTEL;TYPE=CELL:9999\r\nEND:VCARD\r\n"
    )
    files = [
        {"tenant": "acme", "name": "s", "file": "books/s.csv"},
        {"tenant": "acme", "name": "v", "file": "books/v.vcf"},
    ]
    (state,) = parse_fleet(doc(files), catalog, tmp_path)
    assert state.phonebooks is not None
    assert state.phonebooks["s"].entries == (
        PhonebookEntry("Ann", "", "", (("work", "+4930123456"),)),
    )
    assert state.phonebooks["v"].entries == (
        PhonebookEntry("Victor", "Vip", "", (("mobile", "9999"),)),
    )


def test_a_bad_file_names_its_lines_and_a_body_cannot_name_a_file(
    tmp_path: Path, catalog: Catalog
) -> None:
    (tmp_path / "s.csv").write_text("first_name,work\nAnn,not a number\nBob,\n")
    found = problems(catalog, doc([{"tenant": "acme", "name": "s", "file": "s.csv"}]), tmp_path)
    assert found == [
        (
            "phonebooks[0].file",
            "s.csv, line 2: 'not a number' is not a number (digits, with + * # allowed)",
        ),
        ("phonebooks[0].file", "s.csv, line 3: 'Bob' has no number"),
    ]
    missing = problems(
        catalog, doc([{"tenant": "acme", "name": "s", "file": "gone.csv"}]), tmp_path
    )
    assert missing == [
        ("phonebooks[0].file", f"cannot read {tmp_path / 'gone.csv'}: No such file or directory")
    ]
    assert problems(catalog, doc([{"tenant": "acme", "name": "s", "file": "s.csv"}])) == [
        ("phonebooks[0].file", "only in a fleet file read from disk (apply FILE); give entries")
    ]


# --- apply (SQLite and PostgreSQL) ---------------------------------------------------


def apply(store: Store, catalog: Catalog, document: Any, actor: Actor | None = None) -> Any:
    return apply_fleet(store, Edits.of(store, actor), parse_fleet(document, catalog))


def test_a_book_and_the_setting_naming_it_apply_together(store: Store, catalog: Catalog) -> None:
    first = apply(store, catalog, doc([book("suppliers", ANN, BOB)], ["suppliers"]))
    assert first.changes["phonebook created"] == 1
    assert "phonebook acme/suppliers: created (2 entries)" in first.described
    stored = store.phonebooks.get("acme", "suppliers")
    assert stored is not None
    assert [e.first_name for e in stored.entries] == ["Ann", "Bob & <Co>"]
    again = apply(store, catalog, doc([book("suppliers", ANN, BOB)], ["suppliers"]))
    assert not again.changes
    assert again.described == []
    changed = apply(store, catalog, doc([book("suppliers", BOB, description="S")], ["suppliers"]))
    assert changed.changes == {"phonebook changed": 1}
    assert changed.described == [
        "phonebook acme/suppliers: description changed, entries changed (2 → 1)"
    ]


def test_books_the_file_omits_are_removed_only_when_it_gives_books(
    store: Store, catalog: Catalog
) -> None:
    apply(store, catalog, doc())
    import_phonebook(
        store.phonebooks, Actor.cli(), "acme", "old", b"first_name,work\nA,1\n", Format.CSV
    )
    assert apply(store, catalog, doc()).described == []  # no phonebooks key: kept
    assert store.phonebooks.get("acme", "old") is not None
    gone = apply(store, catalog, doc([]))
    assert gone.described == ["phonebook acme/old: removed"]
    assert gone.changes == {"phonebook removed": 1}
    assert store.phonebooks.summaries("acme") == []


def test_a_setting_naming_a_book_the_file_does_not_give_writes_nothing(
    store: Store, catalog: Catalog
) -> None:
    apply(store, catalog, doc([book("suppliers", ANN)], ["suppliers"]))
    with pytest.raises(ValidationFailed) as failed:
        apply(store, catalog, doc([book("other", ANN)], ["suppliers"]))
    assert [(p.location, p.message) for p in failed.value.problems] == [
        (
            "groups[0]: phonebooks",
            "names suppliers, which the file's phonebooks do not give tenant acme",
        )
    ]
    assert [s.name for s in store.phonebooks.summaries("acme")] == ["suppliers"]


def test_a_refused_file_stores_no_book(store: Store, catalog: Catalog) -> None:
    document = doc([book("suppliers", ANN)])
    document["groups"][0]["settings"] = {"no.such.setting": 1}
    with pytest.raises(ValidationFailed):
        apply(store, catalog, document)
    assert store.tenants.names() == []
    with store.engine.connect() as conn:
        assert conn.execute(select(t.phonebooks.c.id)).all() == []


def test_a_dry_run_describes_and_writes_nothing(store: Store, catalog: Catalog) -> None:
    apply(store, catalog, doc([book("suppliers", ANN)]))
    preview = apply(store, catalog, doc([book("suppliers", BOB)]), Actor.cli().previewing())
    assert preview.described == ["phonebook acme/suppliers: entries changed (1 → 1)"]
    stored = store.phonebooks.get("acme", "suppliers")
    assert stored is not None
    assert [e.first_name for e in stored.entries] == ["Ann"]


def _revision(store: Store) -> int:
    with store.engine.connect() as conn:
        query = select(t.tenants.c.revision).where(t.tenants.c.name == "acme")
        return int(conn.execute(query).scalar_one())


def test_apply_moves_the_revision_and_is_audited(store: Store, catalog: Catalog) -> None:
    apply(store, catalog, doc([]))
    before = _revision(store)
    apply(store, catalog, doc([book("suppliers", ANN)]))
    assert _revision(store) > before
    with store.engine.connect() as conn:
        query = select(t.audit_log.c.after).where(t.audit_log.c.action == "fleet.apply")
        last = conn.execute(query.order_by(t.audit_log.c.id.desc()).limit(1)).scalar_one()
    assert json.loads(last)["phonebooks.suppliers.entries"] == 1


def test_export_then_apply_changes_nothing(store: Store, catalog: Catalog) -> None:
    apply(
        store, catalog, doc([book("suppliers", ANN, BOB, description="S"), book("a", BOB)], ["a"])
    )
    exported = export_fleet(store.tenants.all_states(), store.phonebooks.books())
    assert [(b["name"], len(b["entries"])) for b in exported["phonebooks"]] == [
        ("a", 1),
        ("suppliers", 2),
    ]
    assert exported["phonebooks"][1]["entries"][0] == ANN
    for toml in (True, False):
        text = fleet_text(exported, toml=toml)
        again = parse_fleet(read_fleet_text(text, toml=toml, name="export"), catalog)
        assert apply_fleet(store, Edits.of(store), again).described == []
    assert export_fleet(store.tenants.all_states(), store.phonebooks.books()) == exported
    # Without books (callers that do not ask for them), no phonebooks key at all.
    assert "phonebooks" not in export_fleet(store.tenants.all_states())

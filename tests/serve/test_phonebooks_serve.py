"""Phonebooks through the serve cache and gateway: served per phone, and a change reaches them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.actor import Actor
from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.phonebooks import Format, import_phonebook
from provisioner.scope import parse_scope
from provisioner.serve._model import Protocol, Status
from tests.serve.harness import Harness, harness

SALES_PHONE, LOBBY_PHONE, MPP_PHONE = "805ec0000001", "805ec0000002", "00562b000003"
BOOK = b"first_name,last_name,work\nAlice,Smith,2001\n"


def _document() -> dict[str, Any]:
    return {
        "tenants": [
            {
                "name": "acme",
                "sip_domain": "acme.example.com",
                "settings": {"provisioning.server_url": "http://prov.example.com"},
            }
        ],
        "groups": [{"tenant": "acme", "name": "sales"}, {"tenant": "acme", "name": "lobby"}],
        "phones": [
            {"tenant": "acme", "mac": SALES_PHONE, "model": "t46s", "groups": ["sales"]},
            {"tenant": "acme", "mac": LOBBY_PHONE, "model": "t46s", "groups": ["lobby"]},
            {"tenant": "acme", "mac": MPP_PHONE, "model": "cp8841-3pcc", "groups": ["sales"]},
        ],
    }


@pytest.fixture
def h(tmp_path: Path, catalog: Catalog) -> Iterator[Harness]:
    with harness(tmp_path, catalog, _document()) as built:
        import_phonebook(built.store.phonebooks, Actor.cli(), "acme", "sales", BOOK, Format.CSV)
        Edits.of(built.store).settings.set(
            parse_scope("group:acme/sales"), "phonebooks", ("sales",)
        )
        built.run(built.cache.refresh())
        yield built


def _served(h: Harness, path: str) -> bytes:
    answer = h.get(path, Protocol.HTTP)
    assert answer.status is Status.OK, path
    data: bytes = answer.file.data
    return data


def test_each_phone_is_served_the_books_its_group_allows(h: Harness) -> None:
    assert b"<Name>Alice Smith</Name>" in _served(h, f"{SALES_PHONE}-phonebook.xml")
    assert b"Alice" not in _served(h, f"{LOBBY_PHONE}-phonebook.xml")
    assert b"<Telephone>2001</Telephone>" in _served(h, f"{MPP_PHONE}-phonebook.xml")
    url = f"remote_phonebook.data.1.url = http://prov.example.com/{SALES_PHONE}-phonebook.xml"
    assert url.encode() in _served(h, f"{SALES_PHONE}.cfg")


def test_a_reimport_reaches_the_served_files(h: Harness) -> None:
    new = b"first_name,work\nBob & Co,3003\n"
    import_phonebook(h.store.phonebooks, Actor.cli(), "acme", "sales", new, Format.CSV)
    h.run(h.cache.refresh())
    served = _served(h, f"{SALES_PHONE}-phonebook.xml")
    assert b"<Name>Bob &amp; Co</Name>" in served
    assert b"Alice" not in served


def test_a_phone_moved_out_of_the_group_loses_the_book(h: Harness) -> None:
    Edits.of(h.store).phones.update(SALES_PHONE, groups=["lobby"])
    h.run(h.cache.refresh())
    assert b"Alice" not in _served(h, f"{SALES_PHONE}-phonebook.xml")
    assert b"remote_phonebook.data.1.url = %NULL%" in _served(h, f"{SALES_PHONE}.cfg")

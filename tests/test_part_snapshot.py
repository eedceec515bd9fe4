"""A part snapshot (what a change reached) reads the directory and phonebooks only when asked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from provisioner.actor import Actor
from provisioner.catalog import Catalog
from provisioner.fleet import parse_fleet
from provisioner.phonebooks import Format, import_phonebook
from provisioner.store import Store, _tenants
from provisioner.store._read import Deferred

SHOWS, PLAIN = "0004f2000001", "805ec0000002"


def test_deferred_reads_once_and_only_when_asked() -> None:
    reads: list[int] = []

    def read() -> dict[int, str]:
        reads.append(1)
        return {1: "one"}

    deferred = Deferred(read)
    assert reads == []
    assert deferred.get(1) == "one"
    assert deferred.get(2) is None
    assert dict(deferred) == {1: "one"}
    assert len(reads) == 1


def _counted(real: Callable[..., Any], name: str, reads: list[str]) -> Callable[..., Any]:
    def read(*args: Any) -> Any:
        reads.append(name)
        return real(*args)

    return read


def _fleet(catalog: Catalog) -> Any:
    return parse_fleet(
        {
            "tenants": [{"name": "acme", "sip_domain": "acme.example.com"}],
            "phones": [
                {
                    "tenant": "acme",
                    "mac": SHOWS,
                    "model": "vvx410",
                    "lines": [{"user": "100", "display_name": "Ann"}],
                    "settings": {"directory.tenant_lines": True, "phonebooks": ["staff"]},
                },
                {
                    "tenant": "acme",
                    "mac": PLAIN,
                    "model": "t46s",
                    "lines": [{"user": "101", "display_name": "Bob"}],
                },
            ],
        },
        catalog,
    )


def test_a_part_snapshot_matches_the_whole_one_when_read(
    store: Store, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.tenants.apply(_fleet(catalog))
    import_phonebook(
        store.phonebooks, Actor.cli(), "acme", "staff", b"first_name,work\nCarol,200\n", Format.CSV
    )
    (tenant_id,) = store.tenants.revisions()
    whole = store.tenants.snapshot(tenant_ids=[tenant_id])
    reads: list[str] = []
    for name in ("read_directory", "read_phonebooks"):
        real = getattr(_tenants, name)
        monkeypatch.setattr(_tenants, name, _counted(real, name, reads))
    part = store.tenants.part_snapshot(tenant_id, [PLAIN], [])
    # Neither was read for the phones themselves ...
    assert reads == []
    directory = part.directory.get(tenant_id)
    books = part.phonebooks.get(tenant_id)
    assert part.directory.get(tenant_id) is directory  # once
    assert sorted(reads) == ["read_directory", "read_phonebooks"]
    # ... and both read the same as a whole snapshot reads them, when asked.
    assert directory == whole.directory[tenant_id]
    assert repr(books) == repr(whole.phonebooks[tenant_id])  # Phonebook compares by identity
    assert [e.user for e in directory or ()] == ["100", "101"]

"""The cache re-renders only the phones a change reached (the store's change feed).

A phone not re-rendered keeps the very entry it had (the same object), so
identity tells which phones a refresh rendered.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.scope import parse_scope
from provisioner.serve._cache import PhoneEntry
from provisioner.serve._model import Protocol, Status
from provisioner.store import _tables as t
from tests.serve.harness import Harness, harness

IN_GROUP, ALSO_IN_GROUP, OUTSIDE, SHOWS_DIRECTORY = (
    "805ec0000001",
    "805ec0000002",
    "805ec0000003",
    "0004f2000004",
)


def _document() -> dict[str, Any]:
    phones: list[dict[str, Any]] = [
        {
            "tenant": "acme",
            "mac": mac,
            "model": model,
            "groups": groups,
            "lines": [{"user": user, "password": f"secret-{user}"}],
        }
        for mac, model, groups, user in (
            (IN_GROUP, "t46s", ["sales"], "100"),
            (ALSO_IN_GROUP, "t46s", ["sales"], "101"),
            (OUTSIDE, "t46s", [], "102"),
            (SHOWS_DIRECTORY, "vvx410", [], "103"),
        )
    ]
    phones[3]["settings"] = {"directory.tenant_lines": True}
    return {
        "tenants": [{"name": "acme", "sip_domain": "acme.example.com"}],
        "groups": [{"tenant": "acme", "name": "sales"}],
        "phones": phones,
    }


@pytest.fixture
def h(tmp_path: Path, catalog: Catalog) -> Iterator[Harness]:
    with harness(tmp_path, catalog, _document()) as built:
        yield built


def _entries(h: Harness) -> dict[str, PhoneEntry]:
    return dict(h.cache.macs)


def _rendered_again(h: Harness, before: dict[str, PhoneEntry]) -> set[str]:
    h.run(h.cache.refresh())
    return {mac for mac, entry in h.cache.macs.items() if before.get(mac) is not entry}


def test_a_phone_setting_renders_that_phone_only(h: Harness) -> None:
    before = _entries(h)
    Edits.of(h.store).settings.set(parse_scope(f"phone:{OUTSIDE}"), "language", "fr")
    assert _rendered_again(h, before) == {OUTSIDE}
    assert b"French" in h.get(f"{OUTSIDE}.cfg").file.data


def test_a_group_setting_renders_its_members_only(h: Harness) -> None:
    before = _entries(h)
    Edits.of(h.store).settings.set(parse_scope("group:acme/sales"), "language", "fr")
    assert _rendered_again(h, before) == {IN_GROUP, ALSO_IN_GROUP}
    for mac in (IN_GROUP, ALSO_IN_GROUP):
        assert b"French" in h.get(f"{mac}.cfg").file.data
    assert b"French" not in h.get(f"{OUTSIDE}.cfg").file.data


def test_a_tenant_setting_renders_the_tenant(h: Harness) -> None:
    before = _entries(h)
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "language", "fr")
    assert _rendered_again(h, before) == set(before)


def test_a_line_rename_renders_the_phones_showing_the_directory(h: Harness) -> None:
    before = _entries(h)
    Edits.of(h.store).lines.update(OUTSIDE, 1, display_name="Front desk")
    rendered = _rendered_again(h, before)
    assert {OUTSIDE, SHOWS_DIRECTORY} <= rendered
    assert b"Front desk" in h.get(f"{SHOWS_DIRECTORY}-directory.xml").file.data


def test_a_removed_phone_is_no_longer_served(h: Harness) -> None:
    Edits.of(h.store).phones.remove(IN_GROUP)
    h.run(h.cache.refresh())
    assert IN_GROUP not in h.cache.macs
    assert h.get(f"{IN_GROUP}.cfg", Protocol.HTTP).status is not Status.OK
    tenant_id = next(iter(h.cache.tenants))
    assert IN_GROUP not in h.cache.tenants[tenant_id].phones


def test_a_gap_in_the_feed_renders_the_tenant(h: Harness) -> None:
    before = _entries(h)
    Edits.of(h.store).settings.set(parse_scope(f"phone:{OUTSIDE}"), "language", "fr")
    with h.store.engine.begin() as conn:
        conn.execute(t.change_feed.delete())
    assert _rendered_again(h, before) == set(before)

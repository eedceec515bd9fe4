"""``TenantRepository.phone_page``: a page of phones, as whole tenants say they are.

Every filter, order and offset is checked against the phones read back
through ``all_states`` (the whole-tenant path), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.render import fleet
from provisioner.catalog import Catalog
from provisioner.state import PhoneState
from provisioner.store import Store

PHONES = 40


@pytest.fixture
def filled(store: Store, catalog: Catalog) -> Store:
    tenants = fleet(catalog, PHONES)
    for i, phone in enumerate(sorted(tenants[0].phones.values(), key=lambda p: p.mac)):
        phone.enabled = i % 3 != 0
        phone.description = f"desk {PHONES - i:03d}"
        if i % 4 == 0:
            phone.lines = []  # phones without lines are listed too
    store.tenants.apply(tenants)
    return store


def _all(store: Store) -> list[tuple[str, PhoneState]]:
    return [(s.name, p) for s in store.tenants.all_states() for p in s.phones.values()]


def _key(order: str) -> Any:
    def key(row: tuple[str, PhoneState]) -> tuple[Any, str]:
        tenant, phone = row
        value = {"tenant": tenant, "model": phone.model, "description": phone.description}
        return value.get(order, phone.mac), phone.mac

    return key


@pytest.mark.parametrize("order", ["mac", "model", "tenant", "description"])
@pytest.mark.parametrize("descending", [False, True])
def test_pages_in_every_order_are_the_whole_list_cut(
    filled: Store, order: str, descending: bool
) -> None:
    expected = sorted(_all(filled), key=_key(order), reverse=descending)
    got: list[tuple[str, PhoneState]] = []
    for offset in range(0, PHONES + 7, 7):
        page, total = filled.tenants.phone_page(
            order=order, descending=descending, limit=7, offset=offset
        )
        assert total == PHONES
        got += page
    assert got == expected


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        ({"tenants": ["bench-a"]}, lambda t, p: t == "bench-a"),
        ({"tenants": []}, lambda t, p: False),
        ({"enabled": False}, lambda t, p: not p.enabled),
        ({"group": "g1"}, lambda t, p: "g1" in p.groups),
        (
            {"tenants": ["bench-a", "bench-b"], "group": "g2", "enabled": True},
            lambda t, p: "g2" in p.groups and p.enabled,
        ),
    ],
)
def test_filters_give_the_matching_phones_and_their_count(
    filled: Store, filters: dict[str, Any], keep: Any
) -> None:
    expected = sorted((r for r in _all(filled) if keep(*r)), key=_key("mac"))
    page, total = filled.tenants.phone_page(limit=1000, **filters)
    assert page == expected
    assert total == len(expected)
    assert filled.tenants.phone_page(limit=5, offset=3, **filters) == (expected[3:8], total)


def test_a_model_filter_counts_only_that_model(filled: Store) -> None:
    everything = _all(filled)
    model = everything[0][1].model
    expected = sorted((r for r in everything if r[1].model == model), key=_key("mac"))
    assert filled.tenants.phone_page(model=model, limit=1000) == (expected, len(expected))

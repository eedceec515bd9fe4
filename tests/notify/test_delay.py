"""A job's start delay: the longest ``notify.delay_seconds`` of its tenants, as resolved."""

from __future__ import annotations

from provisioner.catalog import Catalog
from provisioner.domain import ScopeKind, Snapshot, StoredValue, Tenant
from provisioner.notify import notify_delay

NAME = "notify.delay_seconds"


def heads(*tenants: tuple[int, int | None]) -> Snapshot:
    """Tenants by id, each with its own stored delay (``None``: none stored)."""
    snap = Snapshot()
    for tenant_id, delay in tenants:
        snap.tenants[tenant_id] = Tenant(tenant_id, f"t{tenant_id}", "example.com", "generic", "")
        if delay is not None:
            snap.settings[(ScopeKind.TENANT, tenant_id)] = {NAME: StoredValue(delay)}
    return snap


def test_no_tenants_no_delay(catalog: Catalog) -> None:
    assert notify_delay(catalog, Snapshot()) == 0


def test_a_tenant_without_a_value_takes_the_default(catalog: Catalog) -> None:
    default = catalog.common[NAME].default
    assert isinstance(default, int)
    assert notify_delay(catalog, heads((1, None))) == default


def test_the_longest_delay_of_the_tenants_wins(catalog: Catalog) -> None:
    assert notify_delay(catalog, heads((1, 0), (2, 7), (3, 3))) == 7
    assert notify_delay(catalog, heads((1, 0))) == 0

"""The change feed says what each revision of a tenant reached (both backends)."""

from __future__ import annotations

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.fleet import parse_fleet
from provisioner.scope import parse_scope
from provisioner.store import Reach, Store
from provisioner.store import _tables as t

IN_GROUP, ALSO_IN_GROUP, OUTSIDE = "805ec0000001", "805ec0000002", "805ec0000003"


def _setup(store: Store, catalog: Catalog) -> tuple[int, int]:
    """A tenant with a group of two phones and a phone outside it; its id and revision."""
    phones = [
        {
            "tenant": "acme",
            "mac": mac,
            "model": "t46s",
            "groups": groups,
            "lines": [{"user": user, "password": f"secret-{user}"}],
        }
        for mac, groups, user in (
            (IN_GROUP, ["sales"], "100"),
            (ALSO_IN_GROUP, ["sales"], "101"),
            (OUTSIDE, [], "102"),
        )
    ]
    document = {
        "tenants": [{"name": "acme", "sip_domain": "acme.example.com"}],
        "groups": [{"tenant": "acme", "name": "sales"}],
        "phones": phones,
    }
    store.tenants.apply(parse_fleet(document, catalog))
    ((tenant_id, revision),) = store.tenants.revisions().items()
    return tenant_id, revision


def _since(store: Store, tenant_id: int, revision: int) -> Reach:
    return store.tenants.reach(tenant_id, revision, store.tenants.revisions()[tenant_id])


def _group_id(store: Store, name: str) -> int:
    snap = store.tenants.snapshot()
    return next(g.id for g in snap.groups.values() if g.name == name)


def test_a_phone_setting_reaches_that_phone(store: Store, catalog: Catalog) -> None:
    tenant_id, revision = _setup(store, catalog)
    Edits.of(store).settings.set(parse_scope(f"phone:{OUTSIDE}"), "language", "fr")
    assert _since(store, tenant_id, revision) == Reach(macs={OUTSIDE})


def test_a_group_setting_reaches_the_group(store: Store, catalog: Catalog) -> None:
    tenant_id, revision = _setup(store, catalog)
    Edits.of(store).settings.set(parse_scope("group:acme/sales"), "language", "fr")
    assert _since(store, tenant_id, revision) == Reach(groups={_group_id(store, "sales")})


def test_a_tenant_setting_reaches_the_whole_tenant(store: Store, catalog: Catalog) -> None:
    tenant_id, revision = _setup(store, catalog)
    Edits.of(store).settings.set(parse_scope("tenant:acme"), "language", "fr")
    assert _since(store, tenant_id, revision).whole


def test_a_line_rename_reaches_its_phone_and_the_directory(store: Store, catalog: Catalog) -> None:
    tenant_id, revision = _setup(store, catalog)
    Edits.of(store).lines.update(IN_GROUP, 1, display_name="Front desk")
    assert _since(store, tenant_id, revision) == Reach(directory=True, macs={IN_GROUP})


def test_revisions_add_up(store: Store, catalog: Catalog) -> None:
    tenant_id, revision = _setup(store, catalog)
    edits = Edits.of(store)
    edits.settings.set(parse_scope(f"phone:{OUTSIDE}"), "language", "fr")
    edits.settings.set(parse_scope("group:acme/sales"), "language", "de")
    edits.groups.add("acme", "empty")  # reaches no phone
    edits.phones.remove(IN_GROUP)
    expected = Reach(groups={_group_id(store, "sales")}, macs={OUTSIDE, IN_GROUP}, directory=True)
    assert _since(store, tenant_id, revision) == expected


def test_a_revision_the_feed_does_not_cover_means_the_whole_tenant(
    store: Store, catalog: Catalog
) -> None:
    tenant_id, revision = _setup(store, catalog)
    Edits.of(store).settings.set(parse_scope(f"phone:{OUTSIDE}"), "language", "fr")
    with store.engine.begin() as conn:  # as when rows were pruned
        conn.execute(t.change_feed.delete())
    assert _since(store, tenant_id, revision).whole
    assert _since(store, tenant_id, store.tenants.revisions()[tenant_id]) == Reach()

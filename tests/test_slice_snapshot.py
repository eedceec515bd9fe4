"""A tenant read in slices of phones by MAC reads, slice by slice, what one snapshot reads."""

from __future__ import annotations

from provisioner.catalog import Catalog
from provisioner.domain import ScopeKind, Snapshot
from provisioner.fleet import parse_fleet
from provisioner.store import Store

# Two tenants whose MACs interleave: a slice of one must hold none of the other.
ACME = ["000000000001", "000000000003", "000000000005", "000000000007", "000000000009"]
BETA = ["000000000002", "000000000004"]


def _fleet(catalog: Catalog) -> object:
    return parse_fleet(
        {
            "tenants": [
                {"name": "acme", "sip_domain": "acme.example.com", "settings": {"language": "fr"}},
                {"name": "beta", "sip_domain": "beta.example.com"},
                {"name": "void", "sip_domain": "void.example.com"},
            ],
            "groups": [{"tenant": "acme", "name": "sales", "settings": {"language": "de"}}],
            "phones": [
                {
                    "tenant": "acme" if mac in ACME else "beta",
                    "mac": mac,
                    "model": "t46s",
                    "groups": ["sales"] if mac in ACME[1:3] else [],
                    "settings": {"language": "it"} if mac == ACME[4] else {},
                    "lines": [
                        {
                            "user": f"{i}",
                            "display_name": f"User {i}",
                            "settings": {"sip.registrar.port": 5070},
                        }
                    ],
                }
                for i, mac in enumerate(sorted(ACME + BETA))
            ],
        },
        catalog,
    )


def _phones(snap: Snapshot) -> dict[str, object]:
    """The phones of a snapshot with their lines and settings, by MAC (ids left as read)."""
    return {
        p.mac: (
            p,
            snap.lines.get(p.id),
            snap.values(ScopeKind.PHONE, p.id),
            [snap.values(ScopeKind.LINE, line.id) for line in snap.lines.get(p.id, ())],
        )
        for p in snap.phones.values()
    }


def _ids(store: Store) -> dict[str, int]:
    heads = store.tenants.heads(list(store.tenants.revisions()))
    return {tenant.name: tenant_id for tenant_id, tenant in heads.tenants.items()}


def test_slices_cover_the_tenant_once_in_mac_order(store: Store, catalog: Catalog) -> None:
    store.tenants.apply(_fleet(catalog))  # type: ignore[arg-type]
    ids = _ids(store)
    assert store.tenants.phone_counts() == {ids["acme"]: 5, ids["beta"]: 2}
    whole = store.tenants.snapshot(tenant_ids=[ids["acme"]])
    slices: list[Snapshot] = []
    ends: list[str | None] = []
    after: str | None = ""
    while after is not None:
        snap, after = store.tenants.slice_snapshot(ids["acme"], after, 2)
        slices.append(snap)
        ends.append(after)
    assert ends == [ACME[1], ACME[3], None]
    assert [sorted(p.mac for p in s.phones.values()) for s in slices] == [
        ACME[0:2],
        ACME[2:4],
        ACME[4:],
    ]
    # Lines of phones in the same groups share one set of group names.
    in_sales = [e.groups for e in whole.directory[ids["acme"]] if e.groups]
    assert len(in_sales) == 2
    assert in_sales[0] is in_sales[1]
    read: dict[str, object] = {}
    for snap in slices:
        # The tenant's own rows come with every slice, as one snapshot reads them.
        assert snap.tenants == whole.tenants
        assert snap.groups == whole.groups
        assert snap.values(ScopeKind.TENANT, ids["acme"]) == whole.values(
            ScopeKind.TENANT, ids["acme"]
        )
        for group in whole.groups:
            assert snap.values(ScopeKind.GROUP, group) == whole.values(ScopeKind.GROUP, group)
        assert snap.directory.get(ids["acme"]) == whole.directory[ids["acme"]]
        read.update(_phones(snap))
    assert read == _phones(whole)


def test_a_slice_of_a_tenant_without_phones_reads_its_head(store: Store, catalog: Catalog) -> None:
    store.tenants.apply(_fleet(catalog))  # type: ignore[arg-type]
    ids = _ids(store)
    snap, after = store.tenants.slice_snapshot(ids["void"], "", 2)
    assert after is None
    assert [t.name for t in snap.tenants.values()] == ["void"]
    assert snap.phones == {}
    # A slice size the tenant fills exactly ends with an empty slice.
    snap, after = store.tenants.slice_snapshot(ids["acme"], "", 5)
    assert (len(snap.phones), after) == (5, ACME[4])
    snap, after = store.tenants.slice_snapshot(ids["acme"], ACME[4], 5)
    assert (len(snap.phones), after) == (0, None)

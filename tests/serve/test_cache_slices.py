"""A large tenant is rendered whole a slice of phones at a time, and serves what one render would.

The slice size is a parameter of the cache; here it is three phones, so
tenant acme (nine phones) spans several slices and tenant beta (three) and
the empty tenant are read together. Every figure the cache
serves is compared with a cache that reads each tenant at once: files
(ETags, paths, Last-Modified), what each entry holds, the tenants' policies
and the errors. Each slice is its own read: a write committed between two
of them is rendered at the next refresh (the render is tagged with the
revision read before the first slice).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.actor import Actor
from provisioner.catalog import Catalog
from provisioner.domain import Snapshot
from provisioner.edits import Edits
from provisioner.fleet import parse_fleet
from provisioner.phonebooks import Format, import_phonebook
from provisioner.render import RenderError
from provisioner.scope import parse_scope
from provisioner.serve._cache import ConfigCache
from provisioner.serve._db import Db
from provisioner.serve._metrics import Metrics
from provisioner.store import Store

# Tenant acme, in MAC order: a Polycom that shows the directory and a
# phonebook, Yealinks of groups sales and reception (keys.policy blf: a key
# for every other line of the tenant), and a second Polycom last.
_Phone = tuple[str, str, list[str], dict[str, Any]]  # MAC, model, groups, settings

ACME: list[_Phone] = [
    ("0004f2000001", "vvx410", [], {"directory.tenant_lines": True, "phonebooks": ["staff"]}),
    ("805ec0000001", "t46s", ["sales"], {}),
    ("805ec0000002", "t46s", ["sales"], {}),
    ("805ec0000003", "t46s", ["reception"], {}),
    ("805ec0000004", "t21p_e2", ["reception"], {}),
    ("805ec0000005", "t46s", [], {"access.http.password": "phone-pass-1234"}),
    ("805ec0000006", "t46s", ["sales", "reception"], {}),
    ("805ec0000007", "t46s", [], {}),
    ("805ec0000008", "vvx410", [], {}),
]
BETA: list[_Phone] = [
    ("0004f2000101", "vvx410", [], {}),
    ("805ec0000101", "t46s", [], {}),
    ("805ec0000102", "t46s", [], {}),
]


def _document() -> dict[str, Any]:
    phones = [
        {
            "tenant": tenant,
            "mac": mac,
            "model": model,
            "groups": groups,
            "settings": settings,
            "lines": [{"user": f"{100 + i}", "display_name": f"User {i}", "password": "s3cret"}],
        }
        for tenant, fleet in (("acme", ACME), ("beta", BETA))
        for i, (mac, model, groups, settings) in enumerate(
            fleet, start=100 if tenant == "beta" else 0
        )
    ]
    return {
        "tenants": [
            {"name": "acme", "sip_domain": "acme.example.com"},
            {"name": "beta", "sip_domain": "beta.example.com"},
            {"name": "void", "sip_domain": "void.example.com"},
        ],
        "groups": [
            {"tenant": "acme", "name": "sales", "settings": {"language": "fr"}},
            {"tenant": "acme", "name": "reception", "settings": {"keys.policy": "blf"}},
        ],
        "phones": phones,
    }


class _Cache:
    """A cache over ``store`` on an event loop of its own, recording its render errors."""

    def __init__(self, store: Store, catalog: Catalog, slice_phones: int, site: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.db = Db()
        self.cache = ConfigCache(
            store.tenants,
            store.firmware,
            catalog,
            self.db,
            Metrics(),
            site_dir=site,
            slice_phones=slice_phones,
        )
        self.errors: list[str] = []
        count: Callable[[list[RenderError]], None] = self.cache._count_errors

        def record(errors: list[RenderError]) -> None:
            self.errors.extend(str(e) for e in errors)
            count(errors)

        self.cache._count_errors = record  # type: ignore[method-assign]

    def refresh(self) -> None:
        self.loop.run_until_complete(self.cache.refresh())

    def reload(self) -> None:
        self.loop.run_until_complete(self.cache.reload_templates(self.cache._site_dir))

    def close(self) -> None:
        self.loop.close()
        self.db.close()

    def served(self, times: bool = True) -> dict[str, Any]:
        """Everything the cache serves, as plain data (files by ETag, not identity).

        Without ``times``, no file's Last-Modified: a phone no change
        reached keeps the time of its tenant when it was rendered, which a
        cache rendering the tenant later may have seen move.
        """
        return {
            tenant.policy.name: (
                tenant.policy,
                tenant.revision,
                tenant.auth_in_use,
                {
                    mac: (
                        phone.tenant_id,
                        phone.family.key,
                        phone.model,
                        phone.access,
                        phone.firmware,
                        phone.notify,
                        phone.directory,
                        phone.inputs,
                        {
                            path: (f.etag, f.content_type, f.last_modified if times else 0, f.size)
                            for path, f in phone.files.items()
                        },
                    )
                    for mac, phone in tenant.phones.items()
                },
            )
            for tenant in self.cache.tenants.values()
        }


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "site" / "polycom" / "ucs").mkdir(parents=True)
    return tmp_path / "site"


@pytest.fixture
def fleet(store: Store, catalog: Catalog) -> Store:
    store.tenants.apply(parse_fleet(_document(), catalog))
    import_phonebook(
        store.phonebooks, Actor.cli(), "acme", "staff", b"first_name,work\nCarol,200\n", Format.CSV
    )
    return store


@pytest.fixture
def caches(fleet: Store, catalog: Catalog, site: Path) -> Iterator[tuple[_Cache, _Cache]]:
    """A cache that slices every three phones, and one that reads each tenant at once."""
    sliced, whole = _Cache(fleet, catalog, 3, site), _Cache(fleet, catalog, 1_000, site)
    try:
        yield sliced, whole
    finally:
        sliced.close()
        whole.close()


def _slices(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Record each slice read (tenant id, MAC after) from now on."""
    read: list[tuple[int, str]] = []
    real = store.tenants.slice_snapshot

    def counted(tenant_id: int, after: str, size: int) -> tuple[Snapshot, str | None]:
        read.append((tenant_id, after))
        return real(tenant_id, after, size)

    monkeypatch.setattr(store.tenants, "slice_snapshot", counted)
    return read


def test_a_sliced_render_serves_what_one_render_does(
    fleet: Store, caches: tuple[_Cache, _Cache], monkeypatch: pytest.MonkeyPatch
) -> None:
    sliced, whole = caches
    read = _slices(fleet, monkeypatch)
    sliced.refresh()
    (acme,) = [t for t, e in sliced.cache.tenants.items() if e.policy.name == "acme"]
    # acme alone is sliced (nine phones: three slices of three, and an empty one
    # that finds none left); beta and void are read at once.
    assert read == [(acme, ""), (acme, ACME[2][0]), (acme, ACME[5][0]), (acme, ACME[8][0])]
    whole.refresh()
    assert len(read) == 4  # the reference reads no slice
    assert sliced.served() == whole.served()
    assert set(sliced.served()) == {"acme", "beta", "void"}
    assert len(sliced.served()["acme"][3]) == len(ACME)
    # The policy keys and the directory show other phones' lines across slices.
    reception = sliced.cache.macs["805ec0000003"]
    assert reception.directory != b""
    assert sliced.cache.macs["0004f2000001"].directory != b""
    # A tenant setting no file shows: every phone is resolved again, slice by
    # slice, and keeps the very entry it had; the policy is the new one.
    entries = dict(sliced.cache.macs)
    Edits.of(fleet).settings.set(parse_scope("tenant:acme"), "notify.rate", 20)
    sliced.refresh()
    whole.refresh()
    assert len(read) == 8
    assert all(sliced.cache.macs[mac] is entry for mac, entry in entries.items())
    assert sliced.cache.tenants[acme].policy.notify_rate == 20
    assert sliced.served() == whole.served()
    # A template change renders every phone again, sliced, to the same files.
    sliced.reload()
    whole.reload()
    assert sliced.served() == whole.served()


def test_a_failing_phone_keeps_the_sliced_tenant_as_it_was(
    fleet: Store, caches: tuple[_Cache, _Cache], site: Path
) -> None:
    sliced, whole = caches
    sliced.refresh()
    whole.refresh()
    before = sliced.served()
    # The Polycoms fail: acme's first (in the first slice) and last (in the last).
    (site / "polycom" / "ucs" / "master.cfg.j2").write_text("{{ s['no.such'] }}\n")
    Edits.of(fleet).settings.set(parse_scope("tenant:acme"), "language", "de")
    sliced.refresh()
    whole.refresh()
    assert sliced.errors == whole.errors
    assert sum("0004f2" in e or "805ec0000008" in e for e in sliced.errors) >= 2
    assert sliced.served() == whole.served()
    after = sliced.served()
    # Every tenant is kept whole: no slice of acme rendered without errors went in.
    for name in ("acme", "beta"):
        assert after[name][3] == before[name][3]


def test_phones_of_a_new_tenant_that_rendered_are_served_whatever_their_slice(
    fleet: Store, catalog: Catalog, site: Path
) -> None:
    (site / "polycom" / "ucs" / "master.cfg.j2").write_text("{{ s['no.such'] }}\n")
    sliced, whole = _Cache(fleet, catalog, 3, site), _Cache(fleet, catalog, 1_000, site)
    try:
        sliced.refresh()
        whole.refresh()
        assert sliced.errors == whole.errors
        assert len(sliced.errors) >= 3  # the three Polycoms
        assert sliced.served() == whole.served()
        served = sliced.served()["acme"][3]
        assert "0004f2000001" not in served
        assert set(served) == {mac for mac, model, *_ in ACME if model != "vvx410"}
    finally:
        sliced.close()
        whole.close()


def test_a_write_between_slices_is_rendered_at_the_next_refresh(
    fleet: Store, caches: tuple[_Cache, _Cache], monkeypatch: pytest.MonkeyPatch
) -> None:
    sliced, whole = caches
    first, late = ACME[0][0], ACME[7][0]
    real = fleet.tenants.slice_snapshot
    edits = Edits.of(fleet)

    def then_write(tenant_id: int, after: str, size: int) -> tuple[Snapshot, str | None]:
        read = real(tenant_id, after, size)
        if after == "":  # once the first slice is read: a phone read, one not read yet, a new one
            edits.settings.set(parse_scope(f"phone:{first}"), "language", "it")
            edits.settings.set(parse_scope(f"phone:{late}"), "language", "it")
            edits.phones.add("acme", "0004f2000002", "vvx410")
            edits.phones.remove(ACME[8][0])
        return read

    monkeypatch.setattr(fleet.tenants, "slice_snapshot", then_write)
    revisions = fleet.tenants.revisions()
    sliced.refresh()
    monkeypatch.setattr(fleet.tenants, "slice_snapshot", real)
    (acme,) = [t for t in sliced.cache.tenants.values() if t.policy.name == "acme"]
    # Served as of the revision read before the first slice, whatever later slices saw.
    assert acme.revision == revisions[acme.policy.tenant_id]
    assert acme.revision < fleet.tenants.revisions()[acme.policy.tenant_id]
    # The phone added meanwhile, in a range read already, is not served yet; the
    # phone removed before its slice was read is not served.
    assert "0004f2000002" not in acme.phones
    assert ACME[8][0] not in acme.phones
    sliced.refresh()
    whole.refresh()  # its first: all of it read after the writes
    assert sliced.served(times=False) == whole.served(times=False)
    assert "0004f2000002" in sliced.cache.macs
    assert ACME[8][0] not in sliced.cache.macs


def test_a_tenant_deleted_between_slices_is_not_served(
    fleet: Store, caches: tuple[_Cache, _Cache], monkeypatch: pytest.MonkeyPatch
) -> None:
    sliced, _ = caches
    real = fleet.tenants.slice_snapshot

    def then_delete(tenant_id: int, after: str, size: int) -> tuple[Snapshot, str | None]:
        read = real(tenant_id, after, size)
        if after == "":
            fleet.tenants.remove("acme")
        return read

    monkeypatch.setattr(fleet.tenants, "slice_snapshot", then_delete)
    sliced.refresh()
    assert set(sliced.served()) == {"beta", "void"}
    assert not any(mac in sliced.cache.macs for mac, *_ in ACME)

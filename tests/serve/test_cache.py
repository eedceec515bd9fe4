"""The cache reports what each refresh changed as data (``changes``), after installing it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.scope import parse_scope
from provisioner.serve._changes import Refreshed
from tests.serve.harness import HOSTED, POLYCOM, YEALINK, Harness, harness


@pytest.fixture
def h(tmp_path: Path, catalog: Catalog) -> Iterator[Harness]:
    with harness(tmp_path, catalog) as built:
        yield built


def _refresh(h: Harness) -> Refreshed | None:
    while not h.cache.changes.empty():  # what earlier refreshes reported
        h.cache.changes.get_nowait()
    h.run(h.cache.refresh())
    return None if h.cache.changes.empty() else h.cache.changes.get_nowait()


def test_the_first_refresh_reports_every_tenant_and_the_totals(h: Harness) -> None:
    # The harness refreshed once already; its report is on the queue.
    refreshed = h.cache.changes.get_nowait()
    assert {c.policy.name for c in refreshed.tenants if c.policy} == {"acme", "hosted"}
    assert all(c.changed == () for c in refreshed.tenants)  # nothing served before
    assert (h.metrics.tenants, h.metrics.phones) == (2, 3)


def test_a_change_reports_exactly_the_phones_whose_files_changed(h: Harness) -> None:
    Edits.of(h.store).settings.set(parse_scope(f"phone:{POLYCOM}"), "language", "fr")
    refreshed = _refresh(h)
    assert refreshed is not None
    (change,) = refreshed.tenants
    assert change.policy is not None
    assert (change.policy.name, change.changed) == ("acme", (POLYCOM,))
    # Reported after installing: the cache already serves the new state.
    assert h.cache.macs[POLYCOM].files == h.cache.tenants[change.tenant_id].phones[POLYCOM].files


def test_a_change_no_file_shows_reports_no_phone(h: Harness) -> None:
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "notify.rate", 20)
    refreshed = _refresh(h)
    assert refreshed is not None
    (change,) = refreshed.tenants
    assert change.changed == ()
    assert change.policy is not None
    assert change.policy.notify_rate == 20


def test_new_and_removed_phones_and_tenants(h: Harness) -> None:
    Edits.of(h.store).phones.add("acme", "0004f20000aa", "vvx410")
    refreshed = _refresh(h)
    assert refreshed is not None
    assert refreshed.tenants[0].changed == ()  # a new phone has nothing to resync
    assert h.metrics.phones == 4
    h.store.tenants.remove("hosted")
    refreshed = _refresh(h)
    assert refreshed is not None
    (gone,) = refreshed.tenants
    assert gone.policy is None
    assert HOSTED not in h.cache.macs
    assert YEALINK in h.cache.macs


def test_nothing_to_do_reports_nothing(h: Harness) -> None:
    assert _refresh(h) is None


def test_a_failing_phone_keeps_its_whole_tenant_as_it_was(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "polycom" / "ucs").mkdir(parents=True)
    with harness(tmp_path, Catalog.load(site), site_dir=site) as h:
        before = {mac: dict(h.cache.macs[mac].files) for mac in (POLYCOM, YEALINK)}
        override = site / "polycom" / "ucs" / "master.cfg.j2"
        override.write_text("{{ s['no.such'] }}\n")  # fails for the Polycom only
        Edits.of(h.store).settings.set(parse_scope(f"phone:{YEALINK}"), "language", "fr")
        refreshed = _refresh(h)
        assert refreshed is not None
        assert refreshed.catalog_reloaded
        assert [c for c in refreshed.tenants if c.policy and c.policy.name == "acme"] == []
        # Neither phone of the tenant moves: no mix of two states.
        assert {mac: dict(h.cache.macs[mac].files) for mac in before} == before
        assert h.metrics.render_errors >= 1
        assert _refresh(h) is None  # kept, not rendered again every poll
        override.unlink()
        Edits.of(h.store).settings.set(parse_scope(f"phone:{YEALINK}"), "language", "de")
        refreshed = _refresh(h)
        assert refreshed is not None
        (acme,) = [c for c in refreshed.tenants if c.policy and c.policy.name == "acme"]
        assert acme.changed == (YEALINK,)


def test_identical_files_of_a_render_are_held_once(h: Harness) -> None:
    twin = "0004f20000aa"  # same model and settings: the same (empty) directory file
    Edits.of(h.store).phones.add("acme", twin, "vvx410")
    # A tenant setting every phone shows: the whole tenant rendered again, in one render.
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "language", "fr")
    _refresh(h)
    ours, theirs = h.cache.macs[POLYCOM].files, h.cache.macs[twin].files
    first, second = ours[f"{POLYCOM}-directory.xml"], theirs[f"{twin}-directory.xml"]
    assert first is second  # one wrapper, one ETag, one copy of the bytes
    assert ours[f"{POLYCOM}.cfg"] is not theirs[f"{twin}.cfg"]  # different bytes: their own


def test_paths_are_found_in_any_case_through_the_phone(h: Harness) -> None:
    phone, file = h.cache.lookup(f"{POLYCOM.upper()}.CFG") or (None, None)
    assert phone is h.cache.macs[POLYCOM]
    assert file is phone.files[f"{POLYCOM}.cfg"]
    target = h.cache.upload_target(f"{POLYCOM.upper()}-PHONE.cfg")
    assert target is not None
    owner, name, upload = target
    assert (owner, name, upload.path) == (phone, f"{POLYCOM}-phone.cfg", "{mac}-phone.cfg")
    assert h.cache.upload_target(f"{POLYCOM}-nothing.cfg") is None
    assert h.cache.lookup(f"{POLYCOM}.cfg", "no-such-token") is None

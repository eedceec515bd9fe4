"""The cache re-renders only the phones a change reached (the store's change feed).

A phone not re-rendered keeps the very entry it had (the same object), so
identity tells which phones a refresh rendered; the ``phones_rendered``
metric counts them.

A line renamed reaches the tenant directory, which names no phone: of the
phones that read it, only those whose keys or directory show the line are
rendered again (serve/_directory_reads.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.scope import parse_scope
from provisioner.serve import _cache as cache_module
from provisioner.serve._cache import PhoneEntry, TenantEntry
from provisioner.serve._model import Protocol, Status
from provisioner.state import LineState
from provisioner.store import _tables as t
from tests.serve.harness import Harness, harness

IN_GROUP, ALSO_IN_GROUP, OUTSIDE, SHOWS_DIRECTORY = (
    "805ec0000001",
    "805ec0000002",
    "805ec0000003",
    "0004f2000004",
)
# Group reception has keys.policy = blf: a BLF key for every other line.
RECEPTION = "805ec0000005"  # a T46S: keys for every line
SMALL = "805ec0000006"  # a T21P E2 with one free key: it shows line 100 only


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
            (RECEPTION, "t46s", ["reception"], "104"),
            (SMALL, "t21p_e2", ["reception"], "105"),
        )
    ]
    phones[3]["settings"] = {"directory.tenant_lines": True}
    return {
        "tenants": [{"name": "acme", "sip_domain": "acme.example.com"}],
        "groups": [
            {"tenant": "acme", "name": "sales"},
            {"tenant": "acme", "name": "reception", "settings": {"keys.policy": "blf"}},
        ],
        "phones": phones,
    }


@pytest.fixture
def h(tmp_path: Path, catalog: Catalog) -> Iterator[Harness]:
    with harness(tmp_path, catalog, _document()) as built:
        yield built


def _entries(h: Harness) -> dict[str, PhoneEntry]:
    return dict(h.cache.macs)


def _rendered_again(h: Harness, before: dict[str, PhoneEntry]) -> set[str]:
    count = h.metrics.phones_rendered
    h.run(h.cache.refresh())
    rendered = {mac for mac, entry in h.cache.macs.items() if before.get(mac) is not entry}
    assert h.metrics.phones_rendered - count == len(rendered)
    return rendered


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


def test_a_tenant_setting_every_phone_shows_renders_the_tenant(h: Harness) -> None:
    before = _entries(h)
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "language", "fr")
    assert _rendered_again(h, before) == set(before)


def test_a_tenant_setting_renders_only_the_phones_whose_inputs_it_moves(h: Harness) -> None:
    before = _entries(h)
    # A Yealink setting: the Polycom phone resolves as it did and keeps its entry.
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "yealink.notify_reboot", True)
    assert _rendered_again(h, before) == set(before) - {SHOWS_DIRECTORY}
    before = _entries(h)
    # Pacing is the server's: no phone is rendered, the tenant's policy is new.
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "notify.rate", 20)
    assert _rendered_again(h, before) == set()
    (tenant,) = h.cache.tenants.values()
    assert tenant.policy.notify_rate == 20
    assert h.get(f"{OUTSIDE}.cfg").file is before[OUTSIDE].files[f"{OUTSIDE}.cfg"]


def test_a_template_change_renders_every_phone(h: Harness) -> None:
    before, count = _entries(h), h.metrics.phones_rendered
    h.run(h.cache.reload_templates(None))  # reads the templates again, and refreshes
    assert all(h.cache.macs[mac] is not entry for mac, entry in before.items())
    assert h.metrics.phones_rendered - count == len(before)
    # The same templates rendered the same bytes: each phone keeps the very
    # files it had, not a second copy of them.
    for mac, entry in before.items():
        again = h.cache.macs[mac].files
        assert again.keys() == entry.files.keys()
        assert all(again[path] is file for path, file in entry.files.items())


def test_a_line_rename_renders_exactly_the_phones_that_show_the_line(h: Harness) -> None:
    before = _entries(h)
    assert b"linekey.4.value = 102" in h.get(f"{RECEPTION}.cfg").file.data
    Edits.of(h.store).lines.update(OUTSIDE, 1, display_name="Front desk")
    # Its own phone, the phone showing the directory, the one whose keys show
    # it; not the small reception phone (its one key shows line 100), nor the
    # phones that read no directory.
    assert _rendered_again(h, before) == {OUTSIDE, SHOWS_DIRECTORY, RECEPTION}
    assert b"Front desk" in h.get(f"{SHOWS_DIRECTORY}-directory.xml").file.data
    assert b"linekey.4.label = Front desk" in h.get(f"{RECEPTION}.cfg").file.data


def test_a_line_rename_no_key_shows_renders_its_own_phone_only(h: Harness) -> None:
    Edits.of(h.store).settings.set(
        parse_scope(f"phone:{SHOWS_DIRECTORY}"), "directory.tenant_lines", False
    )
    h.run(h.cache.refresh())
    before = _entries(h)
    # Line 105 is the small phone's own: no policy key shows it but the big reception phone's.
    Edits.of(h.store).lines.update(SMALL, 1, display_name="Lobby")
    assert _rendered_again(h, before) == {SMALL, RECEPTION}
    before = _entries(h)
    Edits.of(h.store).lines.update(RECEPTION, 1, display_name="Reception")
    assert _rendered_again(h, before) == {RECEPTION}  # the small phone shows line 100 only


def test_a_line_added_renders_the_phones_whose_keys_gain_it(h: Harness) -> None:
    before = _entries(h)
    Edits.of(h.store).lines.add(OUTSIDE, LineState(0, "099", password="secret-099"))
    # 099 sorts first: the small phone's only free key now shows it.
    assert _rendered_again(h, before) == {OUTSIDE, SHOWS_DIRECTORY, RECEPTION, SMALL}
    assert b"099" in h.get(f"{SMALL}.cfg").file.data


def test_a_removed_phone_is_no_longer_served(h: Harness) -> None:
    Edits.of(h.store).phones.remove(IN_GROUP)
    h.run(h.cache.refresh())
    assert IN_GROUP not in h.cache.macs
    assert h.get(f"{IN_GROUP}.cfg", Protocol.HTTP).status is not Status.OK
    tenant_id = next(iter(h.cache.tenants))
    assert IN_GROUP not in h.cache.tenants[tenant_id].phones


def test_a_gap_in_the_feed_resolves_the_tenant_and_renders_what_moved(h: Harness) -> None:
    before = _entries(h)
    Edits.of(h.store).settings.set(parse_scope(f"phone:{OUTSIDE}"), "language", "fr")
    with h.store.engine.begin() as conn:
        conn.execute(t.change_feed.delete())
    assert _rendered_again(h, before) == {OUTSIDE}
    assert b"French" in h.get(f"{OUTSIDE}.cfg").file.data


def test_whether_a_tenant_uses_http_credentials_follows_part_changes(h: Harness) -> None:
    """``auth_in_use`` is kept without looking at every phone, and still right."""
    tenant = next(iter(h.cache.tenants.values()))
    edits = Edits.of(h.store).settings
    in_use = [tenant.auth_in_use]
    edits.set(parse_scope(f"phone:{OUTSIDE}"), "access.http.password", "http-pass-1234")
    h.run(h.cache.refresh())
    in_use.append(tenant.auth_in_use)
    edits.set(parse_scope(f"phone:{IN_GROUP}"), "language", "fr")  # another phone: still in use
    h.run(h.cache.refresh())
    in_use.append(tenant.auth_in_use)
    edits.unset(parse_scope(f"phone:{OUTSIDE}"), "access.http.password")
    h.run(h.cache.refresh())
    in_use.append(tenant.auth_in_use)
    assert in_use == [False, True, True, False]


def test_a_model_change_moves_the_phones_paths_in_the_index(h: Harness) -> None:
    """Paths the phone no longer has stop resolving; its new ones resolve to it."""
    old_paths = set(h.cache.macs[OUTSIDE].files)
    Edits.of(h.store).phones.update(OUTSIDE, model="vvx410")  # Yealink to Polycom
    h.run(h.cache.refresh())
    entry = h.cache.macs[OUTSIDE]
    assert entry.model == "vvx410"
    assert set(entry.files) != old_paths
    for path in entry.files:
        found = h.cache.lookup(path.upper())
        assert found is not None
        assert found[0] is entry
    for path in old_paths - set(entry.files):
        assert h.cache.lookup(path) is None
    # The other phones are found as before.
    assert h.cache.lookup(f"{IN_GROUP}.cfg") is not None


def test_replaced_entries_are_freed_beside_the_event_loop(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change's old entries are freed on the worker thread, not while serving waits."""
    released: list[tuple[str, set[str]]] = []
    release = cache_module._release

    def spy(retired: list[PhoneEntry | TenantEntry]) -> None:
        macs = {entry.mac for entry in retired if isinstance(entry, PhoneEntry)}
        released.append((threading.current_thread().name, macs))
        release(retired)
        assert not retired  # every one dropped here

    monkeypatch.setattr(cache_module, "_release", spy)
    Edits.of(h.store).settings.set(parse_scope("group:acme/sales"), "language", "fr")
    h.run(h.cache.refresh())
    assert [macs for _, macs in released] == [{IN_GROUP, ALSO_IN_GROUP}]
    assert released[0][0] != threading.main_thread().name  # the harness's loop runs here


def test_phones_alike_share_their_notify_details_but_not_their_lines(h: Harness) -> None:
    first, second = h.cache.macs[IN_GROUP], h.cache.macs[ALSO_IN_GROUP]
    assert first.notify_base is second.notify_base  # held once
    assert (first.notify.mac, first.notify.user, first.notify.password) == (
        IN_GROUP,
        "100",
        "secret-100",
    )
    assert (second.notify.mac, second.notify.user) == (ALSO_IN_GROUP, "101")
    assert first.notify.sip_domain == "acme.example.com"

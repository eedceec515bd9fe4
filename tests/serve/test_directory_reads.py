"""The decisions behind a change the feed cannot narrow: digests of what a phone is made of.

A phone is rendered again for a directory change only when its digest of
what it reads of the directory moved, so that digest must move exactly when
the phone's files can: with the directory it shows, with the policy keys
placed on it — and not with a line its keys do not reach. For a tenant-wide
change the digest of all its inputs decides, which must leave out nothing a
phone's files or cache entry are made of.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.notify import notify_info
from provisioner.render import Renderer
from provisioner.resolve import Resolver
from provisioner.scope import parse_scope
from provisioner.serve._access import access_from
from provisioner.serve._directory_reads import DirectoryReads, tenant_owned
from tests.serve.harness import Harness, harness
from tests.serve.test_cache_parts import (
    IN_GROUP,
    OUTSIDE,
    RECEPTION,
    SHOWS_DIRECTORY,
    SMALL,
    _document,
)


@pytest.fixture
def h(tmp_path: Path, catalog: Catalog) -> Iterator[Harness]:
    with harness(tmp_path, catalog, _document()) as built:
        yield built


def _digests(h: Harness) -> dict[str, bytes]:
    """Every phone's digest, from a fresh snapshot (a new DirectoryReads, as each render)."""
    snapshot = h.store.tenants.snapshot()
    resolver = Resolver(h.catalog, snapshot)
    reads = DirectoryReads()
    return {p.mac: reads.of(resolver.phone(p)) for p in snapshot.phones.values()}


def test_a_phone_that_reads_no_directory_has_no_digest(h: Harness) -> None:
    digests = _digests(h)
    assert digests[IN_GROUP] == digests[OUTSIDE] == b""
    assert all(len(digests[mac]) == 16 for mac in (SHOWS_DIRECTORY, RECEPTION, SMALL))


def test_a_rename_moves_the_digest_of_the_phones_that_show_the_line_only(h: Harness) -> None:
    before = _digests(h)
    assert _digests(h) == before  # the same inputs, the same digest, whatever the objects
    Edits.of(h.store).lines.update(OUTSIDE, 1, display_name="Front desk")
    after = _digests(h)
    moved = {mac for mac in before if before[mac] != after[mac]}
    # The phone showing the directory and the policy phone whose keys reach
    # line 102; the small policy phone's only free key shows line 100.
    assert moved == {SHOWS_DIRECTORY, RECEPTION}


def test_a_policy_phone_follows_its_placed_keys(h: Harness) -> None:
    before = _digests(h)
    Edits.of(h.store).lines.update(IN_GROUP, 1, display_name="Alice")  # line 100
    after = _digests(h)
    assert before[SMALL] != after[SMALL]  # its one policy key shows line 100
    # Keys placed later on the phone: its first free key now comes after key 5.
    Edits.of(h.store).settings.set(parse_scope(f"phone:{SMALL}"), "keys.policy.after", 5)
    assert _digests(h)[SMALL] != after[SMALL]


def test_a_policy_scope_leaves_lines_outside_it_alone(h: Harness) -> None:
    Edits.of(h.store).settings.set(
        parse_scope("group:acme/reception"), "keys.policy.scope", "reception"
    )
    before = _digests(h)
    Edits.of(h.store).lines.update(OUTSIDE, 1, display_name="Front desk")  # not in reception
    after = _digests(h)
    assert before[RECEPTION] == after[RECEPTION]
    assert before[SHOWS_DIRECTORY] != after[SHOWS_DIRECTORY]


def test_the_tenant_owned_settings_it_leaves_out_are_read_by_no_phone(h: Harness) -> None:
    """Without them every phone renders the same files and the same cache entry."""
    owned = tenant_owned(h.catalog)
    assert {"notify.rate", "access.url_token"} <= owned
    snapshot = h.store.tenants.snapshot()
    resolver = Resolver(h.catalog, snapshot)
    renderer = Renderer(h.catalog)
    for phone in snapshot.phones.values():
        view = resolver.phone(phone)
        settings = {n: r for n, r in view.settings.items() if n not in owned}
        assert settings != view.settings
        stripped = dataclasses.replace(view, settings=settings)
        assert renderer.phone_files(stripped) == renderer.phone_files(view)
        values = {n: r.value for n, r in settings.items()}
        assert access_from(values) is not None  # reads none of them (KeyError)
        assert notify_info(stripped) == notify_info(view)


def test_a_tenant_owned_setting_moves_no_phone(h: Harness) -> None:
    owned = tenant_owned(h.catalog)

    def inputs() -> dict[str, bytes]:
        snapshot = h.store.tenants.snapshot()
        resolver = Resolver(h.catalog, snapshot)
        reads = DirectoryReads(owned)
        return {p.mac: reads.inputs(resolver.phone(p)) for p in snapshot.phones.values()}

    before = inputs()
    Edits.of(h.store).settings.set(parse_scope("tenant:acme"), "notify.rate", 20)
    assert inputs() == before
    Edits.of(h.store).settings.set(parse_scope(f"phone:{OUTSIDE}"), "language", "fr")
    after = inputs()
    assert {mac for mac in before if before[mac] != after[mac]} == {OUTSIDE}

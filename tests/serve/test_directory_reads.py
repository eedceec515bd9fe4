"""The decision behind a directory change: what a phone reads of the directory, as a digest.

A phone is rendered again for a directory change only when its digest moved,
so the digest must move exactly when the phone's files can: with the
directory it shows, with the policy keys placed on it — and not with a line
its keys do not reach.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.resolve import Resolver
from provisioner.scope import parse_scope
from provisioner.serve._directory_reads import DirectoryReads
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

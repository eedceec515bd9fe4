"""The cyclic collector around renders (serve/_collector.py) and where the cache settles it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.scope import parse_scope
from provisioner.serve._cache import ConfigCache
from provisioner.serve._collector import Settler, no_full_collections
from provisioner.serve._metrics import Metrics
from tests.serve.harness import harness


class _Cycle:
    """An object in a reference cycle with itself; weakly referable."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def generations() -> Iterator[list[int]]:
    """The generation of every collection while the test runs, on small thresholds."""
    seen: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    thresholds = gc.get_threshold()
    # Small thresholds make every generation's turn come within a few
    # thousand allocations, so the test does not depend on the defaults; and
    # with the session's heap frozen the old generation starts empty, so a
    # full collection is due as soon as a few objects survive (CPython waits
    # until they are a quarter of what the last full collection left).
    gc.freeze()
    gc.collect()
    gc.set_threshold(50, 2, 2)
    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _churn() -> None:
    """Allocate (and drop) enough cyclic garbage for collections of every generation."""
    kept = []
    for n in range(20_000):
        cycle = _Cycle()
        if n % 10 == 0:
            kept.append(cycle)  # some survive, so the old generation grows too


def test_young_collections_run_but_full_ones_wait_for_the_block_to_end(
    generations: list[int],
) -> None:
    _churn()
    assert 2 in generations  # without the block, full collections happen
    generations.clear()
    with no_full_collections():
        _churn()
    assert 0 in generations
    assert 1 in generations
    assert 2 not in generations
    assert gc.get_threshold() == (50, 2, 2)  # restored


def test_the_thresholds_are_restored_when_the_block_raises() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), no_full_collections():
        raise RuntimeError("render failed")
    assert gc.get_threshold() == before


def test_settle_collects_garbage_before_freezing_what_lives() -> None:
    garbage, live = _Cycle(), _Cycle()
    dead = weakref.ref(garbage)
    del garbage
    try:
        Settler(freeze_at=1)(1)
        # Collected, not frozen: frozen garbage would never be freed.
        assert dead() is None
        assert gc.get_freeze_count() > 0
        assert live.me is live
    finally:
        gc.unfreeze()  # the rest of the test session's heap stays collectable


def test_settle_freezes_once_enough_phones_were_installed_since_the_last_freeze() -> None:
    settle = Settler(freeze_at=10)
    garbage = _Cycle()
    dead = weakref.ref(garbage)
    del garbage
    frozen = gc.get_freeze_count()
    settle(6)
    assert dead() is None  # collected every time
    assert gc.get_freeze_count() == frozen
    try:
        settle(4)  # ten since the last freeze
        assert gc.get_freeze_count() > frozen
        gc.unfreeze()
        settle(9)  # counted from the freeze
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


def test_the_cache_settles_once_after_each_render_it_installed(
    tmp_path: Path, catalog: Catalog
) -> None:
    with harness(tmp_path, catalog) as h:
        settled: list[int] = []
        cache = ConfigCache(
            h.store.tenants,
            h.store.firmware,
            catalog,
            h.db,
            Metrics(),
            settle=settled.append,
        )
        refresh: Callable[[], None] = lambda: h.run(cache.refresh())  # noqa: E731
        refresh()
        assert settled == [len(cache.macs)]
        assert cache.macs
        refresh()
        assert len(settled) == 1  # nothing moved, nothing rendered: no collection
        phone = next(iter(cache.macs))
        Edits.of(h.store).settings.set(parse_scope(f"phone:{phone}"), "language", "fr")
        refresh()
        assert settled[1:] == [1]  # the one phone rendered again


def test_replaced_entries_are_freed_by_reference_counting(tmp_path: Path, catalog: Catalog) -> None:
    """What :func:`settle` relies on: freezing an entry keeps nothing alive once it is replaced."""
    with harness(tmp_path, catalog) as h:
        gc.collect()
        phone = next(iter(h.cache.macs))
        gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds unreachable stays here
        try:
            Edits.of(h.store).settings.set(parse_scope(f"phone:{phone}"), "language", "fr")
            h.run(h.cache.refresh())
            gc.collect()
            cyclic = {type(o).__name__ for o in gc.garbage}
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        assert not cyclic & {"PhoneEntry", "ServedFile", "TenantEntry", "Access", "NotifyInfo"}

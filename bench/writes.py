"""Write benchmarks: ``apply`` on SQLite and PostgreSQL, and single ``set`` edits at scale.

1. **apply**: a fleet of N phones (two lines, three groups each, as in
   bench/render.py) applied to an empty database, on SQLite and, when
   ``PROVISIONER_TEST_PG_URL`` names a server, on a fresh PostgreSQL
   database made for the run (and dropped after). Wall time, and the CPU
   time of the benchmark's own process (the client; on PostgreSQL the
   server's share is not in it), since on a shared machine wall time
   mostly measures the other processes.
2. **single edits**: in a store holding one tenant of N phones, a group
   setting (``set group:bench/g1 language fr``), a phone setting, a tenant
   setting and ``phone add`` of a new phone, through the service layer
   (what the ``provisioner`` commands and the API call), timed without the
   interpreter's start-up. Each loads only what it touches
   (docs/performance-notes.md), so these should not grow with N.

Usage: ``python -m bench.writes [N ...]`` (default 10000). Figures are
printed; nothing is asserted.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.render import fleet
from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.scope import parse_scope
from provisioner.state import TenantState
from provisioner.store import Store
from tests.pg import new_database

PG_ENV = "PROVISIONER_TEST_PG_URL"


def one_tenant(catalog: Catalog, phones: int) -> TenantState:
    """bench/render.py's fleet, all phones in one tenant."""
    first, second = fleet(catalog, phones)
    first.name = "bench"
    first.phones.update(second.phones)
    return first


@contextmanager
def _pg_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database's URL for one run, or ``None`` without a server."""
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    with new_database(base, "provisioner_bench") as url:
        yield url


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _cpu_timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of this process (on PostgreSQL the server's work is not in it)."""
    cpu = time.process_time()
    wall = _timed(action)
    return wall, time.process_time() - cpu


def measure(url: str, catalog: Catalog, phones: int) -> dict[str, float]:
    """apply N phones to the empty store at ``url``, then time single edits."""
    store = Store.open(url, catalog)
    try:
        tenant = one_tenant(catalog, phones)
        mac = next(iter(tenant.phones))
        edits = Edits.of(store)
        wall, cpu = _cpu_timed(lambda: edits.tenants.apply([tenant]))
        figures = {"apply": wall, "apply (CPU here)": cpu}
        group = parse_scope("group:bench/g1")
        phone = parse_scope(f"phone:{mac}")
        figures["set group"] = _timed(lambda: edits.settings.set(group, "language", "fr"))
        figures["set phone"] = _timed(lambda: edits.settings.set(phone, "language", "de"))
        head = parse_scope("tenant:bench")
        figures["set tenant"] = _timed(lambda: edits.settings.set(head, "language", "es"))
        model = tenant.phones[mac].model
        figures["phone add"] = _timed(lambda: edits.phones.add("bench", "02aabbccddee", model))
        return figures
    finally:
        store.close()


def main(sizes: list[int] | None = None) -> None:
    """Run the write benchmarks for each size."""
    catalog = Catalog.load()
    for phones in sizes or [10_000]:
        with tempfile.TemporaryDirectory() as tmp, _pg_database() as pg:
            backends = {"SQLite": f"sqlite:///{Path(tmp) / 'bench.db'}"}
            if pg is not None:
                backends["PostgreSQL"] = pg
            for name, url in backends.items():
                figures = measure(url, catalog, phones)
                shown = "  ".join(f"{k} {v:7.2f} s" for k, v in figures.items())
                print(f"writes, {phones:,} phones in one tenant, {name:10s}: {shown}", flush=True)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or None)

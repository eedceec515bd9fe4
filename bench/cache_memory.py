"""Memory of the serve cache: what holding a rendered fleet costs, and where it goes.

``bench.render``'s fleet (10,000 phones) in a temporary SQLite database; one
:class:`~provisioner.serve.ConfigCache` refresh in this process, traced with
``tracemalloc``. Printed: the rendered bytes (and what is held of them:
distinct files, mostly deflated, and their dictionaries),
the memory the cache holds after the refresh (total and per phone), the
same less the rendered bytes (what the cache adds around them), the RSS
before and after, and the largest allocation sites. Nothing is asserted.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import tracemalloc
from pathlib import Path

from bench._proc import rss_mb
from bench.render import populate
from provisioner.catalog import Catalog
from provisioner.serve._cache import ConfigCache
from provisioner.serve._db import Db
from provisioner.serve._metrics import Metrics
from provisioner.store import Store

PHONES = 10_000
SITES = 12  # allocation sites printed


def measure(url: str) -> None:
    """Build the cache over the database at ``url`` and print what it holds."""
    catalog = Catalog.load()
    store = Store.open(url, catalog)
    db = Db()
    gc.collect()
    rss_before = rss_mb()
    tracemalloc.start()
    cache = ConfigCache(store.tenants, store.firmware, catalog, db, Metrics())
    asyncio.run(cache.refresh())
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    sites = tracemalloc.take_snapshot().statistics("lineno")[:SITES]
    tracemalloc.stop()
    phones = [p for tenant in cache.tenants.values() for p in tenant.phones.values()]
    files = [f for p in phones for f in p.files.values()]
    data = sum(f.size for f in files)
    # Bytes held: each distinct bytes object once (identical files share one,
    # and a pattern's dictionary is the bytes of its first file).
    distinct = {id(f.stored): f.stored for f in files}
    dictionaries = {id(f.dictionary): f.dictionary for f in files if f.dictionary is not None}
    distinct.update({id(d.data): d.data for d in dictionaries.values()})
    kept = sum(len(b) for b in distinct.values())
    wrappers = {id(f): f for f in files}
    deflated = sum(1 for f in wrappers.values() if f.dictionary is not None)
    print(
        f"  {len(phones):,} phones, {len(files):,} files ({len(wrappers):,} wrappers, "
        f"{deflated:,} deflated against {len(dictionaries)} dictionaries), "
        f"rendered {data / 1e6:.1f} MB ({kept / 1e6:.1f} MB held as bytes objects)"
    )
    print(
        f"  held by the cache: {held / 1e6:.1f} MB = {held / len(phones):,.0f} B per phone; "
        f"beside the bytes: {(held - kept) / len(phones):,.0f} B per phone"
    )
    print(f"  RSS {rss_before:.0f} MB before the refresh, {rss_mb():.0f} MB after")
    for site in sites:
        frame = site.traceback[0]
        where = frame.filename.split("site-packages/")[-1].split("provisioner/")[-1]
        print(f"    {site.size / 1e6:6.2f} MB {site.count:7,d}  {where}:{frame.lineno}")
    db.close()
    store.close()


def main() -> None:
    """Print the figures for 10,000 phones."""
    print(f"Serve cache memory, {PHONES:,} phones (bench/cache_memory.py)")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'cache.db'}"
        populate(url, PHONES)
        measure(url)


if __name__ == "__main__":
    main()

"""A gateway over a real SQLite store, without sockets, for the serving tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from provisioner.catalog import Catalog
from provisioner.fleet import parse_fleet
from provisioner.serve import Fetch, Gateway, Protocol, ServeConfig
from provisioner.serve._build import build_gateway
from provisioner.serve._cache import ConfigCache
from provisioner.serve._db import Db
from provisioner.serve._metrics import Metrics
from provisioner.store import Store
from tests.conftest import _reset
from tests.sqlite_template import migrated_sqlite

POLYCOM = "0004f2000001"  # open: no credentials
YEALINK = "805ec0000002"  # protected: digest credentials
DISABLED = "0004f2000003"
HOSTED = "0004f2000004"  # in a tenant with a URL token
TOKEN = "hosted-token-0123456789"
PASSWORD = "phone-pass-1234"
POLYCOM_UA = "FileTransport PolycomVVX-VVX_410-UA/5.9.1.0615 Type/Application"


def fleet() -> dict[str, Any]:
    return {
        "tenants": [
            {"name": "acme", "sip_domain": "acme.example.com"},
            {
                "name": "hosted",
                "sip_domain": "hosted.example.com",
                "settings": {"access.url_token": TOKEN},
            },
        ],
        "phones": [
            {
                "tenant": "acme",
                "mac": POLYCOM,
                "model": "vvx410",
                "lines": [{"user": "100", "password": "line-secret-100"}],
            },
            {
                "tenant": "acme",
                "mac": YEALINK,
                "model": "t46s",
                "settings": {"access.http.password": PASSWORD},
                "lines": [{"user": "101", "password": "line-secret-101"}],
            },
            {
                "tenant": "acme",
                "mac": DISABLED,
                "model": "vvx410",
                "enabled": False,
                "lines": [{"user": "102", "password": "line-secret-102"}],
            },
            {
                "tenant": "hosted",
                "mac": HOSTED,
                "model": "vvx410",
                "lines": [{"user": "200", "password": "line-secret-200"}],
            },
        ],
    }


class Harness:
    """A store, a cache and a gateway on one private event loop."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        data_dir: Path,
        clock: list[float],
        site_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.loop = asyncio.new_event_loop()
        self.db = Db()
        self.metrics = Metrics()
        self.cache = ConfigCache(
            store.tenants, store.firmware, catalog, self.db, self.metrics, site_dir
        )
        # Wired as `provisioner serve` wires it (serve/_build.py), on a test clock.
        config = ServeConfig(data_dir=data_dir, default_tenant="acme", site_dir=site_dir)
        self.gateway: Gateway = build_gateway(
            config, store, self.cache, self.metrics, self.db, clock=lambda: clock[0]
        )
        self.run(self.cache.refresh())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def get(self, path: str, protocol: Protocol = Protocol.HTTP, **extra: Any) -> Any:
        extra.setdefault("client", "127.0.0.1")
        extra.setdefault("uri", "/" + path.lstrip("/"))
        return self.run(self.gateway.fetch(Fetch(protocol, path, **extra)))

    def close(self) -> None:
        self.loop.close()
        self.db.close()


@contextmanager
def harness(
    tmp_path: Path,
    catalog: Catalog,
    document: dict[str, Any] | None = None,
    site_dir: Path | None = None,
) -> Iterator[Harness]:
    store = Store.open(migrated_sqlite(tmp_path / "serve.db"), catalog)
    _reset(store)
    store.tenants.apply(parse_fleet(document or fleet(), catalog))
    h = Harness(store, catalog, tmp_path, [1_000_000.0], site_dir)
    try:
        yield h
    finally:
        h.close()
        store.close()

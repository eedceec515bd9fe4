"""serve/_build.py: the server and the test harness wire their gateway one way."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from provisioner.catalog import Catalog
from provisioner.serve import ServeConfig, Server
from provisioner.serve._build import build_gateway
from tests.serve.harness import harness


def test_server_and_harness_gateways_are_built_alike(tmp_path: Path, catalog: Catalog) -> None:
    with harness(tmp_path, catalog) as h:
        config = ServeConfig(
            data_dir=tmp_path / "node",
            realm="elsewhere",
            default_tenant="acme",
            ban_limit=7,
            ban_window=9.0,
            ban_seconds=11.0,
            ban_exempt=(ipaddress.ip_network("10.0.0.0/8"),),
            seen_max_rows=5,
        )
        server = Server(config, h.store, catalog)
        gateway = server.gateway
        bans = gateway.bans
        assert (bans.limit, bans.window, bans.ban_seconds) == (7, 9.0, 11.0)
        assert bans.exempt == config.ban_exempt
        assert (gateway.realm, gateway.default_tenant) == ("elsewhere", "acme")
        assert gateway.seen.max_rows == 5
        # Uploads and digest nonce counts are the database's, shared with every node.
        assert gateway.uploads is h.store.uploads
        assert gateway.nonces._store is h.store.nonces
        # One nonce key, from the store's device key: the harness's gateway
        # (another "node" on the same database) accepts the server's nonces.
        nonce = gateway.digest.nonce("provisioner", h.clock[0])
        assert h.gateway.digest._nonce_age(nonce, "provisioner", h.clock[0]) == 0
        again = build_gateway(config, h.store, h.cache, h.metrics, h.db)
        assert again.digest._nonce_age(nonce, "provisioner", h.clock[0]) == 0
        server.db.close()

"""A running ``provisioner serve`` with the admin API, on SQLite and PostgreSQL, and its keys.

Every test talks to it over real HTTP (aiohttp's client). The demo fleet
(tenant ``demo``) and a second tenant ``other`` are loaded; keys of every
role, global and limited to ``demo``, are created through the service
functions the command line calls.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from provisioner.actor import Actor
from provisioner.apikeys import ApiKeys
from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.fleet import load_fleet, parse_fleet
from provisioner.fleet_apply import apply_fleet
from provisioner.store import Store
from tests.conftest import _reset
from tests.peers import free_port
from tests.serve_process import serving
from tests.sqlite_template import migrated_sqlite

OTHER = """
[[tenants]]
name = "other"
sip_domain = "pbx.other.example"

[[groups]]
tenant = "other"
name = "ops"

[[phones]]
tenant = "other"
mac = "805ec0aabbcc"
model = "t46s"
groups = ["ops"]

[[phones.lines]]
user = "300"
password = "other-secret"
"""
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass(frozen=True)
class Api:
    """The server's API base URL, its data directory and database, and a key per role."""

    base: str
    data_dir: Path
    db: str
    keys: dict[str, str]  # "admin", "operator", "viewer", "operator@demo", "viewer@demo"
    http: int = 0  # the phones' HTTP port

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="module")
def poll_interval() -> float:
    """The server's ``--poll-interval`` (a module overrides it to rule the poll out)."""
    return 0.2


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    catalog: Catalog,
    poll_interval: float,
) -> Iterator[Api]:
    """The server, with fresh data, for the tests of one module on one backend."""
    data_dir = tmp_path_factory.mktemp("api")
    if request.param == "sqlite":
        db = migrated_sqlite(data_dir / "provisioner.db")
    else:
        db = request.getfixturevalue("pg_url")
    # The fleets and keys go in through the service functions the CLI calls
    # (tests/test_cli.py runs the commands themselves): seven command start-ups
    # per module and backend cost more than all of a module's tests.
    store = Store.open(db, catalog)
    try:
        _reset(store)
        (data_dir / "other.toml").write_text(OTHER)
        edits = Edits.of(store, Actor.cli())
        for fleet in (EXAMPLES / "demo-fleet.toml", data_dir / "other.toml"):
            apply_fleet(store, edits, parse_fleet(load_fleet(fleet), catalog))
        api_keys = ApiKeys(store)
        keys = {
            name: api_keys.create(name.replace("@", "-"), role, Actor.cli(), tenant=tenant).key
            for name, role, tenant in (
                ("admin", "admin", None),
                ("operator", "operator", None),
                ("viewer", "viewer", None),
                ("operator@demo", "operator", "demo"),
                ("viewer@demo", "viewer", "demo"),
            )
        }
    finally:
        store.close()
    port = free_port()
    env = {**os.environ, "PROVISIONER_DB_URL": db}
    with serving(
        data_dir, "--api-port", str(port), "--poll-interval", str(poll_interval), env=env
    ) as served:
        yield Api(f"http://127.0.0.1:{port}/api/v1", data_dir, db, keys, served.http)


@pytest.fixture
def client() -> Iterator[Client]:
    """A synchronous face on an aiohttp client session (one event loop per test)."""
    loop = asyncio.new_event_loop()
    session = loop.run_until_complete(_session())
    try:
        yield Client(loop, session)
    finally:
        loop.run_until_complete(session.close())
        loop.close()


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


@dataclass
class Answer:
    """An HTTP answer: status, headers, body (JSON when it is)."""

    status: int
    headers: Any
    body: Any
    raw: bytes


class Client:
    """Requests with a key, answered as :class:`Answer`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession) -> None:
        self.loop = loop
        self.session = session

    def __call__(
        self,
        method: str,
        url: str,
        key: str | None = None,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        return self.loop.run_until_complete(self._request(method, url, key, json, data, headers))

    async def _request(
        self,
        method: str,
        url: str,
        key: str | None,
        json: Any,
        data: bytes | None,
        headers: dict[str, str] | None,
    ) -> Answer:
        sent = dict(headers or {})
        if key is not None:
            sent.setdefault("X-API-Key", key)
        body_in = None if data is None else io.BytesIO(data)
        async with self.session.request(method, url, json=json, data=body_in, headers=sent) as r:
            raw = await r.read()
            body: Any = None
            if r.content_type in ("application/json", "application/problem+json"):
                body = await r.json(content_type=None)
            return Answer(r.status, r.headers, body, raw)

"""Body limits: an upload past the limit is refused while it streams, and leaves
nothing behind; a fleet file may be larger than other JSON bodies, up to its own limit.

The limits (1 GiB for uploads, 16 MiB for fleet files) are too large to send
in a test, so these tests serve the API in-process (the same handler, over
real HTTP on a local port) with the limits lowered; everything else runs
against ``provisioner serve`` (tests/api/conftest.py).
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from provisioner.actor import Actor
from provisioner.api import ApiHandler, Services, _firmware, routes
from provisioner.api._bodies import MAX_BODY
from provisioner.apikeys import ApiKeys
from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.firmware import FirmwareLibrary, LocalStorage
from provisioner.serve._db import Db
from provisioner.serve._model import Protocol
from provisioner.store import Store, default_url
from tests.api.test_operations import multipart, rom_zip
from tests.peers import free_port
from tests.serve_process import run_cli_in_process

LIMIT = 64 * 1024


class NoBans:
    """The gateway as the API uses it: bans (none here) and failures (counted)."""

    def __init__(self) -> None:
        self.failures = 0

    def banned(self, client: str) -> bool:
        return False

    def failed(self, client: str, protocol: Protocol, event: str) -> None:
        self.failures += 1


def in_process(
    tmp_path: Path, catalog: Catalog, storage: LocalStorage | None = None, **extra: Any
) -> tuple[ApiHandler, Store, Db, str]:
    """The API's handler over a fresh database, its store and database thread, an admin key."""
    run_cli_in_process(tmp_path, "init")
    store = Store.open(default_url(tmp_path), catalog)
    db = Db()
    key = ApiKeys(store).create("admin", "admin", Actor.cli()).key
    storage = storage or LocalStorage(tmp_path / "firmware")
    services = Services(
        store=store,
        catalog=catalog,
        edits=Edits.of(store, Actor.server("api")),
        keys=ApiKeys(store),
        db=db,
        firmware=FirmwareLibrary(store.firmware, storage, catalog),
        data_dir=tmp_path,
        **extra,
    )
    return ApiHandler(services, routes(), NoBans()), store, db, key  # type: ignore[arg-type]


def test_a_fleet_file_has_its_own_body_limit(tmp_path: Path, catalog: Catalog) -> None:
    fleet_limit = 2 * MAX_BODY
    handler, store, db, key = in_process(tmp_path, catalog, max_fleet_body=fleet_limit)
    port = free_port()

    # A fleet file that changes nothing, padded with a comment to the size wanted.
    def fleet(size: int) -> bytes:
        return json.dumps({"format": "toml", "content": "#" + "x" * size}).encode()

    async def post(session: aiohttp.ClientSession, path: str, body: bytes) -> tuple[int, Any]:
        url = f"http://127.0.0.1:{port}/api/v1{path}"
        headers = {"X-API-Key": key, "Content-Type": "application/json"}
        try:
            async with session.post(url, data=io.BytesIO(body), headers=headers) as answer:
                return answer.status, await answer.json(content_type=None)
        except aiohttp.ClientError as exc:  # the server closed while we still sent
            return 0, {"error": str(exc)}

    async def scenario() -> list[tuple[int, Any]]:
        runner = web.ServerRunner(web.Server(handler))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with aiohttp.ClientSession() as session:
                return [
                    await post(session, "/fleet/apply", fleet(MAX_BODY + 1000)),
                    await post(session, "/fleet/apply", fleet(fleet_limit + 1000)),
                    await post(session, "/tenants", fleet(MAX_BODY + 1000)),
                ]
        finally:
            await runner.cleanup()

    try:
        (fits, fits_body), (fleet_over, fleet_body), (other_over, other_body) = asyncio.run(
            scenario()
        )
    finally:
        db.close()
        store.close()
    assert fits == 200, fits_body
    assert (fleet_over, fleet_body["code"]) == (413, 1102), fleet_body
    assert f"over the limit of {fleet_limit} bytes for /api/v1/fleet/apply" in fleet_body["detail"]
    assert (other_over, other_body["code"]) == (413, 1102), other_body
    assert f"over the limit of {MAX_BODY} bytes for /api/v1/tenants" in other_body["detail"]


def test_an_upload_over_the_limit_is_refused_while_streaming(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_firmware, "MAX_UPLOAD", LIMIT)
    handler, store, db, key = in_process(tmp_path, catalog)
    port = free_port()
    fits, fits_type = multipart({"vendor": "yealink", "label": "small"}, "t46s.zip", rom_zip())
    big, big_type = multipart(
        {"vendor": "yealink", "label": "big"}, "t46s.zip", b"\0" * (LIMIT * 16)
    )

    async def scenario() -> tuple[int, int, dict[str, object]]:
        runner = web.ServerRunner(web.Server(handler))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}/api/v1/firmware"
        headers = {"X-API-Key": key}
        try:
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    url, data=fits, headers={**headers, "Content-Type": fits_type}
                ) as small:
                    small_status = small.status
                try:
                    async with session.post(
                        url, data=io.BytesIO(big), headers={**headers, "Content-Type": big_type}
                    ) as refused:
                        return small_status, refused.status, await refused.json(content_type=None)
                except aiohttp.ClientError as exc:  # the server closed while we still sent
                    return small_status, 0, {"error": str(exc)}
        finally:
            await runner.cleanup()

    try:
        small_status, status, body = asyncio.run(scenario())
    finally:
        db.close()
    try:
        assert small_status == 201
        assert status == 413, body
        assert body["code"] == 1102
        assert body["field"] == "body.file"
        assert [s.label for s in store.firmware.sets()] == ["small"]
        assert not list((tmp_path / "uploads").iterdir())  # the spool file is gone
    finally:
        store.close()

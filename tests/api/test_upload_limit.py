"""An upload past the limit is refused while it streams, and leaves nothing behind.

The limit is the ingest limit (1 GiB), too large to send in a test, so this
one test serves the API in-process (the same handler, over real HTTP on a
local port) with the limit lowered; everything else runs against
``provisioner serve`` (tests/api/conftest.py).
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from provisioner.actor import Actor
from provisioner.api import ApiHandler, Services, _firmware, routes
from provisioner.apikeys import ApiKeys
from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.firmware import FirmwareLibrary, LocalStorage
from provisioner.serve._db import Db
from provisioner.serve._model import Protocol
from provisioner.store import Store, default_url
from tests.api.test_operations import multipart, rom_zip
from tests.peers import free_port
from tests.serve_process import run_cli

LIMIT = 64 * 1024


class NoBans:
    """The gateway as the API uses it: bans (none here) and failures (counted)."""

    def __init__(self) -> None:
        self.failures = 0

    def banned(self, client: str) -> bool:
        return False

    def failed(self, client: str, protocol: Protocol, event: str) -> None:
        self.failures += 1


def test_an_upload_over_the_limit_is_refused_while_streaming(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_firmware, "MAX_UPLOAD", LIMIT)
    run_cli(tmp_path, "init")
    store = Store.open(default_url(tmp_path), catalog)
    db = Db()
    key = ApiKeys(store).create("admin", "admin", Actor.cli()).key
    services = Services(
        store=store,
        catalog=catalog,
        edits=Edits.of(store, Actor.server("api")),
        keys=ApiKeys(store),
        db=db,
        firmware=FirmwareLibrary(store.firmware, LocalStorage(tmp_path / "firmware"), catalog),
        data_dir=tmp_path,
    )
    handler = ApiHandler(services, routes(), NoBans())  # type: ignore[arg-type]
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

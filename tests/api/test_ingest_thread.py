"""A firmware upload being ingested does not hold up the API's other database work.

The ingest (hashing, archive checks, publishing) runs on a thread of its
own; only its checks of the records and the record itself use the API's
database thread. The storage here stops inside the ingest until the test
lets it go, so "during the ingest" is a state the test holds, not a race.
Served in-process, as tests/api/test_upload_limit.py is.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import aiohttp
from aiohttp import web

from provisioner.catalog import Catalog
from provisioner.firmware import Ingested, Limits, LocalStorage
from tests.api.test_operations import multipart, rom_zip
from tests.api.test_upload_limit import in_process
from tests.peers import free_port

# Only against a hang: with the ingest on the database thread, the list below
# would wait for an ingest that waits for the list. Not a measurement.
HANG = 120.0


class HeldStorage(LocalStorage):
    """Local storage whose ingest stops, once it has started, until ``release`` is set."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.ingesting = threading.Event()
        self.release = threading.Event()

    def ingest(self, source: Path, name: str, key: str, limits: Limits) -> Ingested:
        self.ingesting.set()
        self.release.wait()
        return super().ingest(source, name, key, limits)


def test_the_api_answers_while_an_upload_is_ingested(tmp_path: Path, catalog: Catalog) -> None:
    storage = HeldStorage(tmp_path / "firmware")
    handler, store, db, key = in_process(tmp_path, catalog, storage)
    port = free_port()
    body, content_type = multipart({"vendor": "yealink", "label": "held"}, "t46s.zip", rom_zip())
    base = f"http://127.0.0.1:{port}/api/v1"
    headers = {"X-API-Key": key}

    async def scenario() -> tuple[int, int, int]:
        runner = web.ServerRunner(web.Server(handler))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with aiohttp.ClientSession(headers=headers) as session:

                async def upload() -> int:
                    async with session.post(
                        base + "/firmware", data=body, headers={"Content-Type": content_type}
                    ) as answer:
                        return answer.status

                uploading = asyncio.create_task(upload())
                try:
                    await asyncio.to_thread(storage.ingesting.wait)
                    async with asyncio.timeout(HANG):
                        async with session.get(base + "/phones") as listed:
                            listed_status = listed.status
                    # The ingest is still held: the list did not wait for it.
                    still_held = int(not storage.release.is_set() and not uploading.done())
                finally:
                    storage.release.set()
                return listed_status, still_held, await uploading
        finally:
            await runner.cleanup()

    try:
        listed, held, uploaded = asyncio.run(scenario())
    finally:
        db.close()
    try:
        assert (listed, held, uploaded) == (200, 1, 201)
        assert [s.label for s in store.firmware.sets()] == ["held"]
    finally:
        store.close()

"""HTTP and HTTPS against real clients (curl) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.scope import parse_scope
from provisioner.serve._connections import Connections, Site
from provisioner.serve._http import make_handler
from provisioner.serve._tls import self_signed, server_context
from provisioner.settings import parse_networks
from tests.peers import fetch_with_curl, free_port, need
from tests.serve.harness import DISABLED, PASSWORD, POLYCOM, YEALINK, Harness, harness


class Running:
    def __init__(self, h: Harness, tmp_path: Path) -> None:
        self.h = h
        self.port = free_port()
        self.tls_port = free_port()
        cert, key = self_signed(tmp_path / "tls", ["127.0.0.1", "localhost"])
        handler = make_handler(h.gateway, h.metrics, tuple(parse_networks("127.0.0.0/8")))
        self.thread = threading.Thread(target=h.loop.run_forever, daemon=True)

        async def start() -> None:
            # aiohttp's low-level server must be created on its running loop.
            self.runner = web.ServerRunner(web.Server(handler, access_log=None))
            await self.runner.setup()
            # Plain HTTP as `serve` runs it: the fast path, handing over to aiohttp.
            connections = Connections(
                h.gateway, per_address=64, header_timeout=30, handshake_timeout=30
            )
            await Site(self.runner, "127.0.0.1", self.port, connections, fast=True).start()
            await web.TCPSite(
                self.runner, "127.0.0.1", self.tls_port, ssl_context=server_context(cert, key)
            ).start()

        self.thread.start()
        asyncio.run_coroutine_threadsafe(start(), h.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.h.loop).result(10)
        self.h.loop.call_soon_threadsafe(self.h.loop.stop)
        self.thread.join(10)

    def url(self, path: str, tls: bool = False) -> str:
        if tls:
            return f"https://127.0.0.1:{self.tls_port}/{path}"
        return f"http://127.0.0.1:{self.port}/{path}"


@pytest.fixture
def server(tmp_path: Path, catalog: Catalog) -> Iterator[Running]:
    with harness(tmp_path, catalog) as h:
        running = Running(h, tmp_path)
        try:
            yield running
        finally:
            running.stop()


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    binary = need("curl")
    return subprocess.run(
        [binary, "-s", "-S", "--max-time", "10", *args],
        capture_output=True,
        timeout=20,
        check=False,
    )


def status_of(*args: str) -> tuple[int, bytes]:
    return fetch_with_curl(*args)


def test_get_head_and_conditional(server: Running) -> None:
    url = server.url(f"{POLYCOM}.cfg")
    code, body = status_of(url)
    assert code == 200
    assert body.startswith(b"<?xml")
    head = curl("-I", url).stdout.decode()
    assert head.startswith("HTTP/1.1 200")
    assert f"Content-Length: {len(body)}" in head
    etag = next(line.split(": ", 1)[1] for line in head.splitlines() if line.startswith("ETag"))
    assert status_of("-H", f"If-None-Match: {etag}", url)[0] == 304
    last_modified = next(
        line.split(": ", 1)[1] for line in head.splitlines() if line.startswith("Last-Modified")
    )
    assert status_of("-H", f"If-Modified-Since: {last_modified}", url)[0] == 304


def test_digest_with_curl(server: Running) -> None:
    url = server.url(f"{YEALINK}.cfg")
    assert status_of(url)[0] == 401
    code, body = status_of("--digest", "-u", f"{YEALINK}:{PASSWORD}", url)
    assert code == 200
    assert b"line-secret-101" in body
    assert status_of("--digest", "-u", f"{YEALINK}:wrong-password", url)[0] == 404


def test_basic_only_over_https(server: Running) -> None:
    http = server.url(f"{YEALINK}.cfg")
    https = server.url(f"{YEALINK}.cfg", tls=True)
    assert status_of("--basic", "-u", f"{YEALINK}:{PASSWORD}", http)[0] == 404
    assert status_of("-k", "--basic", "-u", f"{YEALINK}:{PASSWORD}", https)[0] == 200


def test_uniform_not_found_body_and_headers(server: Running) -> None:
    h = server.h
    Edits.of(h.store).settings.set(
        parse_scope(f"phone:{POLYCOM}"), "access.http.allow", "10.0.0.0/8"
    )
    asyncio.run_coroutine_threadsafe(h.cache.refresh(), h.loop).result(10)
    outputs = []
    for path, user in [
        ("0004f2999999.cfg", "0004f2999999"),  # unknown MAC
        (f"{DISABLED}.cfg", DISABLED),  # disabled phone
        (f"{YEALINK}.cfg", YEALINK),  # wrong password
        (f"{POLYCOM}.cfg", POLYCOM),  # outside the allowlist (set below)
    ]:
        auth = ["--digest", "-u", f"{user}:wrong-password"]
        result = curl("-D", "-", *auth, server.url(path))
        # curl --digest first asks without credentials (401), then with them.
        final = result.stdout.decode().split("HTTP/1.1 ")[-1]
        lines = [
            line for line in final.splitlines() if not line.lower().startswith(("date:", "server:"))
        ]
        outputs.append(lines)
    assert outputs[0][0] == "404 Not Found"
    assert all(o == outputs[0] for o in outputs)


@pytest.mark.parametrize(
    "path",
    [
        "../../etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",
        "%252e%252e/etc/passwd",
        "..%5c..%5cwin.ini",
        "%00.cfg",
        "/" + "a" * 300,
    ],
)
def test_traversal_spellings(server: Running, path: str) -> None:
    assert status_of("--path-as-is", server.url(path))[0] == 404


def test_put_upload_then_get_back(server: Running, tmp_path: Path) -> None:
    # Unauthenticated uploads need the opt-in (the default: tests/security/test_uploads.py).
    h = server.h
    Edits.of(h.store).settings.set(parse_scope(f"phone:{POLYCOM}"), "uploads.unauthenticated", True)
    asyncio.run_coroutine_threadsafe(h.cache.refresh(), h.loop).result(10)
    source = tmp_path / "phone.cfg"
    source.write_bytes(b"<PHONE_CONFIG/>\n")
    name = f"{POLYCOM}-phone.cfg"
    assert status_of("-T", str(source), server.url(name))[0] == 201
    assert status_of(server.url(name)) == (200, b"<PHONE_CONFIG/>\n")
    big = tmp_path / "big.log"
    big.write_bytes(b"x" * (1024 * 1024 + 1))
    assert status_of("-T", str(big), server.url(f"{POLYCOM}-app.log"))[0] == 413
    assert h.store.uploads.read(POLYCOM, f"{POLYCOM}-app.log") is None
    # An unknown phone-shaped name looks like a protected phone: challenged, never stored.
    assert status_of("-T", str(source), server.url("0004f2999999-phone.cfg"))[0] == 401
    assert h.store.uploads.read("0004f2999999", "0004f2999999-phone.cfg") is None


def test_health_and_metrics(server: Running) -> None:
    assert status_of(server.url("healthz")) == (200, b'{"status": "ok"}')
    code, body = status_of(server.url("metrics"))
    assert code == 200
    assert b"provisioner_requests_total" in body
    assert b"provisioner_phones 3" in body

"""Admin API benchmarks against a running ``provisioner serve`` with 10,000 phones (SQLite).

1. **List.** All 10,000 phones in pages of 100 (``GET /api/v1/phones``), twice,
   latency p50/p99; reference: the same pages read in-process from the store
   (``TenantRepository.phone_page``), which is what the database costs.
2. **Create.** 1,000 phones one by one (``POST /phones``) into a new tenant,
   then 1,000 in one ``POST /changes`` into another; phones/s. Also 20 single
   creates into a tenant of 5,000 phones (a write validates its whole
   tenant). Reference: the same 1,000 phones written by a fleet ``apply`` in
   process.
3. **Group change visible.** A setting changed on a group of 1,000 phones
   (``PUT /scopes/group:…/settings/…``): seconds from the answer until every
   phone's changed file is served changed on the phone port (the write
   wakes the server's refresh; its ``--poll-interval`` is the default 2 s).
4. **Preview.** The same change with ``?dry_run=true`` (seconds; the server's
   peak RSS), and ``provisioner set … --dry-run`` in its own process
   (seconds, its peak RSS). Reference: rendering those 1,000 phones once in
   process.

Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from bench._proc import peak_rss_mb, rss_mb
from bench.render import fleet
from provisioner.catalog import Catalog
from provisioner.pipeline import render_snapshot
from provisioner.state import GroupState, PhoneState, TenantState
from provisioner.store import Store
from tests.peers import free_port
from tests.serve_process import provisioner, run_cli, serving

PHONES = 10_000
GROUP = 1_000
PAGE = 100
SETTING = "provisioning.poll_minutes"
GROUP_SCOPE = quote("group:bench-a/k1000", safe=":")


def _pick(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Client:
    """One keep-alive connection to the API."""

    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.key = key

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any, float]:
        headers = {"X-API-Key": self.key}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        start = time.perf_counter()
        self.conn.request(method, "/api/v1" + path, data, headers)
        response = self.conn.getresponse()
        raw = response.read()
        elapsed = time.perf_counter() - start
        return response.status, json.loads(raw) if raw else None, elapsed


def _populate(url: str, catalog: Catalog) -> None:
    """10,000 phones in two tenants; group ``k1000`` of bench-a holds exactly 1,000."""
    tenants = fleet(catalog, PHONES)
    first = tenants[0]
    first.groups["k1000"] = GroupState("k1000", weight=100)
    for mac in sorted(first.phones)[:GROUP]:
        first.phones[mac].groups.append("k1000")
    store = Store.open(url, catalog)
    store.tenants.apply(tenants)
    store.close()


def _phone(mac: str, tenant: str) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "mac": mac,
        "model": "t46s",
        "lines": [{"user": f"u{mac}", "password": f"pw-{mac}"}],
    }


def list_pages(client: _Client, url: str, catalog: Catalog) -> None:
    latencies = []
    for _ in range(2):
        for offset in range(0, PHONES, PAGE):
            status, body, elapsed = client("GET", f"/phones?limit={PAGE}&offset={offset}")
            assert status == 200, body
            assert len(body["items"]) == PAGE
            latencies.append(elapsed * 1000)
    store = Store.open(url, catalog)
    direct = []
    for offset in range(0, PHONES, PAGE):
        start = time.perf_counter()
        store.tenants.phone_page(limit=PAGE, offset=offset)
        direct.append((time.perf_counter() - start) * 1000)
    store.close()
    print(f"List {PHONES} phones in pages of {PAGE} ({len(latencies)} requests):")
    print(
        f"  API p50 {_pick(latencies, 0.5):.1f} ms, p99 {_pick(latencies, 0.99):.1f} ms, "
        f"max {max(latencies):.1f} ms (target p99 < 50 ms)"
    )
    print(
        f"  reference, store in process: p50 {_pick(direct, 0.5):.1f} ms, "
        f"p99 {_pick(direct, 0.99):.1f} ms"
    )


def create(client: _Client, url: str, catalog: Catalog) -> None:
    for name in ("bench-one", "bench-batch"):
        status, body, _ = client("POST", "/tenants", {"name": name, "sip_domain": f"{name}.x"})
        assert status == 201, body
    start = time.perf_counter()
    for n in range(GROUP):
        status, body, _ = client("POST", "/phones", _phone(f"0a0000{n:06x}", "bench-one"))
        assert status == 201, body
    one_by_one = time.perf_counter() - start
    ops = [
        {"method": "POST", "path": "/phones", "body": _phone(f"0b0000{n:06x}", "bench-batch")}
        for n in range(GROUP)
    ]
    status, body, batch = client("POST", "/changes", {"operations": ops})
    assert status == 200, body
    big = []
    for n in range(20):
        status, body, elapsed = client("POST", "/phones", _phone(f"0c0000{n:06x}", "bench-b"))
        assert status == 201, body
        big.append(elapsed * 1000)
    store = Store.open(url, catalog)
    state = TenantState("bench-ref", "ref.x")
    for n in range(GROUP):
        mac = f"0d0000{n:06x}"
        state.phones[mac] = PhoneState(mac, "t46s")
    start = time.perf_counter()
    store.tenants.apply([state])
    reference = time.perf_counter() - start
    store.close()
    print(f"Create {GROUP} phones (with a line each) in a new tenant:")
    print(f"  one by one (POST /phones): {one_by_one:.1f} s, {GROUP / one_by_one:.0f} phones/s")
    print(f"  in one POST /changes: {batch:.2f} s, {GROUP / batch:.0f} phones/s (target < 5 s)")
    print(
        f"  a single create into a tenant of {PHONES // 2} phones: median "
        f"{statistics.median(big):.0f} ms"
    )
    print(f"  reference, fleet apply in process (no line): {reference:.2f} s")


async def _fetch_all(port: int, paths: list[str]) -> dict[str, bytes]:
    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(path: str) -> tuple[str, bytes]:
            async with session.get(f"http://127.0.0.1:{port}/{path}") as r:
                return path, await r.read()

        return dict(await asyncio.gather(*(one(p) for p in paths)))


def _fetch(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/" + path)
    body = conn.getresponse().read()
    conn.close()
    return body


def preview_and_change(
    client: _Client, port: int, api_pid: int, data: Path, url: str, catalog: Catalog
) -> None:
    path = f"/scopes/{GROUP_SCOPE}/settings/{SETTING}"
    rss_before, peak_before = rss_mb(api_pid), peak_rss_mb(api_pid)
    status, preview, seconds = client("PUT", path + "?dry_run=true", {"value": 77})
    assert status == 200, preview
    assert not preview["problems"], preview
    peak_after = peak_rss_mb(api_pid)
    changed = {
        p["mac"]: [f["name"] for f in p["files"] if f["diff_current"]] for p in preview["phones"]
    }
    paths = sorted({name for names in changed.values() for name in names})
    env = {**os.environ, "PROVISIONER_DB_URL": url}
    start = time.perf_counter()
    subprocess.run(
        provisioner(data, "set", "group:bench-a/k1000", SETTING, "77", "--dry-run"),
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    cli_seconds = time.perf_counter() - start
    cli_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    store = Store.open(url, catalog)
    start = time.perf_counter()
    render_snapshot(catalog, store.tenants.snapshot(macs=list(changed)), shared=False)
    reference = time.perf_counter() - start
    store.close()
    print(f"Preview of a setting change on a group of {GROUP} phones:")
    print(
        f"  API ?dry_run=true: {seconds:.2f} s, {len(changed)} phones and {len(paths)} files "
        f"with diffs, {len(json.dumps(preview)) / 1e6:.1f} MB answer (target < 10 s)"
    )
    print(
        f"  server RSS {rss_before:.0f} MB before; peak RSS {peak_before:.0f} MB before "
        f"(start-up render), {peak_after:.0f} MB after"
    )
    print(f"  CLI set --dry-run (own process, whole command): {cli_seconds:.2f} s, peak RSS "
          f"{cli_peak:.0f} MB")  # fmt: skip
    print(f"  reference, rendering those phones once in process: {reference:.2f} s")

    before = asyncio.run(_fetch_all(port, paths))
    status, body, written = client("PUT", path, {"value": 77})
    assert status == 200, body
    committed = time.perf_counter()
    sentinel = paths[0]
    while _fetch(port, sentinel) == before[sentinel]:
        time.sleep(0.005)
    first = time.perf_counter() - committed
    waiting = list(paths)
    while waiting:
        now = asyncio.run(_fetch_all(port, waiting))
        waiting = [p for p in waiting if now[p] == before[p]]
    every = time.perf_counter() - committed
    print(f"Setting change on a group of {GROUP} phones (PUT took {written:.2f} s):")
    print(
        f"  first changed file served {first:.2f} s after the answer; all {len(paths)} files "
        f"of {len(changed)} phones verified changed after {every:.2f} s (target < 3 s)"
    )


def main() -> None:
    """Run every API benchmark on one server."""
    catalog = Catalog.load()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        url = f"sqlite:///{data / 'provisioner.db'}"
        run_cli(data, "--db", url, "init")
        _populate(url, catalog)
        out = run_cli(data, "--db", url, "apikey", "create", "--name", "b", "--role", "admin")
        key = out.stdout.strip().splitlines()[-1]
        api = free_port()
        env = {**os.environ, "PROVISIONER_DB_URL": url}
        options = ("--api-port", str(api), "--log-level", "error")
        with serving(data, *options, env=env, start_within=300) as server:
            client = _Client(api, key)
            list_pages(client, url, catalog)
            create(client, url, catalog)
            preview_and_change(client, server.http, server.process.pid, data, url, catalog)


if __name__ == "__main__":
    main()

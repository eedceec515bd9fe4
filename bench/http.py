"""HTTP benchmarks: our server against nginx with wrk, and a reboot storm.

1. **One file, 64 connections.** wrk fetches one Yealink ``<mac>.cfg`` from
   ``provisioner serve`` and from nginx serving the same bytes as a static
   file (one worker each, access logs off), in the same run; then again with
   HTTP digest authentication on (wrk replays pre-computed Authorization
   headers, each nonce count used once, so our replay protection is paid).
2. **Reboot storm.** 10,000 phones of mixed families each fetch their whole
   boot set (the per-phone files of their family, plus the shared file the
   vendor asks for first), starting spread over 30 s; the figures are
   errors, latency percentiles and the server's peak RSS.

Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench._proc import peak_rss_mb
from bench._web import group, median, nginx, serve, wrk
from bench.render import populate
from provisioner.catalog import Catalog, FilePer, expand_path
from provisioner.edits import Edits
from provisioner.scope import parse_scope
from provisioner.store import Store

WRK_SECONDS = 10
ROUNDS = 3
CONNECTIONS = 64
STORM_PHONES = 10_000
STORM_SPREAD = 30.0


@contextmanager
def _nginx_for(workdir: Path, www: Path, port: int, path: str) -> Any:
    """nginx serving the bytes our server returns for ``path``, as a static file."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=5).read()
    (www / path).write_bytes(body)
    with nginx(workdir / "nginx") as nport:
        yield nport


def _digest_script(root: Path, port: int, path: str, user: str, password: str) -> Path:
    """A wrk script replaying valid, never-reused digest answers (one nonce per thread)."""
    count = 400_000
    files = []
    for thread in range(2):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/{path}")
        try:
            urllib.request.urlopen(request, timeout=5)
            raise RuntimeError("expected a challenge")
        except urllib.error.HTTPError as exc:
            offered = exc.headers.get_all("WWW-Authenticate") or []
            challenge = next(v for v in offered if "MD5" in v)
        nonce = group(r'nonce="([^"]+)"', challenge)
        realm = group(r'realm="([^"]+)"', challenge)
        ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"GET:/{path}".encode()).hexdigest()
        lines = []
        for nc in range(1, count + 1):
            ncs = f"{nc:08x}"
            response = hashlib.md5(f"{ha1}:{nonce}:{ncs}:c0ffee:auth:{ha2}".encode()).hexdigest()
            lines.append(
                f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="/{path}", '
                f'algorithm=MD5, qop=auth, nc={ncs}, cnonce="c0ffee", response="{response}"'
            )
        target = root / f"auth-{thread}.txt"
        target.write_text("\n".join(lines) + "\n")
        files.append(target)
    script = root / "digest.lua"
    script.write_text(
        """
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end
function init(args)
  headers = {}
  for line in io.lines(string.format("%s/auth-%d.txt", "ROOT", id)) do
    headers[#headers + 1] = line
  end
  i = 0
end
function request()
  i = i + 1
  wrk.headers["Authorization"] = headers[i]
  return wrk.format(nil, "/PATH")
end
""".replace("ROOT", str(root)).replace("PATH", path)
    )
    return script


def one_file(workdir: Path) -> None:
    """wrk on one Yealink file: ours vs nginx, then ours with digest on."""
    catalog = Catalog.load()
    url = f"sqlite:///{workdir / 'one.db'}"
    populate(url, 200)
    store = Store.open(url, catalog)
    tenant = store.tenants.state("bench-a")
    mac = next(
        m for m, p in tenant.phones.items() if catalog.model(p.model).family == "yealink/tseries"
    )
    store.close()
    path = f"{mac}.cfg"
    www = workdir / "nginx" / "www"
    www.mkdir(parents=True)
    ours_runs, nginx_runs = [], []
    # Interleaved runs, median reported: this 2-core machine shares its cores
    # between wrk and the server, and single runs vary by ±15 %.
    with serve(workdir, url) as (port, _), _nginx_for(workdir, www, port, path) as nport:
        for _ in range(ROUNDS):
            nginx_runs.append(wrk(f"http://127.0.0.1:{nport}/{path}", CONNECTIONS, WRK_SECONDS))
            ours_runs.append(wrk(f"http://127.0.0.1:{port}/{path}", CONNECTIONS, WRK_SECONDS))
    body = (www / path).read_bytes()
    ours, reference = median(ours_runs), median(nginx_runs)
    store = Store.open(url, catalog)
    Edits.of(store).settings.set(
        parse_scope(f"phone:{mac}"), "access.http.password", "bench-password-1"
    )
    store.close()
    with serve(workdir, url) as (port, _):
        script = _digest_script(workdir, port, path, mac, "bench-password-1")
        digest = wrk(f"http://127.0.0.1:{port}/{path}", CONNECTIONS, WRK_SECONDS, script)
    print(
        f"HTTP, one Yealink <mac>.cfg ({len(body)} bytes), wrk -t2 -c{CONNECTIONS} "
        f"-d{WRK_SECONDS}s, median of {ROUNDS} interleaved runs:"
    )
    for name, r in (
        ("nginx 1.22 (sendfile)", reference),
        ("provisioner", ours),
        ("provisioner, digest auth", digest),
    ):
        print(
            f"  {name:28s} {r['rps']:9,.0f} req/s  p50 {r.get('p50_ms', 0):6.2f} ms  "
            f"p99 {r.get('p99_ms', 0):6.2f} ms  non-2xx {int(r['non2xx'])}"
        )
    print(
        f"  ratio provisioner / nginx: {ours['rps'] / reference['rps']:.2f}x "
        f"(with digest: {digest['rps'] / reference['rps']:.2f}x)"
    )


def _boot_paths(catalog: Catalog, store: Store) -> list[list[str]]:
    """Each phone's boot set: the shared file(s) its model asks first, then its own files."""
    phones = []
    for name in store.tenants.names():
        for mac, phone in store.tenants.state(name).phones.items():
            model = catalog.model(phone.model)
            family = catalog.family_of(model)
            paths = [expand_path(f.path, model) for f in family.files if f.per is FilePer.MODEL]
            paths += [
                expand_path(f.path, model, mac) for f in family.files if f.per is FilePer.PHONE
            ]
            phones.append(paths)
    return phones


STORM_CLIENT = """
import asyncio, json, sys, time
import aiohttp

async def main(port, spread, plan):
    latencies, errors = [], 0
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.monotonic()

        async def phone(index, paths):
            nonlocal errors
            await asyncio.sleep(spread * index / len(plan))
            for path in paths:
                t0 = time.monotonic()
                try:
                    async with session.get(f"http://127.0.0.1:{port}/{path}") as r:
                        await r.read()
                        if r.status != 200:
                            errors += 1
                except Exception:
                    errors += 1
                latencies.append(time.monotonic() - t0)

        await asyncio.gather(*(phone(i, p) for i, p in enumerate(plan)))
        elapsed = time.monotonic() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    print(json.dumps({"requests": len(latencies), "errors": errors, "elapsed": elapsed,
                      "p50": pick(0.5), "p99": pick(0.99), "max": latencies[-1] * 1000}))

port, spread, plan = int(sys.argv[1]), float(sys.argv[2]), json.load(open(sys.argv[3]))
asyncio.run(main(port, spread, plan))
"""


def storm(workdir: Path) -> None:
    """10,000 phones fetching their boot sets within 60 s."""
    catalog = Catalog.load()
    url = f"sqlite:///{workdir / 'storm.db'}"
    populate(url, STORM_PHONES)
    store = Store.open(url, catalog)
    plan = _boot_paths(catalog, store)
    store.close()
    plan_file = workdir / "plan.json"
    plan_file.write_text(json.dumps(plan))
    client = workdir / "storm_client.py"
    client.write_text(STORM_CLIENT)
    with serve(workdir, url) as (port, process):
        started = peak_rss_mb(process.pid)
        out = subprocess.run(
            [sys.executable, str(client), str(port), str(STORM_SPREAD), str(plan_file)],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        ).stdout
        peak = peak_rss_mb(process.pid)
    r = json.loads(out)
    print(
        f"Reboot storm: {STORM_PHONES} phones, {r['requests']} requests (whole boot sets), "
        f"starts spread over {STORM_SPREAD:.0f} s:"
    )
    print(
        f"  finished in {r['elapsed']:.1f} s, errors {r['errors']}, latency p50 {r['p50']:.1f} ms, "
        f"p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms"
    )
    print(f"  server peak RSS {peak:.0f} MB (after start-up render: {started:.0f} MB)")


def main() -> None:
    """Run both HTTP benchmarks."""
    with tempfile.TemporaryDirectory() as tmp:
        one_file(Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        storm(Path(tmp))

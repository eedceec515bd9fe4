"""Scale benchmark: what one change costs a running server with many phones.

The fleet is ``bench.render``'s (two tenants, twelve groups each, every
phone in three). One ``provisioner serve`` runs over it; while one thread
fetches an *unchanged* phone's file over HTTP as fast as it can (one
keep-alive connection), the CLI changes:

1. one group setting (``set group:bench-a/g0 language fr``: an eighth of the
   phones), then
2. one phone setting (``set phone:<mac> language de``).

Figures for each: the CLI's wall time; the time from starting the CLI until
a phone the change reaches is served its new file (polled every 5 ms on a
connection of its own); the longest wait and the p99 of the unchanged
phone's fetches from the CLI's start until the change was served, against
its p99 in the seconds before (the reference in the same run). Then the
server's RSS after start and its peak.

10,000 phones on SQLite, and on PostgreSQL when ``PROVISIONER_TEST_PG_URL``
is set (a database of its own, dropped afterwards); with
``PROVISIONER_BENCH_100K=1`` 100,000 phones as well. Figures are printed;
nothing is asserted.
"""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench._proc import peak_rss_mb, rss_mb
from bench.render import populate
from provisioner.catalog import Catalog
from provisioner.store import Store
from tests.pg import new_database
from tests.serve_process import provisioner, run_cli, serving

PG_ENV = "PROVISIONER_TEST_PG_URL"
BIG_ENV = "PROVISIONER_BENCH_100K"
REFERENCE_SECONDS = 2.0
SETTLE_SECONDS = 0.5  # the unchanged phone is still fetched this long after the change is served


class Fetcher(threading.Thread):
    """Fetches one path over one keep-alive connection until stopped; (start, seconds) each."""

    def __init__(self, port: int, path: str) -> None:
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.samples: list[tuple[float, float]] = []
        self.bodies: set[bytes] = set()
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        while not self.stop.is_set():
            start = time.perf_counter()
            conn.request("GET", f"/{self.path}")
            response = conn.getresponse()
            body = response.read()
            self.samples.append((start, time.perf_counter() - start))
            if response.status != 200:
                self.failures += 1
            self.bodies.add(body)
        conn.close()

    def between(self, start: float, end: float) -> list[float]:
        """The durations of the fetches that started in ``[start, end]``."""
        return [seconds for at, seconds in list(self.samples) if start <= at <= end]


def _get(conn: http.client.HTTPConnection, path: str) -> bytes:
    conn.request("GET", f"/{path}")
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"/{path}: HTTP {response.status}")
    return body


def _p99(values: list[float]) -> float:
    if len(values) < 2:
        return max(values, default=0.0)
    return statistics.quantiles(values, n=100)[98]


def _change(
    data_dir: Path, env: dict[str, str], port: int, fetcher: Fetcher, args: list[str], probe: str
) -> dict[str, float]:
    """Run one CLI change; how long it took, until ``probe`` changed, and the fetcher's waits."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    before = _get(conn, probe)
    start = time.perf_counter()
    cli = subprocess.Popen(provisioner(data_dir, *args), env=env, stdout=subprocess.DEVNULL)
    # Timed by a thread of its own: a fetch of the probe may be held up by the server.
    ended: list[float] = []

    def wait() -> None:
        cli.wait()
        ended.append(time.perf_counter())

    waiter = threading.Thread(target=wait)
    waiter.start()
    while _get(conn, probe) == before:
        if time.perf_counter() - start > 600:
            raise RuntimeError(f"{args}: not served within 600 s")
        time.sleep(0.005)
    served = time.perf_counter()
    waiter.join()
    if cli.returncode != 0:
        raise RuntimeError(f"{args} failed")
    cli_seconds = ended[0] - start
    conn.close()
    time.sleep(SETTLE_SECONDS)
    during = fetcher.between(start, served + SETTLE_SECONDS)
    return {
        "cli_s": cli_seconds,
        "served_s": served - start,
        "longest_ms": max(during, default=0.0) * 1000,
        "p99_ms": _p99(during) * 1000,
        "fetches": len(during),
    }


def _phones(url: str) -> tuple[str, str, str]:
    """Yealink phones of tenant bench-a: one in group g0, one more, one outside g0."""
    catalog = Catalog.load()
    store = Store.open(url, catalog)
    tenant = store.tenants.state("bench-a")
    store.close()
    yealink = [
        p for p in tenant.phones.values() if catalog.model(p.model).family == "yealink/tseries"
    ]
    in_g0 = [p.mac for p in yealink if "g0" in p.groups]
    outside = [p.mac for p in yealink if "g0" not in p.groups]
    return in_g0[0], outside[1], outside[0]


def measure(workdir: Path, url: str, phones: int) -> dict[str, float]:
    """One fleet, one server, the two changes; every figure."""
    data_dir = workdir / "data"
    env = dict(os.environ, PROVISIONER_DB_URL=url)
    run_cli(data_dir, "init", env=env)
    apply_s = populate(url, phones)
    in_group, one, unchanged = _phones(url)
    figures: dict[str, float] = {"populate_s": apply_s}
    start = time.perf_counter()
    with serving(data_dir, "--log-level", "error", env=env, start_within=1200) as running:
        figures["start_s"] = time.perf_counter() - start
        pid = running.process.pid
        figures["rss_start_mb"] = rss_mb(pid)
        fetcher = Fetcher(running.http, f"{unchanged}.cfg")
        fetcher.start()
        time.sleep(REFERENCE_SECONDS)
        reference = fetcher.between(0.0, time.perf_counter())
        figures["reference_p99_ms"] = _p99(reference) * 1000
        figures["reference_longest_ms"] = max(reference, default=0.0) * 1000
        group = _change(
            data_dir,
            env,
            running.http,
            fetcher,
            ["set", "group:bench-a/g0", "language", "fr"],
            f"{in_group}.cfg",
        )
        figures.update({f"group_{k}": v for k, v in group.items()})
        phone = _change(
            data_dir,
            env,
            running.http,
            fetcher,
            ["set", f"phone:{one}", "language", "de"],
            f"{one}.cfg",
        )
        figures.update({f"phone_{k}": v for k, v in phone.items()})
        fetcher.stop.set()
        fetcher.join()
        figures["unchanged_failures"] = fetcher.failures
        figures["unchanged_bodies"] = len(fetcher.bodies)
        figures["rss_end_mb"] = rss_mb(pid)
        figures["rss_peak_mb"] = peak_rss_mb(pid)
    return figures


def _report(backend: str, phones: int, f: dict[str, float]) -> None:
    print(f"  {backend}, {phones:,} phones (populated by apply in {f['populate_s']:.1f} s):")
    print(
        f"    serve start {f['start_s']:.1f} s; RSS after start {f['rss_start_mb']:.0f} MB, "
        f"at the end {f['rss_end_mb']:.0f} MB, peak {f['rss_peak_mb']:.0f} MB"
    )
    print(
        f"    unchanged phone before the changes: longest {f['reference_longest_ms']:.1f} ms, "
        f"p99 {f['reference_p99_ms']:.1f} ms"
    )
    for kind, label in (("group", "group setting (g0)"), ("phone", "one phone setting")):
        print(
            f"    {label:20s} CLI {f[f'{kind}_cli_s']:.2f} s, served after "
            f"{f[f'{kind}_served_s']:.2f} s; unchanged phone meanwhile: longest "
            f"{f[f'{kind}_longest_ms']:.1f} ms, p99 {f[f'{kind}_p99_ms']:.1f} ms "
            f"({int(f[f'{kind}_fetches'])} fetches)"
        )
    print(
        f"    unchanged phone: {int(f['unchanged_failures'])} failed fetches, "
        f"{int(f['unchanged_bodies'])} distinct bodies"
    )


def main() -> None:
    """Print the figures for each size and backend."""
    sizes = [10_000] + ([100_000] if os.environ.get(BIG_ENV) == "1" else [])
    print("Scale: one change while an unchanged phone is fetched (bench/scale.py)")
    for phones in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            url = f"sqlite:///{workdir / 'data' / 'scale.db'}"
            (workdir / "data").mkdir()
            _report("SQLite", phones, measure(workdir, url, phones))
        base = os.environ.get(PG_ENV)
        if base:
            with (
                tempfile.TemporaryDirectory() as tmp,
                new_database(base, "provisioner_bench") as url,
            ):
                _report("PostgreSQL", phones, measure(Path(tmp), url, phones))


if __name__ == "__main__":
    main()

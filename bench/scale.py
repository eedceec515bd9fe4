"""Scale benchmark: what one change costs a running server with many phones.

The fleet is ``bench.render``'s (two tenants, twelve groups each, every
phone in three). One ``provisioner serve`` runs over it; while one thread
fetches an *unchanged* phone's file over HTTP as fast as it can (one
keep-alive connection), the CLI changes:

1. one group setting (``set group:bench-a/g0 language fr``: an eighth of the
   phones), then
2. the same on a group of exactly 1,000 phones (``k1000``, heavier than the
   others: issue 12's "1,000-phone group change"), then
3. one phone setting (``set phone:<mac> language de``).

Figures for each: the CLI's wall time; when its transaction committed (a
thread reads the tenant's revision every 2 ms); the time from starting the
CLI, and from the commit, until a phone the change reaches is served its
new file (polled every 5 ms on a connection of its own); the longest wait
and the p99 of the unchanged phone's fetches from the CLI's start until the
change was served, against its p99 in the seconds before (the reference in
the same run). Then the server's RSS after start and its peak.

The CLI runs as an installed one does, with its modules' bytecode cached
(compiled before the first change into ``__pycache__``, which git ignores),
even where ``PYTHONDONTWRITEBYTECODE`` is set for the tests.

10,000 and 100,000 phones on SQLite, and on PostgreSQL when
``PROVISIONER_TEST_PG_URL`` is set (a database of its own, dropped
afterwards); ``PROVISIONER_BENCH_100K=0`` leaves the 100,000 out (about
three minutes of the run with both backends). Figures are printed; nothing
is asserted.
"""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy

import provisioner as provisioner_package
from bench._proc import peak_rss_mb, rss_mb
from bench.render import fleet
from provisioner.catalog import Catalog
from provisioner.state import GroupState
from provisioner.store import Store
from tests.pg import new_database
from tests.serve_process import provisioner, run_cli, serving

PG_ENV = "PROVISIONER_TEST_PG_URL"
BIG_ENV = "PROVISIONER_BENCH_100K"
REFERENCE_SECONDS = 2.0
SETTLE_SECONDS = 0.5  # the unchanged phone is still fetched this long after the change is served
THOUSAND = "k1000"  # the group of 1,000 phones of tenant bench-a


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


class CommitWatch(threading.Thread):
    """Notes when tenant ``bench-a``'s revision moves: the change's commit (±2 ms)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.engine = sqlalchemy.create_engine(url)
        self.query = sqlalchemy.text("SELECT revision FROM tenants WHERE name = 'bench-a'")
        with self.engine.connect() as conn:
            self.revision = conn.execute(self.query).scalar_one()
        self.committed: float | None = None

    def run(self) -> None:
        with self.engine.connect() as conn:
            while self.committed is None:
                if conn.execute(self.query).scalar_one() != self.revision:
                    self.committed = time.perf_counter()
                conn.rollback()  # a new snapshot for the next read
                time.sleep(0.002)
        self.engine.dispose()


def _change(
    data_dir: Path,
    env: dict[str, str],
    url: str,
    port: int,
    fetcher: Fetcher,
    args: list[str],
    probe: str,
) -> dict[str, float]:
    """Run one CLI change; how long it took, until ``probe`` changed, and the fetcher's waits."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    before = _get(conn, probe)
    watch = CommitWatch(url)
    watch.start()
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
    watch.join(timeout=10)
    if cli.returncode != 0:
        raise RuntimeError(f"{args} failed")
    if watch.committed is None:
        raise RuntimeError(f"{args}: the revision of bench-a did not move")
    cli_seconds = ended[0] - start
    conn.close()
    time.sleep(SETTLE_SECONDS)
    during = fetcher.between(start, served + SETTLE_SECONDS)
    return {
        "cli_s": cli_seconds,
        "commit_s": watch.committed - start,
        "served_s": served - start,
        "after_commit_s": served - watch.committed,
        "longest_ms": max(during, default=0.0) * 1000,
        "p99_ms": _p99(during) * 1000,
        "fetches": len(during),
    }


def populate(url: str, phones: int) -> float:
    """``bench.render``'s fleet and group ``k1000``; the seconds ``apply`` took."""
    catalog = Catalog.load()
    tenants = fleet(catalog, phones)
    bench_a = tenants[0]
    # Heavier than g0..g11, so its setting wins on every member.
    bench_a.groups[THOUSAND] = GroupState(THOUSAND, weight=100)
    for phone in list(bench_a.phones.values())[:1000]:
        phone.groups.append(THOUSAND)
    store = Store.open(url, catalog)
    start = time.perf_counter()
    store.tenants.apply(tenants)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def _phones(url: str) -> tuple[str, str, str, str]:
    """Yealink phones of tenant bench-a: in g0; in k1000; outside both (two)."""
    catalog = Catalog.load()
    store = Store.open(url, catalog)
    tenant = store.tenants.state("bench-a")
    store.close()
    yealink = [
        p for p in tenant.phones.values() if catalog.model(p.model).family == "yealink/tseries"
    ]
    in_g0 = [p.mac for p in yealink if "g0" in p.groups and THOUSAND not in p.groups]
    in_thousand = [p.mac for p in yealink if THOUSAND in p.groups]
    outside = [p.mac for p in yealink if not {"g0", THOUSAND} & set(p.groups)]
    return in_g0[0], in_thousand[0], outside[1], outside[0]


def _cli_env(url: str) -> dict[str, str]:
    """The CLI's environment, with bytecode cached as an installed command has it."""
    env = dict(os.environ, PROVISIONER_DB_URL=url)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    package = Path(provisioner_package.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], env=env, check=True)
    return env


def measure(workdir: Path, url: str, phones: int) -> dict[str, float]:
    """One fleet, one server, the three changes; every figure."""
    data_dir = workdir / "data"
    env = _cli_env(url)
    run_cli(data_dir, "init", env=env)
    apply_s = populate(url, phones)
    in_group, in_thousand, one, unchanged = _phones(url)
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
        changes = {
            "group": (["set", "group:bench-a/g0", "language", "fr"], in_group),
            "thousand": (["set", f"group:bench-a/{THOUSAND}", "language", "de"], in_thousand),
            "phone": (["set", f"phone:{one}", "language", "de"], one),
        }
        for kind, (args, probe) in changes.items():
            change = _change(data_dir, env, url, running.http, fetcher, args, f"{probe}.cfg")
            figures.update({f"{kind}_{k}": v for k, v in change.items()})
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
    labels = (
        ("group", f"group g0 ({phones // 8:,} phones)"),
        ("thousand", f"group {THOUSAND} (1,000)"),
        ("phone", "one phone"),
    )
    for kind, label in labels:
        print(
            f"    {label:22s} CLI {f[f'{kind}_cli_s']:.2f} s (committed at "
            f"{f[f'{kind}_commit_s']:.2f} s), served {f[f'{kind}_after_commit_s']:.2f} s after "
            f"the commit; unchanged phone meanwhile: longest {f[f'{kind}_longest_ms']:.1f} ms, "
            f"p99 {f[f'{kind}_p99_ms']:.1f} ms ({int(f[f'{kind}_fetches'])} fetches)"
        )
    print(
        f"    unchanged phone: {int(f['unchanged_failures'])} failed fetches, "
        f"{int(f['unchanged_bodies'])} distinct bodies"
    )


def main() -> None:
    """Print the figures for each size and backend."""
    sizes = [10_000] + ([] if os.environ.get(BIG_ENV) == "0" else [100_000])
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

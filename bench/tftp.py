"""TFTP benchmark: our server against tftpd-hpa, same files, same clients, same run.

Both servers run side by side on loopback, each in its own process(es):
ours in a child process serving the files from memory (the read callback is
a dict lookup), tftpd-hpa (``in.tftpd --foreground --secure``, which forks
per request) serving the same files from a temporary directory.

* ``large``: one 20 MB file at blksize 1468, fetched by ``atftp`` (C, so the
  client's own cost is small); seconds and MB/s. Ours runs twice: as
  shipped (a large read alone on the server runs in the lane thread) and
  with ``lane=False`` (everything on the event loop), to show what the lane
  is worth. Ours is also measured with windowsize 16, which tftpd-hpa does
  not support.
* ``concurrent``: 8 atftp clients fetching the large file at once, where the
  lane hands over to the loop; seconds until the last one has it.
* ``small``: 2,000 transfers of ~2 KB files (no options, as phones ask),
  100 at a time, by the asyncio load client of ``tests/tftp/_client.py``
  in this process; total time, transfers/s, failures.

Runs alternate between the servers, best and median of each are printed: a
lockstep transfer is one round trip per block, so its time is mostly process
wake-ups and moves with whatever else the machine runs. Where the scheduler
puts the client and the server matters most of all (on one CPU a wake-up is
a context switch; across two it is an inter-processor interrupt and an idle
CPU waking), and left to itself it places them differently from run to run.
So the large file is fetched three ways: unpinned, with client and server
pinned to the same CPU, and pinned to two different CPUs; pinning applies to
every thread of our server and of tftpd-hpa (whose forked children inherit
it) alike.

The ratios are ours/tftpd-hpa (above 1: we are faster). tftpd-hpa needs root
for ``--secure`` (chroot); without root it is skipped. Nothing here is a
pass/fail threshold; figures are printed.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from provisioner.tftp import TftpServer
from tests.peers import free_port
from tests.tftp._client import fetch

LARGE_NAME = "firmware.bin"
LARGE_SIZE = 20_000_000
SMALL_COUNT = 2000
SMALL_PARALLEL = 100
REPEAT = 5
CONCURRENT = 8  # clients fetching the large file at once
TFTPD = "/usr/sbin/in.tftpd"


def write_files(root: Path) -> list[str]:
    """The large file and the small ones; returns the small files' names."""
    (root / LARGE_NAME).write_bytes((bytes(range(251)) * (LARGE_SIZE // 251 + 1))[:LARGE_SIZE])
    names = []
    for i in range(SMALL_COUNT):
        name = f"{i:012x}.cfg"
        (root / name).write_bytes(f"<phone id='{i}'>".encode() + b"x" * (2000 + i % 100))
        names.append(name)
    return names


def serve(root: Path, port: int, lane: bool) -> None:
    """Child process: our server with every file of ``root`` in memory."""
    files = {path.name: path.read_bytes() for path in root.iterdir() if path.is_file()}

    async def read(name: str, client: tuple[str, int]) -> bytes | None:
        return files.get(name)

    async def run() -> None:
        server = TftpServer(read, host="127.0.0.1", port=port, lane=lane)
        await server.start()
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await server.close()

    asyncio.run(run())


@contextmanager
def ours(root: Path, lane: bool) -> Iterator[tuple[int, int]]:
    """Our server in a child process; yields its port and process ID."""
    port = free_port(socket.SOCK_DGRAM)
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.tftp", "serve", str(root), str(port), str(int(lane))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("our server did not start")
        yield port, child.pid
    finally:
        if child.stdin is not None:
            child.stdin.close()  # end of input: the child closes its server
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextmanager
def tftpd_hpa(root: Path) -> Iterator[tuple[int, int]]:
    """tftpd-hpa in the foreground on a free port, as the current user; yields port and PID."""
    port = free_port(socket.SOCK_DGRAM)
    user = pwd.getpwuid(os.getuid()).pw_name
    args = [TFTPD, "--foreground", "--address", f"127.0.0.1:{port}", "--secure", "--user", user]
    child = subprocess.Popen([*args, str(root)], stderr=subprocess.PIPE)
    try:
        asyncio.run(_wait_until_serving(port))
        yield port, child.pid
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def _wait_until_serving(port: int) -> None:
    for _ in range(100):
        result = await fetch("127.0.0.1", port, "absent-probe", interval=0.05, retries=0)
        if result.error is not None and result.error[0] == 1:
            return
    raise RuntimeError(f"nothing answers on port {port}")


# How the large transfer is placed: (label, server CPUs, client CPUs); None leaves it
# to the scheduler.
PLACEMENTS: list[tuple[str, set[int] | None, set[int] | None]] = [
    ("unpinned", None, None),
    ("same CPU", {0}, {0}),
    ("separate CPUs", {0}, {1}),
]


def pin(pid: int, cpus: set[int] | None) -> None:
    """Pin every thread of process ``pid`` to ``cpus`` (None: all CPUs)."""
    cpus = cpus or set(range(os.cpu_count() or 1))
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


def large(port: int, out: Path, *options: str, cpus: set[int] | None = None) -> float:
    """Seconds for atftp (on ``cpus``, if given) to fetch the large file once."""
    atftp = shutil.which("atftp")
    assert atftp is not None
    args = [atftp, "--get", "-r", LARGE_NAME, "-l", str(out)]
    for option in ("blksize 1468", *options):
        args += ["--option", option]
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run(
        [*args, "127.0.0.1", str(port)],
        check=True,
        timeout=120,
        capture_output=True,
        preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
    )
    seconds = time.perf_counter() - started
    if out.stat().st_size != LARGE_SIZE:
        raise RuntimeError(f"atftp got {out.stat().st_size} bytes")
    return seconds


def concurrent(port: int, out: Path) -> float:
    """Seconds until ``CONCURRENT`` atftp clients started together all have the large file."""
    atftp = shutil.which("atftp")
    assert atftp is not None
    fetch_args = [atftp, "--get", "-r", LARGE_NAME, "--option", "blksize 1468"]
    outs = [out.with_name(f"{out.name}.{i}") for i in range(CONCURRENT)]
    started = time.perf_counter()
    clients = [
        subprocess.Popen(
            [*fetch_args, "-l", str(path), "127.0.0.1", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for path in outs
    ]
    codes = [client.wait(timeout=300) for client in clients]
    seconds = time.perf_counter() - started
    sizes = [path.stat().st_size if path.exists() else 0 for path in outs]
    if any(codes) or any(size != LARGE_SIZE for size in sizes):
        raise RuntimeError(f"concurrent fetches failed: exit codes {codes}, sizes {sizes}")
    for path in outs:
        path.unlink()
    return seconds


def small(port: int, names: list[str]) -> tuple[float, int]:
    """Seconds for all the small transfers once, and how many failed."""

    async def run() -> tuple[float, int]:
        gate = asyncio.Semaphore(SMALL_PARALLEL)

        async def one(name: str) -> bool:
            async with gate:
                return (await fetch("127.0.0.1", port, name)).ok

        started = time.perf_counter()
        results = await asyncio.gather(*(one(name) for name in names))
        return time.perf_counter() - started, results.count(False)

    return asyncio.run(run())


def main() -> None:
    """Run the benchmark and print the figures."""
    if shutil.which("atftp") is None:
        print("tftp benchmark: atftp is not installed; skipped")
        return
    placements = PLACEMENTS if (os.cpu_count() or 1) >= 2 else PLACEMENTS[:1]
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        root = Path(tmp) / "root"
        root.mkdir()
        names = write_files(root)
        out = Path(tmp) / "out"
        started = {
            "ours": servers.enter_context(ours(root, lane=True)),
            "ours, loop only": servers.enter_context(ours(root, lane=False)),
        }
        if os.getuid() == 0 and Path(TFTPD).exists():
            started["tftpd-hpa"] = servers.enter_context(tftpd_hpa(root))
        print(f"tftp benchmark: loopback, {os.cpu_count()} CPUs, {REPEAT} runs each, interleaved")
        if "tftpd-hpa" not in started:
            print("  tftpd-hpa: skipped (needs root for --secure, and /usr/sbin/in.tftpd)")
        # Interleaved, so that whatever else the machine is doing weighs on both.
        big: dict[tuple[str, str], list[float]] = {}
        # Small files never use a lane: the loop-only server would say the same.
        many: dict[str, list[tuple[float, int]]] = {
            who: [] for who in started if who != "ours, loop only"
        }
        window = []
        together: dict[str, list[float]] = {who: [] for who in started}
        for _ in range(REPEAT):
            for label, server_cpus, client_cpus in placements:
                for who, (port, pid) in started.items():
                    pin(pid, server_cpus)
                    runs = big.setdefault((label, who), [])
                    runs.append(large(port, out, cpus=client_cpus))
            for who, (port, pid) in started.items():
                pin(pid, None)
                if who in many:
                    many[who].append(small(port, names))
            window.append(large(started["ours"][0], out, "windowsize 16"))
            for who, (port, _) in started.items():
                together[who].append(concurrent(port, out))
    mb = LARGE_SIZE / 1e6
    print(f"  one {mb:.0f} MB file, blksize 1468, atftp client (best; median):")
    for (label, who), runs in [*big.items(), (("unpinned", "ours, windowsize 16"), window)]:
        best, middle = min(runs), statistics.median(runs)
        print(f"    {label:14} {who:20} {best:.2f} s  {mb / best:6.1f} MB/s; {middle:.2f} s")
    print(f"  {CONCURRENT} atftp clients at once, the same file (best; median):")
    for who, runs in together.items():
        best, middle = min(runs), statistics.median(runs)
        total = CONCURRENT * mb
        print(f"    {who:20} {best:.2f} s  {total / best:6.1f} MB/s; {middle:.2f} s")
    print(
        f"  {SMALL_COUNT} files of ~2 KB, {SMALL_PARALLEL} in parallel, "
        "asyncio client (best; median):"
    )
    for who, results in many.items():
        best = min(seconds for seconds, _ in results)
        middle = statistics.median(seconds for seconds, _ in results)
        failures = sum(failed for _, failed in results)
        print(
            f"    {who:20} {best:.2f} s  {SMALL_COUNT / best:6.0f} transfers/s; {middle:.2f} s; "
            f"{failures} failures in {REPEAT * SMALL_COUNT}"
        )
    if "tftpd-hpa" in started:
        print("  ratio ours/tftpd-hpa (throughput; above 1: we are faster):")
        for label, _, _ in placements:
            theirs = big[(label, "tftpd-hpa")]
            for who in ("ours", "ours, loop only"):
                runs = big[(label, who)]
                print(
                    f"    large, {label:14} {who:16} best {min(theirs) / min(runs):.2f}x, "
                    f"median {statistics.median(theirs) / statistics.median(runs):.2f}x"
                )
        theirs = together["tftpd-hpa"]
        for who in ("ours", "ours, loop only"):
            runs = together[who]
            print(
                f"    {CONCURRENT} at once, {who:16} best {min(theirs) / min(runs):.2f}x, "
                f"median {statistics.median(theirs) / statistics.median(runs):.2f}x"
            )
        ratio_many = min(s for s, _ in many["tftpd-hpa"]) / min(s for s, _ in many["ours"])
        print(f"    small (best runs)      {ratio_many:.2f}x")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1")
    else:
        main()

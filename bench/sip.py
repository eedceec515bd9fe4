"""SIP benchmark: unpaced check-sync NOTIFYs against sipp answering 200, on loopback.

sipp (``tests/sip/scenarios/answer.xml``) runs as one phone in its own
process and answers every NOTIFY with 200; the notifier runs in this
process, sending ``COUNT`` NOTIFYs over UDP with up to ``IN_FLIGHT``
awaiting their outcome at once (a new one starts as soon as one ends), so
the rate is whatever the two processes sustain on this machine. UDP runs
with 200 and 2,000 in flight, TCP (one connection, shared) with 200; each
run has a fresh process (for its memory figures), notifier and sipp.

Printed: NOTIFYs per second (first send to last outcome), failures,
retransmissions (a sign of datagrams dropped by a full socket buffer),
p50/p99/max latency (send() call to outcome), the CPU time each side
used (which one limits the rate), and this process's resident
memory before the run, after it, and once every transaction has ended
(Timer K, T4 = 5 s, keeps each for a while to absorb retransmitted
responses). Figures only; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

from provisioner.sip import Notifier, NotifyOutcome, NotifyRequest
from tests.peers import free_port
from tests.sip._sipp import Sipp

COUNT = 20_000
RUNS: list[tuple[Literal["udp", "tcp"], int]] = [("udp", 200), ("udp", 2_000), ("tcp", 200)]
T4 = 5.0  # the notifier's default: how long Timer K keeps a finished transaction


def cpu_seconds(who: int) -> float:
    """User + system CPU time of this process (RUSAGE_SELF) or its reaped children."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def rss_mib() -> float:
    """This process's resident set size (VmRSS), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(
    program: str, workdir: Path, transport: Literal["udp", "tcp"], in_flight: int
) -> None:
    """One run: print its figures."""
    port = free_port(socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
    request = NotifyRequest(
        host="127.0.0.1",
        port=port,
        transport=transport,
        request_uri=f"sip:201@127.0.0.1:{port}",
        to_uri="sip:201@pbx.example.com",
        from_uri="sip:provisioner@pbx.example.com",
        event="check-sync;reboot=false",
    )
    phone = Sipp(
        program,
        "answer.xml",
        port,
        workdir,
        transport=transport,
        calls=COUNT,
        # A 4 MiB socket buffer: sipp's default (64 KiB) drops bursts of NOTIFYs.
        args=("-buff_size", str(4 << 20), "-max_recv_loops", "10000"),
        limit=120.0,
    )
    outcomes: list[NotifyOutcome] = []
    sipp_cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
    async with phone, Notifier(bind_host="127.0.0.1") as notifier:
        before = rss_mib()
        remaining = COUNT

        async def sender() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                outcomes.append(await notifier.send(request))

        started, our_cpu = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF)
        await asyncio.gather(*(sender() for _ in range(in_flight)))
        seconds = time.perf_counter() - started
        our_cpu = cpu_seconds(resource.RUSAGE_SELF) - our_cpu
        after = rss_mib()
        await asyncio.sleep(T4 + 0.5)  # Timer K ends every finished transaction
        drained, left = rss_mib(), notifier.in_flight
        stats = notifier.stats
    sipp_cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - sipp_cpu  # sipp has exited: reaped
    latencies = sorted(outcome.elapsed * 1000 for outcome in outcomes)
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    failures = sum(not outcome.ok for outcome in outcomes)
    print(
        f"  {transport.upper()}, {in_flight:5} in flight: {COUNT / seconds:6.0f} NOTIFY/s "
        f"({seconds:.2f} s), "
        f"{failures} failures, {stats.retransmissions} retransmissions; "
        f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms"
    )
    print(
        f"  {'':20}CPU: notifier {our_cpu:.2f} s ({our_cpu / COUNT * 1e6:.0f} µs per "
        f"NOTIFY), sipp {sipp_cpu:.2f} s in all; sipp exited {phone.returncode}"
    )
    print(
        f"  {'':20}RSS {before:.1f} MiB before, {after:.1f} MiB after "
        f"({after - before:+.1f}), {drained:.1f} MiB after Timer K ({drained - before:+.1f}, "
        f"{left} transactions left)"
    )


def main() -> None:
    """Run the benchmark and print the figures."""
    program = shutil.which("sipp")
    if program is None:
        print("sip benchmark: sipp is not installed (Debian package sip-tester); skipped")
        return
    print(
        f"sip benchmark: {COUNT} NOTIFYs per run to sipp answering 200, loopback, "
        f"{os.cpu_count()} CPUs (sipp shares them)"
    )
    root = Path(__file__).resolve().parent.parent
    for transport, in_flight in RUNS:
        # A fresh process per run, so that each one's memory figures are its own.
        command = [sys.executable, "-m", "bench.sip", "run", transport, str(in_flight)]
        subprocess.run(command, cwd=root, check=True, timeout=600)


def child(transport: Literal["udp", "tcp"], in_flight: int) -> None:
    """One run, in this process (``python -m bench.sip run udp 200``)."""
    program = shutil.which("sipp")
    assert program is not None
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(program, Path(tmp), transport, in_flight))


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"]:
        child("tcp" if sys.argv[2] == "tcp" else "udp", int(sys.argv[3]))
    else:
        main()

"""Send-profiles jobs: paced-rate accuracy, and memory over a 100,000-phone job.

sipp plays the tenant's SIP proxy (``notify.target = proxy``) and answers
every NOTIFY with 200, logging each with its arrival time; ``provisioner
serve`` runs the job. Figures are printed; nothing is asserted.

* **Pacing.** Jobs at 20/s, 200/s and 2,000/s; the rate is measured from
  sipp's arrival times (first to last NOTIFY) and compared with the
  configured one (the target: at least 0.9 of it, docs/cluster.md), with
  the server's CPU time per NOTIFY over the job (comparable between runs
  on a shared machine, where the rate is not).
* **Memory.** A job for 100,000 phones at 2,000/s; the server's RSS is
  sampled every second while it runs.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench._proc import cpu_seconds, rss_mb
from provisioner.catalog import Catalog
from provisioner.state import LineState, PhoneState, TenantState
from provisioner.store import Store
from tests.peers import free_port
from tests.serve_process import serving

SCENARIO = (
    Path(__file__).resolve().parent.parent / "tests" / "notify" / "scenarios" / "answer_200.xml"
)


def _populate(url: str, phones: int, sip_port: int, rate: int, in_flight: int) -> None:
    catalog = Catalog.load()
    tenant = TenantState(
        "bench",
        "bench.example.com",
        settings={
            "sip.outbound_proxy.host": "127.0.0.1",
            "sip.outbound_proxy.port": sip_port,
            "notify.target": "proxy",
            "notify.rate": rate,
            "notify.max_in_flight": in_flight,
            "notify.jitter_ms": 0,
            "notify.delay_seconds": 0,
            "notify.retries": 0,
        },
    )
    for n in range(phones):
        mac = f"0004f2{n:06x}"
        line = LineState(1, f"u{n}", password=f"pw-{n}")
        tenant.phones[mac] = PhoneState(mac, "vvx410", lines=[line])
    store = Store.open(url, catalog)
    store.tenants.apply([tenant])
    store.close()


def _run_job(workdir: Path, phones: int, rate: int, in_flight: int) -> dict[str, Any]:
    sip_port = free_port(socket.SOCK_DGRAM)
    url = f"sqlite:///{workdir / 'notify.db'}"
    _populate(url, phones, sip_port, rate, in_flight)
    log = workdir / "sipp.log"
    sipp = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(sip_port),
         "-m", str(phones + 10), "-trace_msg", "-message_file", str(log), "-nostdin"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    cli = [sys.executable, "-m", "provisioner", "--data-dir", str(workdir), "--db", url]
    env = dict(os.environ, PROVISIONER_DB_URL=url)
    samples: list[float] = []
    # The job's state is read here rather than with `provisioner jobs`: a
    # command every second (its start-up alone about 0.7 s of CPU here)
    # competed for the CPU with the server being measured.
    store = Store.open(url, Catalog.load())
    try:
        with serving(workdir, "--log-level", "error", env=env, start_within=600) as running:
            server = running.process
            started = rss_mb(server.pid)
            cpu_before = cpu_seconds(server.pid)
            subprocess.run([*cli, "send-profiles", "--tenant", "bench"], check=True,
                           capture_output=True, timeout=600)  # fmt: skip
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                samples.append(rss_mb(server.pid))
                job = store.jobs.summaries(limit=1)[0]
                if job.state != "running":
                    break
                time.sleep(1.0)
            cpu = cpu_seconds(server.pid) - cpu_before
    finally:
        store.close()
        sipp.terminate()
        sipp.wait(30)
    stamps = _arrivals(log)
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    return {
        "configured": rate,
        "notifies": _transactions(log),
        "datagrams": len(stamps),
        "measured": (len(stamps) - 1) / span if span else 0.0,
        "counts": {str(state): n for state, n in job.counts.items()},
        "cpu_ms_per_notify": cpu / max(_transactions(log), 1) * 1000,
        "rss_start": started,
        "rss_min": min(samples) if samples else 0.0,
        "rss_max": max(samples) if samples else 0.0,
        "rss_last": samples[-1] if samples else 0.0,
    }


_ARRIVAL = re.compile(r"-{10,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\nUDP message received")
_BRANCH = re.compile(
    r"message received.*?\n\nNOTIFY [^\n]*\n(?:[^\n]+\n)*?Via:[^\n]*branch=([^;\s]+)", re.I
)


def _transactions(log: Path) -> int:
    """Distinct NOTIFY transactions (Via branches) sipp received: UDP retransmissions
    (Timer E, RFC 3261 §17.1.2.2) repeat a branch, a new NOTIFY never does."""
    text = log.read_text() if log.exists() else ""
    return len(set(_BRANCH.findall(text)))


def _arrivals(log: Path) -> list[float]:
    text = log.read_text() if log.exists() else ""
    return sorted(
        datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
        for stamp in _ARRIVAL.findall(text)
    )


PACING = ((200, 20), (1000, 200), (10_000, 2000))  # phones, configured rate


def main() -> None:
    """Pacing accuracy at three rates, then memory over a 100,000-phone job."""
    print("send-profiles jobs against a sipp proxy on loopback (200 OK to every NOTIFY):")
    for phones, rate in PACING:
        with tempfile.TemporaryDirectory() as tmp:
            r = _run_job(Path(tmp), phones, rate, in_flight=max(10, rate // 4))
        error = (r["measured"] - rate) / rate * 100
        print(
            f"  pacing: {phones} phones at {rate}/s: measured {r['measured']:.1f}/s "
            f"({error:+.1f} %), {r['notifies']} NOTIFYs received ({r['datagrams']} datagrams), "
            f"server CPU {r['cpu_ms_per_notify']:.3f} ms per NOTIFY, states {r['counts']}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        r = _run_job(Path(tmp), 100_000, 2000, in_flight=500)
    print(
        f"  memory: 100,000-phone job at 2,000/s: {r['notifies']} NOTIFYs "
        f"({r['datagrams']} datagrams with UDP retransmissions) at "
        f"{r['measured']:.0f}/s, states {r['counts']}; server RSS after start-up "
        f"{r['rss_start']:.0f} MB, during the job {r['rss_min']:.0f}-{r['rss_max']:.0f} MB, "
        f"at the end {r['rss_last']:.0f} MB"
    )


if __name__ == "__main__":
    main()

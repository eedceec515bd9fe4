"""Send-profiles jobs run by three nodes: one tenant rate for the cluster, and kill -9.

sipp plays the tenant's SIP proxy (``notify.target = proxy``), answering
every NOTIFY with 200 and logging each with its arrival time; the job is
queued with the CLI and every node's runner takes part. Each node sends from
its own SIP port, which the NOTIFY's Via names, so the log tells which node
sent what.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.cluster.conftest import Cluster, ClusterFactory
from tests.peers import free_port, need
from tests.waiting import eventually

SCENARIO = Path(__file__).resolve().parent.parent / "notify" / "scenarios" / "answer_200.xml"
_BLOCK = re.compile(
    r"-{10,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\nUDP message received \[\d+\] bytes :\n\n"
    r"(NOTIFY sip:(\w+)@.*?)(?=\n-{10,} |\Z)",
    re.S,
)
_VIA = re.compile(r"^Via: SIP/2\.0/UDP [^:;]+:(\d+);branch=([^;\s]+)", re.M | re.I)


@dataclass(frozen=True)
class Notify:
    """One NOTIFY transaction as sipp first received it."""

    at: float
    user: str
    sender: int  # the node's SIP port
    branch: str


def received(log: Path) -> list[Notify]:
    """NOTIFY transactions in arrival order; a UDP retransmission (same branch) counts once."""
    text = log.read_text(errors="replace") if log.exists() else ""
    seen: dict[str, Notify] = {}
    for stamp, message, user in _BLOCK.findall(text):
        via = _VIA.search(message)
        assert via is not None, message
        sender, branch = via.groups()
        if branch not in seen:
            at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
            seen[branch] = Notify(at, user, int(sender), branch)
    return sorted(seen.values(), key=lambda n: n.at)


def fleet(
    sip_port: int, phones: int, rate: int, in_flight: int, jitter_ms: int = 0
) -> dict[str, Any]:
    return {
        "tenants": [
            {
                "name": "acme",
                "sip_domain": "acme.example.com",
                "outbound_proxy": {"host": "127.0.0.1", "port": sip_port},
                "settings": {
                    "notify.target": "proxy",
                    "notify.rate": rate,
                    "notify.max_in_flight": in_flight,
                    "notify.jitter_ms": jitter_ms,
                    "notify.delay_seconds": 0,
                    "notify.retries": 1,
                },
            }
        ],
        "phones": [
            {
                "tenant": "acme",
                "mac": f"0004f2{n:06x}",
                "model": "vvx410",
                "lines": [{"user": f"u{n}", "password": f"pw-{n}"}],
            }
            for n in range(phones)
        ],
    }


@contextmanager
def sip_proxy(workdir: Path) -> Iterator[tuple[int, Path]]:
    """sipp answering NOTIFYs with 200 on a free UDP port; yields the port and its message log."""
    port = free_port(socket.SOCK_DGRAM)
    log = workdir / "sipp-messages.log"
    process = subprocess.Popen(
        [need("sipp"), "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(port),
         "-m", "100000", "-trace_msg", "-message_file", str(log), "-nostdin"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield port, log
    finally:
        process.kill()
        process.wait(10)


def _done(c: Cluster) -> list[dict[str, Any]] | None:
    jobs: list[dict[str, Any]] = json.loads(c.cli("jobs", "--json").stdout)
    return jobs if jobs and jobs[0]["state"] == "done" else None


def test_a_paced_job_across_three_nodes_keeps_the_tenants_rate(
    cluster: ClusterFactory, tmp_path: Path
) -> None:
    phones, rate = 240, 30  # 8 s at the tenant's rate; three times that if paced per node
    with sip_proxy(tmp_path) as (sip_port, log):
        c = cluster(fleet(sip_port, phones, rate, 10), "--poll-interval", "0.5")
        c.cli("send-profiles", "--tenant", "acme")
        jobs = eventually(lambda: _done(c), lambda: f"the job is done\n{c.logs()}", 60)
    assert jobs[0]["counts"] == {"ok": phones}, jobs
    notifies = received(log)
    assert len(notifies) == phones
    assert len({n.user for n in notifies}) == phones  # none twice
    assert {n.sender for n in notifies} == {node.sip_port() for node in c.nodes}  # all took part
    measured = (len(notifies) - 1) / (notifies[-1].at - notifies[0].at)
    assert 0.9 * rate <= measured <= 1.1 * rate, f"{measured:.1f}/s for {rate}/s configured"


def test_kill_9_of_one_node_mid_job(cluster: ClusterFactory, tmp_path: Path) -> None:
    """The job completes; no phone gets more than 1 + ``notify.retries`` NOTIFYs (docs/notify.md).

    The node killed is sending at the time. Each send waits up to a second
    (``notify.jitter_ms``) after its target was claimed, so the node dies
    holding leases of targets it claimed and had not sent yet, which the other
    nodes send once the leases run out (``--notify-lease``).
    """
    phones, rate = 120, 20
    with sip_proxy(tmp_path) as (sip_port, log):
        options = ("--poll-interval", "0.5", "--notify-lease", "3")
        c = cluster(fleet(sip_port, phones, rate, 40, jitter_ms=1000), *options)
        c.cli("send-profiles", "--tenant", "acme")
        victim = c.nodes[0]
        victim_port = victim.sip_port()

        def victim_busy() -> bool:
            # Mid-job, with the victim sending: it dies holding leases.
            sent = received(log)
            return len(sent) >= phones // 4 and any(n.sender == victim_port for n in sent)

        eventually(victim_busy, lambda: f"the victim is sending\n{c.logs()}", 30)
        victim.kill()
        assert len(received(log)) < phones, "kill -9 should land mid-job"
        jobs = eventually(lambda: _done(c), lambda: f"the job is done\n{c.logs()}", 90)
    assert jobs[0]["counts"] == {"ok": phones}, jobs
    shown = json.loads(c.cli("jobs", "--show", str(jobs[0]["id"]), "--json").stdout)
    taken_over = [t for t in shown["targets"] if t["attempts"] == 2]
    assert taken_over, "the killed node held no lease: nothing was taken over"
    counts = Counter(n.user for n in received(log))
    assert set(counts) == {f"u{n}" for n in range(phones)}
    assert max(counts.values()) <= 2  # 1 + notify.retries

"""A send-profiles job survives kill -9 of the server and finishes after a restart.

sipp plays the tenant's SIP proxy (notify.target = proxy), answering every
NOTIFY with 200 and logging each one; the server is killed while the paced
job is half sent, then started again. Every phone must be notified, none more
often than its attempts allow (1 + notify.retries).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from tests.peers import free_port, need
from tests.serve_process import run_cli_in_process, serving
from tests.waiting import eventually

SCENARIO = Path(__file__).resolve().parent / "scenarios" / "answer_200.xml"
PHONES = 40
RATE = 10


def fleet(sip_port: int) -> dict[str, object]:
    return {
        "tenants": [
            {
                "name": "acme",
                "sip_domain": "acme.example.com",
                "outbound_proxy": {"host": "127.0.0.1", "port": sip_port},
                "settings": {
                    "notify.target": "proxy",
                    "notify.rate": RATE,
                    "notify.max_in_flight": 5,
                    "notify.jitter_ms": 0,
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
            for n in range(PHONES)
        ],
    }


def test_job_resumes_after_kill_9(tmp_path: Path) -> None:
    sipp = need("sipp")
    sip_port = free_port(socket.SOCK_DGRAM)
    log = tmp_path / "sipp-messages.log"
    phone = subprocess.Popen(
        [
            sipp,
            "-sf",
            str(SCENARIO),
            "-i",
            "127.0.0.1",
            "-p",
            str(sip_port),
            "-m",
            "1000",
            "-trace_msg",
            "-message_file",
            str(log),
            "-nostdin",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    fleet_file = tmp_path / "fleet.json"
    fleet_file.write_text(json.dumps(fleet(sip_port)))
    run_cli_in_process(tmp_path, "init")
    run_cli_in_process(tmp_path, "apply", str(fleet_file))
    options = ("--notify-lease", "2", "--log-level", "warning")
    try:
        with serving(tmp_path, *options) as first:
            run_cli_in_process(tmp_path, "send-profiles", "--tenant", "acme")
            # At RATE a second the job takes PHONES / RATE s: the first NOTIFYs are mid-job.
            eventually(lambda: sum(_notified(log).values()) > 0, "the job is notifying")
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)
        before = _notified(log)
        assert 0 < sum(before.values()) < PHONES, "kill -9 should land mid-job"
        with serving(tmp_path, *options):
            jobs = eventually(lambda: _jobs_once_done(tmp_path), "the job is done", 60)
        assert jobs[0]["state"] == "done", jobs
        assert jobs[0]["counts"] == {"ok": PHONES}
        counts = _notified(log)
        assert set(counts) == {f"u{n}" for n in range(PHONES)}
        assert max(counts.values()) <= 2  # 1 + notify.retries
    finally:
        phone.kill()
        phone.wait(10)


def _jobs_once_done(data_dir: Path) -> list[dict[str, Any]] | None:
    jobs: list[dict[str, Any]] = json.loads(run_cli_in_process(data_dir, "jobs", "--json").stdout)
    return jobs if jobs and jobs[0]["state"] == "done" else None


def _notified(log: Path) -> Counter[str]:
    text = log.read_text() if log.exists() else ""
    received = re.findall(r"message received.*?\n\nNOTIFY sip:(\w+)@", text, re.S)
    return Counter(received)

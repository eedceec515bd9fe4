"""``notify.on_change``: a change queues resync NOTIFYs for exactly the phones whose files changed.

Measured before the redesign: the cache dropped the tenant before telling
the server, which then found no tenant and queued nothing, so the setting
did nothing (no test mentioned it). A real ``provisioner serve`` runs here;
changes are made with the CLI's commands, as an admin would (run in this
process: the server, not the command, is under test), and the jobs are read
back with ``provisioner jobs --json``. ``notify.delay_seconds`` keeps the
targets queued, so which phones were queued can be checked exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.security.gateway_fleet import apply_fleet
from tests.serve_process import run_cli_in_process, serving
from tests.waiting import eventually

SALES = ("0004f2000011", "0004f2000012")
OTHER = "0004f2000013"  # in acme, not in sales
ELSEWHERE = "0004f2000021"  # in a tenant without notify.on_change


def _fleet() -> dict[str, Any]:
    phone = {"model": "vvx410", "lines": [{"user": "100", "password": "sip-secret-100"}]}
    return {
        "tenants": [
            {
                "name": "acme",
                "sip_domain": "acme.example.com",
                "settings": {"notify.on_change": True, "notify.delay_seconds": 600},
            },
            {"name": "quiet", "sip_domain": "quiet.example.com"},
        ],
        "groups": [{"tenant": "acme", "name": "sales"}],
        "phones": [
            *({**phone, "tenant": "acme", "mac": mac, "groups": ["sales"]} for mac in SALES),
            {**phone, "tenant": "acme", "mac": OTHER},
            {**phone, "tenant": "quiet", "mac": ELSEWHERE},
        ],
    }


def _jobs(data: Path) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = json.loads(run_cli_in_process(data, "jobs", "--json").stdout)
    return sorted(jobs, key=lambda j: int(j["id"]))


def _targets(data: Path, job: int) -> dict[str, str]:
    shown = json.loads(run_cli_in_process(data, "jobs", "--show", str(job), "--json").stdout)
    return {t["mac"]: t["state"] for t in shown["targets"]}


def _job_count(data: Path, count: int) -> list[dict[str, Any]] | None:
    jobs = _jobs(data)
    return jobs if len(jobs) >= count else None


def test_changes_queue_resyncs_for_exactly_the_phones_whose_files_changed(
    tmp_path: Path,
) -> None:
    apply_fleet(tmp_path, _fleet())
    with serving(tmp_path, "--poll-interval", "0.2"):
        # A tenant without notify.on_change: nothing, whatever changes.
        run_cli_in_process(tmp_path, "set", "tenant:quiet", "language", "fr")
        # A group setting: the group's phones, and only them.
        run_cli_in_process(tmp_path, "set", "group:acme/sales", "language", "fr")
        (first,) = eventually(lambda: _job_count(tmp_path, 1), "a job for the group change")
        assert first["selector"] == "changes in tenant acme"
        assert first["event"] == "resync"
        assert _targets(tmp_path, int(first["id"])) == dict.fromkeys(SALES, "queued")

        # A change no phone's files show (a server setting): no job. The phone
        # setting after it is the marker that the server has seen both.
        run_cli_in_process(tmp_path, "set", "tenant:acme", "notify.rate", "20")
        run_cli_in_process(tmp_path, "set", f"phone:{OTHER}", "language", "de")
        jobs = eventually(lambda: _job_count(tmp_path, 2), "a job for the phone change")
        assert len(jobs) == 2, jobs
        assert _targets(tmp_path, int(jobs[1]["id"])) == {OTHER: "queued"}

        # A phone already queued is not queued twice: the new job coalesces.
        run_cli_in_process(tmp_path, "set", f"phone:{SALES[0]}", "language", "es")
        jobs = eventually(lambda: _job_count(tmp_path, 3), "a job for the second change")
        assert _targets(tmp_path, int(jobs[2]["id"])) == {SALES[0]: "coalesced"}
        assert _targets(tmp_path, int(first["id"])) == dict.fromkeys(SALES, "queued")
    assert ELSEWHERE not in {
        mac for job in _jobs(tmp_path) for mac in _targets(tmp_path, job["id"])
    }

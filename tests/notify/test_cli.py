"""``provisioner send-profiles``, ``jobs`` and ``notify``: selectors, output, refusals.

No server runs here: jobs are only queued, listed and cancelled (the sending
is tested in test_runner.py and test_kill.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioner.cli import main

FLEET = {
    "tenants": [
        {"name": "acme", "sip_domain": "acme.example.com"},
        {"name": "beta", "sip_domain": "beta.example.com", "settings": {"notify.delay_seconds": 7}},
    ],
    "groups": [{"tenant": "acme", "name": "sales"}],
    "phones": [
        {"tenant": "acme", "mac": "0004f2000001", "model": "vvx410", "groups": ["sales"]},
        {"tenant": "acme", "mac": "0004f2000002", "model": "vvx410"},
        {"tenant": "acme", "mac": "805ec0000003", "model": "t46s", "enabled": False},
        {"tenant": "beta", "mac": "805ec0000004", "model": "t46s"},
    ],
}


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps(FLEET))
    base = ["--data-dir", str(tmp_path)]
    assert main([*base, "init"]) == 0
    assert main([*base, "apply", str(fleet)]) == 0
    capsys.readouterr()
    return base


def jobs(cli: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main([*cli, "jobs", "--json"]) == 0
    result: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return result


@pytest.mark.parametrize(
    ("selector", "total", "label"),
    [
        (["--phone", "00:04:f2:00:00:01"], 1, "phone 0004f2000001"),
        (["--phone", "0004f2000001,805ec0000004"], 2, "phone 0004f2000001,805ec0000004"),
        (["--group", "acme/sales"], 1, "group acme/sales"),
        (["--tenant", "acme"], 2, "tenant acme"),  # the disabled phone is left out
        (["--model", "t46s"], 1, "model t46s"),
    ],
)
def test_selectors(
    cli: list[str],
    capsys: pytest.CaptureFixture[str],
    selector: list[str],
    total: int,
    label: str,
) -> None:
    assert main([*cli, "send-profiles", *selector]) == 0
    assert f"resync for {total} phone(s) in {label}" in capsys.readouterr().out
    (job,) = jobs(cli, capsys)
    assert (job["selector"], job["event"], job["state"]) == (label, "resync", "running")
    assert (job["total"], job["counts"]) == (total, {"queued": total})


def test_restart_and_the_longest_tenant_delay(
    cli: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*cli, "send-profiles", "--phone", "0004f2000001,805ec0000004", "--restart"]) == 0
    out = capsys.readouterr().out
    # Tenant beta's phone waits 7 s (its notify.delay_seconds), so the job does.
    assert "reboot for 2 phone(s)" in out
    assert "starting in 7 s" in out
    (job,) = jobs(cli, capsys)
    assert job["event"] == "reboot"


def test_show_and_cancel(cli: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*cli, "send-profiles", "--tenant", "acme"]) == 0
    capsys.readouterr()
    assert main([*cli, "jobs", "--show", "1"]) == 0
    title, _header, *lines = capsys.readouterr().out.splitlines()
    assert title == "job 1: tenant acme, resync, running"
    rows = [line.split() for line in lines]
    assert [(row[0], row[2]) for row in rows] == [
        ("0004f2000001", "queued"),
        ("0004f2000002", "queued"),
    ]
    assert main([*cli, "jobs", "--cancel", "1"]) == 0
    (job,) = jobs(cli, capsys)
    assert (job["state"], job["counts"]) == ("cancelled", {"cancelled": 2})
    assert main([*cli, "jobs", "--cancel", "1"]) == 1  # no longer running
    assert "no running job 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["send-profiles", "--group", "sales"], "expected TENANT/NAME"),
        (["send-profiles", "--group", "/sales"], "expected TENANT/NAME"),
        (["send-profiles", "--group", "acme/nobody"], "no enabled phones in group acme/nobody"),
        (["send-profiles", "--phone", "805ec0000003"], "no enabled phones"),
        (["send-profiles", "--model", "no-such-model"], "no-such-model"),
        (["jobs", "--show", "9"], "no job 9"),
        (["notify", "0004f2999999"], "no phone with MAC 0004f2999999"),
        (["notify", "0004f2000001"], "has not fetched its files yet"),
        (["notify", "0004f2000001", "--to", "nowhere"], "expected HOST:PORT"),
    ],
)
def test_refusals(
    cli: list[str], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main([*cli, *argv]) == 1
    assert message in capsys.readouterr().err
    assert jobs(cli, capsys) == []

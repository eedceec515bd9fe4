"""``provisioner send-profiles``, ``jobs`` and ``notify``: selectors, output, refusals.

No server runs here: jobs are only queued, listed and cancelled (the sending
is tested in test_runner.py and test_kill.py).
"""

from __future__ import annotations

import functools
import json
import socket
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from provisioner.cli import _notify, main
from provisioner.notify import JobState, TargetState
from provisioner.sip import Notifier
from provisioner.store import JobSummary

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
        (["send-profiles", "--group", "acme/nobody"], "no group acme/nobody (see `provisioner"),
        (["send-profiles", "--group", "nobody/sales"], "no tenant named 'nobody'"),
        (["send-profiles", "--tenant", "nobody"], "no tenant named 'nobody'"),
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


def summary(**counts: int) -> JobSummary:
    state = (
        JobState.RUNNING if counts.get("queued", 0) + counts.get("sending", 0) else JobState.DONE
    )
    return JobSummary(
        1,
        "group acme/sales",
        "resync",
        state,
        0.0,
        None,
        {TargetState(k): v for k, v in counts.items()},
    )


class FakeJobs:
    """Jobs whose one job moves through the given summaries, one per poll (the last repeats)."""

    def __init__(self, *summaries: JobSummary) -> None:
        self.left = list(summaries)

    def summaries(self, job: int) -> list[JobSummary]:
        return [self.left.pop(0) if len(self.left) > 1 else self.left[0]]


@pytest.mark.parametrize("terminal", [False, True])
def test_wait_writes_lines_unless_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], terminal: bool
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    store = FakeJobs(
        summary(queued=2), summary(queued=2), summary(sending=1, queued=1),
        summary(failed=1, ok=1),
    )  # fmt: skip
    ctx = SimpleNamespace(store=SimpleNamespace(jobs=store))
    assert _notify._wait(ctx, 1) == 1  # type: ignore[arg-type]
    out, err = capsys.readouterr()
    assert out == "job 1 done: 1 failed\n"
    bars = [
        "[..............................] 0/2  queued 2",
        "[..............................] 0/2  queued 1, sending 1",
        "[##############################] 2/2  failed 1, ok 1",
    ]
    if terminal:
        assert err == "".join("\r" + bar for bar in bars) + "\n"
    else:
        assert err == "".join(bar + "\n" for bar in bars)  # one line per change, no \r


@pytest.mark.parametrize(
    ("counts", "said"),
    [
        ({"queued": 3}, "nothing sent yet: jobs are sent by `provisioner serve`; is it running?"),
        (
            {"queued": 1, "sending": 2},
            "waiting for 2 phone(s) to answer; one that does not is given up after 32 s",
        ),
        ({"queued": 1, "ok": 2}, "waiting for phones to fetch their files"),
    ],
)
def test_wait_says_what_a_stalled_job_waits_for(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    counts: dict[str, int],
    said: str,
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    monkeypatch.setattr(_notify, "_WAIT_HINT", -1.0)  # no progress for longer than the hint
    store = FakeJobs(summary(**counts), summary(**counts), summary(ok=3))
    assert _notify._wait(SimpleNamespace(store=SimpleNamespace(jobs=store)), 1) == 0  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert f"({said}" in err
    assert err.count("\n(") == 1  # said once


def test_notify_says_what_it_waits_for_before_it_waits(
    cli: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing answers on a port this test holds: the NOTIFY is retried until Timer F.
    fast = functools.partial(Notifier, t1=0.01)  # Timer F 0.64 s
    monkeypatch.setattr("provisioner.cli._notify.Notifier", fast)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        code = main([*cli, "notify", "0004f2000001", "--to", f"127.0.0.1:{port}"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == (
        f"sending NOTIFY (Event: check-sync) to udp:127.0.0.1:{port}; a phone that does not "
        "answer is given up after 32 s\n"
    )
    assert "failed (no answer timeout)" in captured.out

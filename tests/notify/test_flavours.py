"""Every family's check-sync flavour, end to end: ``provisioner notify`` to sipp.

For each family of the catalog one phone is applied from a fleet file and
``provisioner notify MAC --event resync|reboot --to 127.0.0.1:PORT`` is run
against sipp playing the phone. The scenario is written per case so that
sipp itself checks the Event header (and, with a body, its Content-Type and
action) and fails its call otherwise; the message log is checked here too,
byte for byte. A digest challenge is answered with the line's credentials.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from provisioner.catalog import Catalog
from provisioner.cli import main
from tests.peers import free_port, need
from tests.sip._sipp import SCENARIOS, Sipp

MAC = "00aabb000001"
USER, AUTH_USER, PASSWORD = "301", "auth301", "pw-301"

CATALOG = Catalog.load()
# One model of every family: the flavour is the family's, not the model's.
MODELS = {key: family.models[0].id for key, family in CATALOG.families.items()}

_ANSWER = """
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
"""


def _ere(text: str) -> str:
    """``text`` as a POSIX extended regular expression matching it literally."""
    return "".join("\\" + c if c in ".[]{}()*+?^$|\\" else c for c in text)


def scenario(path: Path, event: str, content_type: str | None, body: str) -> Path:
    """A UAS scenario that answers 200 only after checking the flavour."""
    checks = [
        f'<ereg regexp="^ *{_ere(event)} *$" search_in="hdr" header="Event:" '
        'check_it="true" assign_to="event"/>'
    ]
    names = ["event"]
    if content_type:
        checks.append(
            f'<ereg regexp="^ *{_ere(content_type)} *$" search_in="hdr" header="Content-Type:" '
            'check_it="true" assign_to="ctype"/>'
        )
        action = body.split("\r\n", 1)[0]
        checks.append(
            f'<ereg regexp="^{_ere(action)}[[:space:]]" search_in="body" '
            'check_it="true" assign_to="act"/>'
        )
        names += ["ctype", "act"]
    path.write_text(
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        '<scenario name="check-sync flavour">\n'
        '  <recv request="NOTIFY" timeout="10000">\n'
        f"    <action>{''.join(checks)}</action>\n"
        "  </recv>\n"
        f'  <Reference variables="{",".join(names)}"/>\n'
        f"{_ANSWER}</scenario>\n"
    )
    return path


def apply_fleet(data_dir: Path, model: str) -> None:
    fleet = {
        "tenants": [{"name": "acme", "sip_domain": "acme.example.com"}],
        "phones": [
            {
                "tenant": "acme",
                "mac": MAC,
                "model": model,
                "lines": [{"user": USER, "auth_user": AUTH_USER, "password": PASSWORD}],
            }
        ],
    }
    path = data_dir / "fleet.json"
    path.write_text(json.dumps(fleet))
    assert main(["--data-dir", str(data_dir), "init"]) == 0
    assert main(["--data-dir", str(data_dir), "apply", str(path)]) == 0


def run_notify(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    scenario_path: Path,
    event: str,
    args: tuple[str, ...] = (),
) -> tuple[int, dict[str, Any], Sipp]:
    """``provisioner notify`` against sipp running ``scenario_path``."""
    program = need("sipp")
    port = free_port(socket.SOCK_DGRAM)
    capsys.readouterr()
    argv = ["--data-dir", str(tmp_path), "notify", MAC, "--event", event]
    argv += ["--to", f"127.0.0.1:{port}", "--json"]

    async def body() -> tuple[int, Sipp]:
        phone = Sipp(program, str(scenario_path), port, tmp_path / "sipp", args=args, trace=True)
        async with phone:
            # The CLI runs its own event loop, so it gets a thread of its own.
            code = await asyncio.to_thread(main, argv)
        return code, phone

    code, phone = asyncio.run(body())
    return code, json.loads(capsys.readouterr().out), phone


def _header(message: str, name: str) -> str:
    for line in message.splitlines():
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} header in {message!r}")


@pytest.mark.parametrize("event", ["resync", "reboot"])
@pytest.mark.parametrize("family_id", sorted(MODELS))
def test_flavour_reaches_the_phone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], family_id: str, event: str
) -> None:
    cs = CATALOG.families[family_id].check_sync
    expected_event = cs.reboot if event == "reboot" else cs.resync
    expected_body = cs.reboot_body if event == "reboot" else cs.resync_body
    apply_fleet(tmp_path, MODELS[family_id])
    path = scenario(tmp_path / "flavour.xml", expected_event, cs.content_type, expected_body)

    code, result, phone = run_notify(tmp_path, capsys, path, event)

    assert phone.returncode == 0, phone.report()  # sipp's own checks passed
    assert code == 0, result
    assert (result["ok"], result["status"], result["event"]) == (True, 200, expected_event)
    assert result["request_uri"] == f"sip:{USER}@127.0.0.1:{result['to'].rsplit(':', 1)[1]}"
    # sipp's log ends lines with LF alone; Content-Length counts what was sent.
    notify = phone.messages[phone.messages.index("NOTIFY sip:") :].split("\n-----", 1)[0]
    assert _header(notify, "Event") == expected_event
    head, _, rest = notify.partition("\n\n")
    assert _header(head, "Content-Length") == str(len(expected_body.encode()))
    assert rest.startswith(expected_body.replace("\r\n", "\n"))
    if cs.content_type:
        assert _header(head, "Content-Type") == cs.content_type


@pytest.mark.parametrize(
    ("family_id", "wanted"),
    [("yealink/tseries", "reboot"), ("cisco/sip79x1", "reboot"), ("cisco/sip79x1", "resync")],
)
def test_scenario_refuses_the_wrong_flavour(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], family_id: str, wanted: str
) -> None:
    """The generated checks bite: sipp fails its call when sent the other event.

    For Cisco 79x1 both events are ``service-control``: only the body's
    action (restart or reset) tells them apart.
    """
    cs = CATALOG.families[family_id].check_sync
    event, body = (cs.reboot, cs.reboot_body) if wanted == "reboot" else (cs.resync, cs.resync_body)
    apply_fleet(tmp_path, MODELS[family_id])
    path = scenario(tmp_path / "flavour.xml", event, cs.content_type, body)
    other = "resync" if wanted == "reboot" else "reboot"
    _, _, phone = run_notify(tmp_path, capsys, path, other)
    assert phone.returncode != 0


def test_digest_challenge_answered_with_the_line_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_fleet(tmp_path, MODELS["polycom/ucs"])
    challenge = 'Digest realm="acme.example.com", nonce="b10c7e", qop="auth", algorithm=MD5'
    keys = ("-key", "challenge", challenge, "-key", "user", AUTH_USER, "-key", "password", PASSWORD)
    code, result, phone = run_notify(tmp_path, capsys, SCENARIOS / "auth.xml", "resync", keys)
    assert phone.returncode == 0, phone.report()
    assert code == 0, result
    assert (result["ok"], result["status"], result["transactions"]) == (True, 200, 2)

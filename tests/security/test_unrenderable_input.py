"""Text no output format can carry is refused at write time, by the ``provisioner`` command.

U+FFFF used to be stored and then broke every XML family's files (the phone
kept stale files, or got none); a lone surrogate (a JSON ``"\\ud800"``, or an
argument that was not UTF-8) ended in a traceback from the database driver.
Now each is one line naming the field and the character, and nothing is stored.
Text the server records from requests is kept, made storable.

Text that reaches the command as bytes (an argument or standard input that is
not UTF-8) goes through a real ``provisioner`` process, whose decoding is the
point; the other refusals are the same code in any process, so the command
runs in the test's (``run_cli_in_process``: no interpreter start-up each).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers import fetch_with_curl
from tests.serve_process import provisioner, run_cli, run_cli_in_process, serving
from tests.waiting import eventually

POLYCOM = "0004f2000001"
YEALINK = "001565000001"
USAGE = 2  # exit status of a usage error


def base_fleet() -> dict[str, Any]:
    line = {"user": "201", "password": "pw-201", "display_name": "Alice", "label": "A"}
    return {
        "tenants": [{"name": "acme", "sip_domain": "acme.example.com"}],
        "phones": [
            {"tenant": "acme", "mac": POLYCOM, "model": "vvx410", "lines": [line]},
            {"tenant": "acme", "mac": YEALINK, "model": "t48s", "lines": [dict(line, user="301")]},
        ],
    }


@dataclass(frozen=True)
class Base:
    """A data directory holding the base fleet, and what export-fleet says of it."""

    data_dir: Path
    exported: str


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("base")
    data = root / "var"
    run_cli_in_process(data, "init")
    fleet = root / "base.json"
    fleet.write_text(json.dumps(base_fleet()))
    run_cli_in_process(data, "apply", str(fleet))
    return Base(data, export(data))


@pytest.fixture
def data_dir(base: Base, tmp_path: Path) -> Path:
    """A copy of the base data directory (SQLite), for one test to try to change."""
    return Path(shutil.copytree(base.data_dir, tmp_path / "var"))


def export(data_dir: Path) -> str:
    """What ``export-fleet`` says; a check of what is stored, so run in this process."""
    return run_cli_in_process(data_dir, "export-fleet").stdout


def assert_refused(result: subprocess.CompletedProcess[str], status: int, *names: str) -> None:
    """Refused with ``status``: one error line naming each of ``names``, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == status, result.stderr
    lines = result.stderr.splitlines()
    errors = [line for line in lines if "error:" in line]
    assert errors == [lines[-1]], result.stderr
    # Only argparse's usage reminder may come before it.
    assert all(line.startswith(("usage:", " ")) for line in lines[:-1]), result.stderr
    for name in names:
        assert name in errors[0], (name, errors[0])


def assert_renders(data_dir: Path, tmp_path: Path) -> None:
    result = run_cli_in_process(data_dir, "render", "--out", str(tmp_path / "tree"))
    assert "render error" not in result.stderr + result.stdout
    assert (tmp_path / "tree" / f"{POLYCOM}-settings.cfg").is_file()


@pytest.mark.parametrize(
    ("scope", "setting"),
    [
        (f"phone:{POLYCOM}", "raw.polycom.up.welcome"),
        (f"phone:{YEALINK}", "raw.yealink.features.welcome"),
        ("tenant:acme", "raw.ciscompp.Station_Name"),
    ],
)
def test_uffff_via_set(
    base: Base, data_dir: Path, tmp_path: Path, scope: str, setting: str
) -> None:
    result = run_cli_in_process(data_dir, "set", scope, setting, "hi\uffff", check=False)
    assert_refused(result, 1, f"setting {setting} at {scope}", "U+FFFF at position 2")
    assert export(data_dir) == base.exported
    assert_renders(data_dir, tmp_path)


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (["line", "set", POLYCOM, "1", "--display-name", "Eve\uffff"], "display name"),
        (["line", "add", POLYCOM, "--user", "202", "--label", "L\ufffe"], "label"),
        (["phone", "set", POLYCOM, "--description", "desk\uffff"], "description"),
        (["tenant", "set", "acme", "--description", "\uffff"], "description"),
    ],
)
def test_uffff_in_entity_fields(base: Base, data_dir: Path, command: list[str], field: str) -> None:
    result = run_cli_in_process(data_dir, *command, check=False)
    assert_refused(result, 1, f"{field}: U+FF")
    assert export(data_dir) == base.exported


def test_uffff_via_apply_toml(base: Base, data_dir: Path, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        '[[tenants]]\nname = "acme"\nsip_domain = "acme.example.com"\n'
        f'[[phones]]\ntenant = "acme"\nmac = "{POLYCOM}"\nmodel = "vvx410"\n'
        '[[phones.lines]]\nuser = "201"\ndisplay_name = "Alice\\uFFFF"\n'
    )
    result = run_cli_in_process(data_dir, "apply", str(fleet), check=False)
    assert_refused(result, 1, "phones[0].lines[0]: display name", "U+FFFF at position 5")
    assert export(data_dir) == base.exported
    assert_renders(data_dir, tmp_path)


def test_uffff_via_apply_json(base: Base, data_dir: Path, tmp_path: Path) -> None:
    document = base_fleet()
    document["phones"][1]["settings"] = {"raw.yealink.features.welcome": "\uffff"}
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps(document))  # ASCII: the character as a \uffff escape
    result = run_cli_in_process(data_dir, "apply", str(fleet), check=False)
    assert_refused(result, 1, "phones[1]", "raw.yealink.features.welcome", "U+FFFF")
    assert export(data_dir) == base.exported


def test_lone_surrogate_in_json_fleet(base: Base, data_dir: Path, tmp_path: Path) -> None:
    document = base_fleet()
    document["phones"][0]["lines"][0]["display_name"] = "Alice\ud800"
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps(document))  # json.dumps writes the escape "\ud800"
    result = run_cli_in_process(data_dir, "apply", str(fleet), check=False)
    assert_refused(result, USAGE, "phones[0].lines[0].display_name", "U+D800 at position 5")
    assert export(data_dir) == base.exported


def test_encoded_surrogate_in_json_fleet(base: Base, data_dir: Path, tmp_path: Path) -> None:
    # The three bytes a careless encoder writes for U+D800 (CESU-8): not UTF-8.
    fleet = tmp_path / "fleet.json"
    fleet.write_bytes(json.dumps(base_fleet()).encode().replace(b"Alice", b"Alice\xed\xa0\x80", 1))
    offset = fleet.read_bytes().index(b"\xed")
    result = run_cli_in_process(data_dir, "apply", str(fleet), check=False)
    assert_refused(result, USAGE, f"not valid UTF-8 at byte {offset} (0xED")
    assert export(data_dir) == base.exported


# "\udcff" is how Python spells the byte 0xFF of an argument that is not UTF-8
# (PEP 383); subprocess turns it back into that byte for the child.
@pytest.mark.parametrize(
    ("command", "argument"),
    [
        (["phone", "add", "0004f2000002", "--tenant", "acme", "--model", "vvx410",
          "--description", "\udcff"], "--description"),
        (["line", "add", POLYCOM, "--user", "202", "--display-name", "Bob\udcff"],
         "--display-name"),
        (["set", f"phone:{POLYCOM}", "raw.polycom.up.welcome", "a\udcffb"], "VALUE"),
        (["tenant", "add", "acme\udcff", "--sip-domain", "a.example.com"], "name"),
    ],
)  # fmt: skip
def test_invalid_utf8_argument(
    base: Base, data_dir: Path, command: list[str], argument: str
) -> None:
    result = run_cli(data_dir, *command, check=False)
    assert_refused(result, USAGE, f"argument {argument}:", "not valid UTF-8", "(0xFF")
    assert export(data_dir) == base.exported


def test_invalid_utf8_password_on_stdin(base: Base, data_dir: Path) -> None:
    result = subprocess.run(
        provisioner(data_dir, "line", "set", POLYCOM, "1", "--password-stdin"),
        input=b"secret\xff\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    decoded = subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )
    assert_refused(decoded, USAGE, "--password-stdin", "byte 6 (0xFF")
    assert export(data_dir) == base.exported


def test_request_text_that_is_not_utf8_is_still_recorded(data_dir: Path) -> None:
    # A User-Agent may carry any bytes (aiohttp hands them over as surrogates):
    # one such request used to fail the whole batch of seen records, every
    # flush, and the quarantine of the device it came from.
    run_cli_in_process(data_dir, "set", "tenant:acme", "unknown.policy", "quarantine")
    odd = "Yealink SIP-T48S 66.86.0.15 \udcff\udcfe"  # bytes 0xFF 0xFE on the wire
    with serving(data_dir, "--poll-interval", "0.2") as server:
        base = f"http://127.0.0.1:{server.http}"
        assert fetch_with_curl("-A", odd, f"{base}/001565abcdef.cfg")[0] == 404
        assert fetch_with_curl("-A", "plain", f"{base}/other.cfg")[0] == 404

        def recorded() -> dict[str, Any] | None:
            listed: dict[str, Any] = json.loads(
                run_cli_in_process(data_dir, "seen", "--unknown", "--json").stdout
            )
            paths = {entry["path"] for entry in listed["seen"]}
            return listed if {"001565abcdef.cfg", "other.cfg"} <= paths else None

        listed = eventually(recorded, "both requests are in the seen records", 30)
        paths = {entry["path"] for entry in listed["seen"]}
        log = server.log.read_text()
    assert "background_error" not in log, log
    assert "Traceback" not in log, log
    assert {"001565abcdef.cfg", "other.cfg"} <= paths
    seen = next(e for e in listed["seen"] if e["path"] == "001565abcdef.cfg")
    assert seen["user_agent"] == "Yealink SIP-T48S 66.86.0.15 \ufffd\ufffd"
    (pending,) = listed["pending"]
    assert (pending["mac"], pending["user_agent"]) == ("001565abcdef", seen["user_agent"])

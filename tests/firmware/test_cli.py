"""``provisioner firmware`` and ``provisioner rollout`` from the command line (no server)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from provisioner.cli import main

ROM_MAGIC = bytes.fromhex("ad24ec0b")  # how every Yealink .rom starts (the family's magic)
FLEET = {
    "tenants": [{"name": "acme", "sip_domain": "acme.example.com"}],
    "groups": [{"tenant": "acme", "name": "pilot"}],
    "phones": [
        {"tenant": "acme", "mac": f"805ec000000{i}", "model": "t46s", "groups": ["pilot"]}
        for i in range(3)
    ],
}


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    base = ["--data-dir", str(tmp_path)]
    (tmp_path / "fleet.json").write_text(json.dumps(FLEET))
    assert main([*base, "init"]) == 0
    assert main([*base, "apply", str(tmp_path / "fleet.json")]) == 0
    with zipfile.ZipFile(tmp_path / "t46s.zip", "w") as archive:
        archive.writestr("T46S(T48S,T42S,T41S)-66.86.0.20.rom", ROM_MAGIC + b"image" * 99 + b"!")
    capsys.readouterr()
    return base


def out(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


def test_firmware_commands(
    cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upload = str(tmp_path / "t46s.zip")
    assert main([*cli, "firmware", "upload", upload, "--vendor", "yealink", "--label", "r2",
                 "--description", "T4x 86"]) == 0  # fmt: skip
    assert "yealink set r2: 1 file(s), 500 B, version 66.86.0.20, inactive" in out(capsys)
    assert main([*cli, "firmware", "list", "--json"]) == 0
    (listed,) = json.loads(out(capsys))
    assert (listed["label"], listed["active"], listed["description"]) == ("r2", False, "T4x 86")
    assert listed["files"][0]["served_at"] == "fw/yealink/r2/T46S(T48S,T42S,T41S)-66.86.0.20.rom"
    assert main([*cli, "firmware", "activate", "yealink", "r2"]) == 0
    assert out(capsys) == "yealink set r2 activated\n"
    assert main([*cli, "set", "group:acme/pilot", "firmware.label", "r2"]) == 0
    assert main([*cli, "firmware", "show", "yealink", "r2", "--json"]) == 0
    capsys.readouterr()
    assert main([*cli, "firmware", "show", "yealink", "r2"]) == 0
    assert "selected by: group acme/pilot" in out(capsys)
    assert main([*cli, "firmware", "rm", "yealink", "r2"]) == 1
    assert "is active; deactivate it first" in capsys.readouterr().err
    assert main([*cli, "firmware", "deactivate", "yealink", "r2"]) == 0
    assert main([*cli, "firmware", "rm", "yealink", "r2"]) == 0
    captured = capsys.readouterr()
    assert "yealink set r2 removed" in captured.out
    assert "firmware settings still name 'r2' at: group acme/pilot" in captured.err
    assert main([*cli, "firmware", "list", "--json"]) == 0
    assert json.loads(out(capsys)) == []


def test_upload_refusals(
    cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as archive:
        archive.writestr("../evil.cfg", b"x")
    assert main([*cli, "firmware", "upload", str(tmp_path / "evil.zip"), "--vendor", "polycom",
                 "--label", "x"]) == 1  # fmt: skip
    assert "../evil.cfg" in capsys.readouterr().err
    assert main([*cli, "firmware", "upload", str(tmp_path / "none.zip"), "--vendor", "polycom",
                 "--label", "x"]) == 1  # fmt: skip
    assert "none.zip: no such file" in capsys.readouterr().err
    assert not any((tmp_path / "firmware").iterdir())


def test_rollout_commands(
    cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upload = str(tmp_path / "t46s.zip")
    assert main([*cli, "firmware", "upload", upload, "--vendor", "yealink", "--label", "r2",
                 "--activate"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main([*cli, "rollout", "start", "--vendor", "yealink", "--label", "r2",
                 "--group", "acme/pilot", "--canary", "2", "--threshold", "50"]) == 0  # fmt: skip
    assert out(capsys).startswith(
        "rollout 1: yealink r2 to group acme/pilot: 3 phone(s) in waves of 2, x2, 50% must come "
        "back within 15 min; skipped 0"
    )
    assert main([*cli, "rollout", "list", "--json"]) == 0
    (listed,) = json.loads(out(capsys))
    assert (listed["state"], listed["wave"], listed["counts"]) == ("running", 0, {"pending": 3})
    assert main([*cli, "rollout", "halt", "1"]) == 0
    assert out(capsys) == "rollout 1 halted; pinned phones keep r2\n"
    assert main([*cli, "rollout", "status", "1"]) == 0
    lines = out(capsys).splitlines()
    assert lines[0] == (
        "rollout 1: yealink r2 to group acme/pilot, halted, wave 0 — halted by hand"
    )
    assert lines[1] == "pending 3"
    assert main([*cli, "rollout", "status", "1", "--json"]) == 0
    assert json.loads(out(capsys))["reason"] == "halted by hand"
    assert main([*cli, "rollout", "halt", "1"]) == 1
    assert main([*cli, "rollout", "resume", "1"]) == 0
    assert out(capsys) == "rollout 1 running again; 0 failed phone(s) of its wave waited for\n"
    assert main([*cli, "rollout", "resume", "1"]) == 1
    assert "no halted rollout 1" in capsys.readouterr().err
    assert main([*cli, "rollout", "halt", "1"]) == 0
    capsys.readouterr()
    assert main([*cli, "rollout", "start", "--vendor", "yealink", "--label", "r2",
                 "--group", "acme/pilot", "--threshold", "150"]) == 1  # fmt: skip
    assert "threshold must be in (0, 1]" in capsys.readouterr().err
    assert main([*cli, "rollout", "status", "9"]) == 1
    assert "no rollout 9" in capsys.readouterr().err


def test_a_label_no_active_set_has_is_set_with_a_warning(
    cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def set_label(label: str) -> str:
        assert main([*cli, "set", "group:acme/pilot", "firmware.label", label]) == 0
        captured = capsys.readouterr()
        assert captured.out == "firmware.label set at group:acme/pilot\n"
        return captured.err

    assert set_label("nosuch") == (
        "warning: no firmware set is labelled 'nosuch' (labels: none yet); phones are told to "
        "change firmware only once a set of that label is uploaded and activated\n"
    )
    upload = str(tmp_path / "t46s.zip")
    assert main([*cli, "firmware", "upload", upload, "--vendor", "yealink", "--label", "r2"]) == 0
    capsys.readouterr()
    assert "(labels: r2)" in set_label("r3")
    assert set_label("r2") == (
        "warning: the firmware set labelled 'r2' (yealink) is not active: phones are pointed at "
        "it once it is (`provisioner firmware activate VENDOR r2`)\n"
    )
    assert main([*cli, "firmware", "activate", "yealink", "r2"]) == 0
    capsys.readouterr()
    assert set_label("r2") == ""
    # apply warns the same way, once per label the file sets.
    tenant = {
        "name": "acme",
        "sip_domain": "acme.example.com",
        "settings": {"firmware.label": "r9"},
    }
    fleet = dict(FLEET, tenants=[tenant])
    (tmp_path / "fleet.json").write_text(json.dumps(fleet))
    capsys.readouterr()
    assert main([*cli, "apply", str(tmp_path / "fleet.json")]) == 0
    assert capsys.readouterr().err == (
        "warning: no firmware set is labelled 'r9' (labels: r2); phones are told to change "
        "firmware only once a set of that label is uploaded and activated\n"
    )


def test_a_file_that_is_not_an_image_of_the_vendor_is_refused(
    cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "T46S(T48S,T42S,T41S)-66.86.0.20.rom"
    text.write_text("hello, I am a text file\n")
    empty = tmp_path / "T46S-66.86.0.21.rom"
    empty.write_bytes(b"")
    for upload, head in ((text, "68 65 6c 6c"), (empty, "nothing (it is empty)")):
        argv = ["firmware", "upload", str(upload), "--vendor", "yealink", "--label", "r2"]
        assert main([*cli, *argv]) == 1
        assert capsys.readouterr().err == (
            f"error: {upload.name} is not a yealink firmware image: every yealink .rom file "
            f"starts with the bytes ad 24 ec 0b, this one with {head}; nothing was stored "
            "(--unmanaged uploads device files unchecked)\n"
        )
    assert main([*cli, "firmware", "list", "--json"]) == 0
    assert json.loads(out(capsys)) == []
    assert [p.name for p in (tmp_path / "firmware").iterdir()] == []
    # Unmanaged files are device files of any kind: not checked.
    argv = ["firmware", "upload", str(text), "--vendor", "yealink", "--label", "r3"]
    assert main([*cli, *argv, "--unmanaged"]) == 0

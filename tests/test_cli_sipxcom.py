"""``provisioner import-csv`` and ``export-csv`` via main(): report, dry run, errors, files."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.cli._sipxcom import _progress
from provisioner.sipxcom_csv import HEADER

ROOT = Path(__file__).resolve().parent.parent
Run = Callable[..., tuple[int, str, str]]
HEAD = ",".join(HEADER)
PAD = "," * 48  # the columns after "Phone description"


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    data = ["--data-dir", str(tmp_path / "var")]
    assert main([*data, "init"]) == 0
    assert main([*data, "apply", str(ROOT / "examples" / "demo-fleet.toml")]) == 0
    capsys.readouterr()

    def invoke(*args: str) -> tuple[int, str, str]:
        code = main([*data, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def test_export_import_round_trip_and_dry_run(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "demo.csv"
    assert run("export-csv", "--tenant", "demo", "--out", str(out)) == (0, "", "")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600  # it holds SIP passwords
    exported = out.read_bytes()
    assert exported.startswith(HEAD.encode() + b"\r\n")
    rows = exported.count(b"\n") - 1
    assert run("import-csv", str(out), "--tenant", "demo") == (
        0,
        f"{rows} rows read\nno changes\n",
        "",
    )
    new = tmp_path / "new.csv"
    new.write_text(
        f"{HEAD}\nnina,,4711,Nina-pw-1,Nina,New,,,,0004f2abcdef,polycomVVX410,imported,{PAD}\n"
    )
    code, text, err = run("import-csv", str(new), "--tenant", "demo", "--dry-run")
    assert (code, err) == (0, "")
    assert "phone 0004f2abcdef (tenant demo)" in text
    assert "Nina-pw-1" not in text  # masked in the diffs
    assert "dry run, nothing stored: 1 phone(s) would change" in text
    assert "groups that would be created: imported" in text
    assert "columns kept with the users, not used by provisioner: Voicemail PIN" in text
    code, text, _ = run("export-csv", "--tenant", "demo")
    assert "nina" not in text
    code, text, _ = run("import-csv", str(new), "--tenant", "demo")
    assert code == 0
    assert "phone created: 1\n" in text
    assert "sip user created: 1\n" in text
    assert "groups that were created: imported" in text
    code, text, _ = run("export-csv", "--tenant", "demo")
    assert "nina,,4711,Nina-pw-1,Nina,New,,,,0004f2abcdef,polycomVVX410,imported,," in text


def test_a_bad_file_names_every_row_and_column(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEAD}\nbob,,,,,,,,,zz:zz,vvx410,,{PAD}\ncarol,,,,,,,,,0004f2000009,,,{PAD}\n")
    code, out, err = run("import-csv", str(bad), "--tenant", "demo")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "error: 2 problems:",
        "  row 2, column \"Phone serial number\": invalid MAC address 'zz:zz': expected "
        "aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff or 12 hex digits",
        '  row 3, column "Phone model": phone 0004f2000009 is new: its model is needed',
    ]
    assert run("import-csv", str(tmp_path / "none.csv"), "--tenant", "demo")[2] == (
        f"error: {tmp_path / 'none.csv'}: no such file\n"
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only() -> None:
    assert _progress(io.StringIO()) is None  # a pipe or a log gets none
    terminal = _Terminal()
    show = _progress(terminal)
    assert show is not None
    show("reading", 1000, 5000)
    assert terminal.getvalue() == "\rreading: 1000/5000 rows "

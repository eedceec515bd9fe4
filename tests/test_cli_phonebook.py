"""``provisioner phonebook``: import, list, show, export, rm via main(), errors on one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.cli import main

ROOT = Path(__file__).resolve().parent.parent
Run = Callable[..., tuple[int, str, str]]


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


def test_import_show_export_and_remove(run: Run, tmp_path: Path) -> None:
    book = tmp_path / "sales.csv"
    book.write_text("first_name,last_name,work\nAlice,Smith,+1 555 0100\n")
    assert run("phonebook", "import", "sales", str(book), "--tenant", "demo") == (
        0,
        "phonebook demo/sales created: 1 entries\n",
        "",
    )
    code, out, _ = run("phonebook", "list", "--tenant", "demo", "--json")
    assert (code, json.loads(out)) == (0, [{"name": "sales", "description": "", "entries": 1}])
    code, out, _ = run("phonebook", "show", "sales", "--tenant", "demo", "--json")
    assert json.loads(out)["entries"] == [
        {
            "first_name": "Alice",
            "last_name": "Smith",
            "organisation": "",
            "numbers": {"work": "+15550100"},
        }
    ]
    code, out, _ = run("phonebook", "export", "sales", "--tenant", "demo", "--format", "vcard")
    assert out == (
        "BEGIN:VCARD\r\nVERSION:4.0\r\nN:Smith;Alice;;;\r\nFN:Alice Smith\r\n"
        "TEL;VALUE=uri;TYPE=work:tel:+15550100\r\nEND:VCARD\r\n"
    )
    assert run("set", "group:demo/office", "phonebooks", "sales")[0] == 0
    code, _, err = run("phonebook", "rm", "sales", "--tenant", "demo")
    assert (code, err) == (
        1,
        "error: phonebook 'sales' is still given to phones by the phonebooks setting of "
        "group office: remove it there first\n",
    )
    assert run("unset", "group:demo/office", "phonebooks")[0] == 0
    assert (
        run("phonebook", "remove", "sales", "--tenant", "demo")[1]
        == "phonebook demo/sales removed\n"
    )


def test_a_bad_file_is_one_error_naming_the_line(run: Run, tmp_path: Path) -> None:
    book = tmp_path / "bad.vcf"
    book.write_text("BEGIN:VCARD\nVERSION:2.1\nEND:VCARD\n")
    code, out, err = run("phonebook", "import", "x", str(book), "--tenant", "demo")
    assert (code, out) == (1, "")
    assert err == "error: card at line 1, line 2: VERSION 2.1: only vCard 3.0 and 4.0 are read\n"
    assert run("phonebook", "list", "--tenant", "demo")[1] == "NAME  ENTRIES  DESCRIPTION\n"


def test_setting_an_unknown_phonebook_is_refused(run: Run) -> None:
    code, _, err = run("set", "group:demo/office", "phonebooks", "nosuch")
    assert code == 1
    assert "group:demo/office: phonebooks: tenant demo has no phonebook nosuch" in err


def test_apply_reads_a_phonebook_file_beside_the_fleet_file(run: Run, tmp_path: Path) -> None:
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "s.csv").write_text("first_name,work\nAnn,+4930123456\n")
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        '[[tenants]]\nname = "acme"\nsip_domain = "acme.example.com"\n\n'
        '[[phonebooks]]\ntenant = "acme"\nname = "suppliers"\nfile = "books/s.csv"\n'
    )
    code, out, _ = run("apply", "--dry-run", str(fleet))
    assert code == 0, out
    assert out.endswith("dry run, nothing stored: 0 phone(s) would change\n")
    assert run("phonebook", "list", "--tenant", "acme")[0] != 0  # no tenant, no book
    code, out, _ = run("apply", str(fleet))
    assert code == 0
    assert "phonebook acme/suppliers: created (1 entries)\n" in out
    assert "phonebook created: 1\n" in out
    assert "Ann" in run("phonebook", "show", "suppliers", "--tenant", "acme")[1]
    exported = tmp_path / "all.toml"
    assert run("export-fleet", "--out", str(exported))[0] == 0
    assert 'first_name = "Ann"' in exported.read_text("utf-8")
    assert run("apply", str(exported))[1] == "no changes\n"

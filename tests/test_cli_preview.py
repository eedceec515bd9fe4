"""``set``, ``unset`` and ``apply`` with ``--dry-run``: diffs printed, nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.pipeline import render_snapshot
from provisioner.store import Store
from tests.api.test_preview import dump
from tests.test_masking import spellings

ROOT = Path(__file__).resolve().parent.parent
MAC = "0004f2123456"

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(store: Store, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """The command line on the test's database (both backends), with the demo fleet."""

    def invoke(*args: str) -> tuple[int, str, str]:
        code = main(["--data-dir", str(tmp_path / "var"), "--db", db_url, *args])
        out, err = capsys.readouterr()
        return code, out, err

    assert invoke("init")[0] == 0
    assert invoke("apply", str(ROOT / "examples" / "demo-fleet.toml"))[0] == 0
    return invoke


def _files(store: Store) -> dict[str, bytes]:
    result = render_snapshot(store.tenants.catalog, store.tenants.snapshot(), shared=False)
    return {f.path: f.data for f in result.phones[MAC]}


def test_set_dry_run_prints_the_diff_and_stores_nothing(run: Run, store: Store) -> None:
    before, files = dump(store), _files(store)
    code, out, err = run("set", "group:demo/office", "language", "fr", "--dry-run")
    assert (code, err) == (0, "")
    assert f"phone {MAC} (tenant demo)\n" in out
    assert out.endswith("phone(s) would change\n")
    assert dump(store) == before
    # The diff printed is the one between the files before and after the real change.
    assert run("set", "group:demo/office", "language", "fr")[0] == 0
    after = _files(store)
    changed = [name for name in files if files[name] != after[name]]
    assert changed
    for name in changed:
        assert f"--- a/{name}\n+++ b/{name}\n" in out
        removed = set(files[name].decode().splitlines()) - set(after[name].decode().splitlines())
        for line in removed:
            if "password" not in line.lower():
                assert f"\n-{line}\n" in out
    code, out, _ = run("audit", "--json")
    entries = json.loads(out)["items"]
    assert [e["dry_run"] for e in entries if e["action"] == "setting.set"][:2] == [False, True]


def test_unset_and_apply_dry_run(run: Run, store: Store, tmp_path: Path) -> None:
    before = dump(store)
    code, out, _ = run("unset", "group:demo/office", "language", "--dry-run")
    assert code == 0
    assert f"phone {MAC}" in out
    fleet = (ROOT / "examples" / "demo-fleet.toml").read_text()
    changed = tmp_path / "fleet.toml"
    changed.write_text(fleet.replace('description = "Reception"', 'description = "Front desk"'))
    code, out, _ = run("apply", str(changed), "--dry-run")
    assert code == 0
    assert out.endswith("dry run, nothing stored: 0 phone(s) would change\n")  # not in files
    changed.write_text(fleet.replace('"language" = "de"', '"language" = "fr"'))
    code, out, _ = run("apply", str(changed), "--dry-run")
    assert code == 0
    assert f"phone {MAC} (tenant demo)" in out
    assert "Reception-200-pw" not in out  # secrets masked
    broken = tmp_path / "broken.toml"
    broken.write_text(fleet.replace('"language" = "de"', '"language" = "xx-nope"'))
    code, out, err = run("apply", str(broken), "--dry-run")
    assert code == 1
    assert err.startswith("error: ")
    assert "language" in err
    assert out == "dry run, nothing stored: would be refused\n"
    assert dump(store) == before


@pytest.mark.parametrize("model", ["cisco7960", "vvx410", "t46s", "SPA504G"])
def test_a_new_phones_diff_holds_no_spelling_of_a_hostile_secret(
    run: Run, tmp_path: Path, model: str
) -> None:
    # A new phone's files are diffed whole (from /dev/null): every secret's line is shown.
    # What writes accept (no quotes, spaces or backslashes: validate.check_credential and
    # the setting's pattern); tests/test_masking.py renders those too.
    password, admin = "a&b<c>%41;=x", "y>&lt;%2F&#38;!"
    fleet = (ROOT / "examples" / "demo-fleet.toml").read_text()
    added = tmp_path / "fleet.toml"
    added.write_text(
        fleet
        + f'\n[[phones]]\ntenant = "demo"\nmac = "00:0d:28:99:88:77"\nmodel = "{model}"\n'
        + f'settings = {{ "device.admin_password" = {json.dumps(admin)} }}\n'
        + f'\n[[phones.lines]]\nuser = "299"\npassword = {json.dumps(password)}\n'
    )
    code, out, err = run("apply", str(added), "--dry-run")
    assert (code, err) == (0, "")
    assert "phone 000d28998877 (tenant demo)" in out
    assert "********" in out
    leaked = [s for s in spellings(password) | spellings(admin) if s in out]
    assert not leaked

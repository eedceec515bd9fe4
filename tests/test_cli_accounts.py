"""``provisioner user``: web UI accounts from the command line (provisioner/cli/_accounts.py)."""

from __future__ import annotations

import io
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.accounts import Accounts
from provisioner.catalog import Catalog
from provisioner.store import AuditQuery, Store
from tests.serve_process import run_cli_in_process


@pytest.fixture
def user(monkeypatch: pytest.MonkeyPatch) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``provisioner user ARGS`` run in this process, ``stdin`` as its standard input."""

    def run(data: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))  # not a terminal, as in CI
        return run_cli_in_process(data, "user", *args, check=False)

    return run


User = Callable[..., subprocess.CompletedProcess[str]]


def test_create_passwd_list_rm(tmp_path: Path, catalog: Catalog, user: User) -> None:
    run_cli_in_process(tmp_path, "init")
    made = user(tmp_path, "create", "alice", "--role", "viewer", "--password-stdin",
                stdin="first long password\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "account alice created: role viewer, all tenants" in made.stdout
    changed = user(tmp_path, "passwd", "alice", "--password-stdin", stdin="second long password\n")
    assert changed.returncode == 0, changed.stderr
    listed = run_cli_in_process(tmp_path, "user", "list").stdout
    assert "alice" in listed
    assert "password" not in listed
    store = Store.open(f"sqlite:///{tmp_path / 'provisioner.db'}", catalog)
    try:
        accounts = Accounts(store)
        assert not accounts.password_matches("alice", "first long password")
        assert accounts.password_matches("alice", "second long password")
        actions = [e.action for e in store.audit.query(AuditQuery(newest_first=False))[0]]
        assert actions[-2:] == ["account.create", "account.passwd"]
    finally:
        store.close()
    assert user(tmp_path, "rm", "alice").returncode == 0
    gone = user(tmp_path, "rm", "alice")
    assert gone.returncode != 0
    assert "no account named 'alice'" in gone.stderr


def test_a_short_password_or_no_terminal_is_refused(tmp_path: Path, user: User) -> None:
    run_cli_in_process(tmp_path, "init")
    short = user(tmp_path, "create", "bob", "--role", "admin", "--password-stdin", stdin="short\n")
    assert short.returncode != 0
    assert "10 to 1024 characters" in short.stderr
    no_tty = user(tmp_path, "create", "bob", "--role", "admin")
    assert no_tty.returncode != 0
    assert "--password-stdin" in no_tty.stderr
    assert "bob" not in run_cli_in_process(tmp_path, "user", "list").stdout


def test_password_file_is_owner_only_and_kept_on_the_next_run(tmp_path: Path, user: User) -> None:
    run_cli_in_process(tmp_path, "init")
    file = tmp_path / "demo-ui-password"
    first = user(tmp_path, "create", "demo", "--role", "admin", "--password-file", str(file))
    assert first.returncode == 0, first.stderr
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    password = file.read_text().strip()
    assert len(password) >= 10
    second = user(tmp_path, "create", "demo", "--role", "admin", "--password-file", str(file))
    assert second.returncode == 0, second.stderr
    assert "kept" in second.stdout
    assert file.read_text().strip() == password
    file.write_text("not the password\n")
    third = user(tmp_path, "create", "demo", "--role", "admin", "--password-file", str(file))
    assert third.returncode != 0
    assert "is not its password" in third.stderr

"""Operational mistakes end in one line and an exit status, never a traceback (subprocesses).

Exit status 2 is a usage error (an option or argument that cannot be
right), 1 a runtime error (nothing there, refused, unreachable).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_ENV
from tests.peers import free_port
from tests.serve_process import run_cli, run_cli_in_process, serving

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-fleet.toml"
BAD = b"\xff"  # never valid in UTF-8


def run(*args: str | bytes, env: dict[str, str] | None = None) -> tuple[int, str]:
    """``provisioner ARGS``: its exit status and standard error."""
    result = subprocess.run(
        [sys.executable, "-m", "provisioner", *args],
        capture_output=True,
        env=None if env is None else {**os.environ, **env},
        timeout=60,
        check=False,
    )
    return result.returncode, result.stderr.decode("utf-8", "backslashreplace")


def one_line(stderr: str) -> str:
    """The error line, after checking it is the only output and no traceback."""
    assert "Traceback" not in stderr, stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("error: "), stderr
    return stderr


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the demo fleet (read only by the tests)."""
    data = tmp_path_factory.mktemp("cli") / "var"
    # Set-up, not under test: in this process (the tests run their own commands).
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))
    return data


@pytest.mark.pg
def test_a_postgresql_database_that_does_not_exist() -> None:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (CI sets it; the PostgreSQL tests then must run)")
    name = f"provisioner_missing_{uuid.uuid4().hex[:12]}"
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    for command in (["phone", "list"], ["init"]):
        code, err = run("--db", url, *command)
        assert code == 1
        assert f'database "{name}" does not exist (create it first (createdb)' in one_line(err)


def test_a_refused_database_connection(tmp_path: Path) -> None:
    url = f"postgresql://provisioner@127.0.0.1:{free_port()}/fleet"
    code, err = run("--data-dir", str(tmp_path), "--db", url, "tenant", "list")
    assert code == 1
    assert one_line(err) == (
        f"error: cannot open database {url}: Connection refused (is the database server "
        "running and reachable? check --db / PROVISIONER_DB_URL)\n"
    )


@pytest.mark.parametrize(
    "listing",
    [
        ["models"],
        ["settings"],
        ["tenant", "list"],
        ["group", "list"],
        ["phone", "list"],
        ["explain", "0004f2123456"],
        ["export-fleet"],
        ["dhcp-snippet", "--address", "10.0.0.5"],
    ],
)
def test_a_listing_piped_into_a_reader_that_stops_early(data: Path, listing: list[str]) -> None:
    # What `provisioner phone list | head -1` does once head has its line:
    # the reading end is closed, here before the first write, so every write fails.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "provisioner", "--data-dir", str(data), *listing],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (1, b"")  # quiet, like other tools


def test_invalid_utf8_in_an_argument_or_the_environment(tmp_path: Path) -> None:
    data = os.fsencode(tmp_path / "var")
    for args, env, named in [
        ([b"--data-dir", data, b"tenant", b"add", BAD, b"--sip-domain", b"x.example"], {}, "name"),
        ([b"--data-dir", data + BAD, b"init"], {}, "data directory"),
        ([b"phone", b"list"], {"PROVISIONER_DATA_DIR": os.fsdecode(data + BAD)}, "DATA_DIR"),
        ([b"phone", b"list"], {"PROVISIONER_DB_URL": os.fsdecode(b"sqlite:///" + BAD)}, "DB_URL"),
    ]:
        code, err = run(*args, env=env)
        assert "Traceback" not in err
        assert code == 2, err
        assert "is not valid UTF-8 at byte" in err.splitlines()[-1], err
        assert named in err
    assert not (tmp_path / "var").exists()


def test_printing_a_name_that_is_not_utf8_under_a_strict_locale(data: Path, tmp_path: Path) -> None:
    out = os.fsencode(tmp_path) + b"/tree" + BAD
    result = subprocess.run(
        [sys.executable, "-m", "provisioner", "--data-dir", str(data), "render", "--out", out],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout.endswith(b"/tree\\udcff\n")  # escaped, not a crash


def test_a_data_dir_that_is_a_file_or_cannot_be_made(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a directory\n")
    code, err = run("--data-dir", str(afile), "phone", "list")
    assert (code, one_line(err)) == (1, f"error: data directory {afile} is not a directory\n")
    code, err = run("--data-dir", str(afile), "init")
    assert (code, one_line(err)) == (1, f"error: data directory {afile} is not a directory\n")
    code, err = run("--data-dir", str(afile / "sub"), "init")
    assert code == 1
    assert (
        f"cannot use {afile / 'sub'} as the data directory: {afile}: Not a directory"
        in one_line(err)
    )
    code, err = run("--data-dir", "/proc/no-such-dir", "init")
    assert code == 1
    assert "cannot use /proc/no-such-dir as the data directory: No such file" in one_line(err)
    code, err = run("--data-dir", "/proc/self", "init")
    assert code == 1
    assert "cannot use /proc/self as the data directory: Operation not permitted" in one_line(err)
    code, err = run("--data-dir", "/proc/self", "tenant", "list")
    assert code == 1
    assert "data directory /proc/self holds no database" in one_line(err)


@pytest.mark.parametrize(
    "command",
    [
        ["phone", "list"],
        ["tenant", "add", "acme", "--sip-domain", "acme.example.com"],
        ["apply", str(DEMO)],
        ["export-fleet"],
        ["render", "--out", "tree"],
        ["explain", "0004f2123456"],
        ["set", "tenant:acme", "language", "de"],
        ["seen"],
        ["firmware", "list"],
    ],
)
def test_no_command_but_init_and_serve_creates_a_database(
    tmp_path: Path, command: list[str]
) -> None:
    typo = tmp_path / "typo"
    code, err = run("--data-dir", str(typo), *command)
    assert code == 1
    assert one_line(err) == (
        f"error: data directory {typo} holds no database; create one with "
        f"`provisioner --data-dir {typo} init`, or name an existing one with --data-dir / "
        "PROVISIONER_DATA_DIR or --db / PROVISIONER_DB_URL\n"
    )
    assert not typo.exists()


def test_init_creates_the_database_and_says_so_once(tmp_path: Path) -> None:
    data = tmp_path / "var"
    first = run_cli(data, "init")
    assert first.stderr == f"created a new, empty database: sqlite:///{data / 'provisioner.db'}\n"
    assert "schema up to date" in first.stdout
    assert run_cli(data, "init").stderr == ""
    assert run_cli(data, "phone", "list").returncode == 0


def test_serve_creates_the_database_on_first_start_and_says_so(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    with serving(data) as server:
        assert (data / "provisioner.db").is_file()
    text = server.log.read_text()
    assert f"created a new, empty database: sqlite:///{data / 'provisioner.db'}\n" in text
    assert "Traceback" not in text


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_waiting_for_a_job(data: Path, tmp_path: Path) -> None:
    mine = shutil.copytree(data, tmp_path / "var")  # the job is queued in a copy
    process = subprocess.Popen(
        [sys.executable, "-m", "provisioner", "--data-dir", str(mine), "send-profiles",
         "--group", "demo/office", "--wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # A shell that starts pytest in the background ignores SIGINT, and an
        # ignored signal stays ignored across exec: the command, as a user's
        # terminal would start it, gets the default disposition back.
        preexec_fn=_default_sigint,
    )  # fmt: skip
    assert process.stderr is not None
    first = process.stderr.readline()  # the first progress line: it is waiting now
    assert first.startswith(b"[")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err == b"\ninterrupted\n"
    assert out.startswith(b"job ")  # queued before; serve sends it whenever it runs

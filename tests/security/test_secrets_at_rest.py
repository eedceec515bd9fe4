"""Secrets at rest: what holds passwords is never group- or world-readable, whatever the umask.

Every command whose files are checked runs as a real ``provisioner`` process
started under umask 000 (the worst case) and 022 (the common one); the child
inherits the umask. Loading the demo fleet (``apply``, set-up) runs in the
test's process under the same umask, as the commands' ``main`` sets its own
first thing wherever it runs. Covered: the data directory, the SQLite file
with its ``-wal`` and ``-shm`` (which exist only while a connection is open,
so they are checked while ``serve`` runs), the self-signed TLS key, uploads,
``export-fleet --out``, render trees (owner-only, or shared with one group),
and the staging directories a killed ``render`` leaves behind.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from tests.peers import fetch_with_curl, free_port
from tests.serve_process import provisioner, run_cli, run_cli_in_process, serving
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo-fleet.toml"
POLYCOM = "0004f2123456"
POLYCOM_UA = "FileTransport PolycomVVX-VVX_410-UA/5.9.1.0615 Type/Application"
PASSWORD = b"Reception-200-pw"  # a line password of the demo fleet

# A `render` that stops itself in the middle of writing its staging tree:
# after a number of files it SIGKILLs itself ("kill"), or says where it is
# (touches a file) and waits on a FIFO until the test lets it go on ("pause").
# Only the tree writer's per-file function is wrapped; the rest is the CLI.
INTERRUPTED_RENDER = """
import os, signal, sys
from pathlib import Path
import provisioner.render._tree as tree
from provisioner.cli import main

action, after, here, release, *argv = sys.argv[1:]
original, written = tree._write, 0

def write(*args, **kwargs):
    global written
    written += 1
    if written == int(after):
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        Path(here).touch()
        Path(release).read_bytes()  # blocks until the test opens the FIFO
    return original(*args, **kwargs)

tree._write = write
sys.exit(main(argv))
"""


@contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture(params=[0o000, 0o022], ids=["umask000", "umask022"])
def loose_umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test (and the processes it starts) under a umask that would let others read."""
    value: int = request.param
    with umask(value):
        yield value


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def stored_upload(db: Path, mac: str, name: str) -> bytes | None:
    """An upload's bytes as the SQLite database holds them (``None``: not there)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        row = conn.execute(
            "SELECT data FROM phone_uploads WHERE mac = ? AND name = ?", (mac, name)
        ).fetchone()
    return None if row is None else bytes(row[0])


def test_data_dir_database_tls_key_and_uploads_are_private(
    tmp_path: Path, loose_umask: int
) -> None:
    data = tmp_path / "var"
    run_cli(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))  # set-up: the fleet's content
    db = data / "provisioner.db"
    assert (mode(data), mode(db)) == (0o700, 0o600)
    log = tmp_path / "serve.log"  # the test's own file, outside the data directory
    with serving(data, "--https-port", str(free_port()), log=log) as server:
        # A write by a second process while the server holds its connection,
        # so the -wal and -shm files exist (the last connection removes them).
        # It lets the demo Polycom (no HTTP password) upload without one.
        run_cli(data, "set", f"phone:{POLYCOM}", "uploads.unauthenticated", "true")
        url = f"http://127.0.0.1:{server.http}/{POLYCOM}-app.log"
        upload = tmp_path / "app.log"
        upload.write_bytes(b"boot ok\n")
        eventually(
            lambda: fetch_with_curl("-A", POLYCOM_UA, "-T", str(upload), url)[0] == 201,
            "the upload is accepted",
            30,
        )
        wal, shm = data / "provisioner.db-wal", data / "provisioner.db-shm"
        eventually(lambda: wal.exists() and shm.exists(), "-wal and -shm exist", 30)
        assert (mode(db), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
        assert (mode(data / "tls"), mode(data / "tls" / "selfsigned.key")) == (0o700, 0o600)
        # Uploads live in the database (every node of a cluster reads them), so
        # they are as private as the database file.
        assert stored_upload(db, POLYCOM, f"{POLYCOM}-app.log") == b"boot ok\n"
        assert not (data / "uploads").exists()
        # Nothing in the data directory is readable by anyone but its owner,
        # except the certificate, which is public.
        loose = [
            (str(path.relative_to(data)), oct(mode(path)))
            for path in [data, *data.rglob("*")]
            if mode(path) & 0o077 and path.name != "selfsigned.crt"
        ]
        assert loose == []


def test_a_loose_data_dir_from_an_older_version_is_tightened_and_said_so(tmp_path: Path) -> None:
    data = tmp_path / "var"
    run_cli(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))  # set-up: the fleet's content
    run_cli(data, "set", f"phone:{POLYCOM}", "uploads.unauthenticated", "true")  # no password
    (data / "uploads" / POLYCOM).mkdir(parents=True)
    data.chmod(0o755)
    (data / "provisioner.db").chmod(0o644)
    (data / "uploads").chmod(0o755)
    result = run_cli(data, "init")
    assert mode(data) == 0o700
    assert mode(data / "provisioner.db") == 0o600
    assert "event=permissions_tightened" in result.stderr
    assert f"path='{data}' was=0755 now=0700" in result.stderr
    with serving(data, log=tmp_path / "serve.log") as server:
        url = f"http://127.0.0.1:{server.http}/{POLYCOM}-app.log"
        assert fetch_with_curl("-A", POLYCOM_UA, "-T", str(DEMO), url)[0] == 201
    # The older version's upload directory, imported into the database at start-up,
    # is kept under a new name, as private as init left it.
    assert mode(data / "uploads.imported") == 0o700
    assert (
        stored_upload(data / "provisioner.db", POLYCOM, f"{POLYCOM}-app.log") == DEMO.read_bytes()
    )


def test_export_fleet_out_is_private_and_atomic(tmp_path: Path, loose_umask: int) -> None:
    data = tmp_path / "var"
    run_cli(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))  # set-up: the fleet's content
    out = tmp_path / "exports" / "fleet.json"
    out.parent.mkdir()
    out.write_text("an older export\n")
    out.chmod(0o644)
    run_cli(data, "export-fleet", "--out", str(out))
    assert mode(out) == 0o600
    assert PASSWORD in out.read_bytes()
    assert [path.name for path in out.parent.iterdir()] == ["fleet.json"]  # no temporary left
    result = run_cli(data, "export-fleet", "--out", "/dev/null", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "error: --out /dev/null: not a regular file (omit --out for standard output)\n"
    )


def tree_modes(root: Path) -> set[tuple[str, int]]:
    """Each kind of entry in the tree (its root included) with the modes it has."""
    return {("dir" if path.is_dir() else "file", mode(path)) for path in [root, *root.rglob("*")]}


def test_render_tree_is_private_by_default(tmp_path: Path, loose_umask: int) -> None:
    data, out = tmp_path / "var", tmp_path / "srv" / "tftp"
    run_cli(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))  # set-up: the fleet's content
    run_cli(data, "render", "--out", str(out))
    assert tree_modes(out) == {("dir", 0o700), ("file", 0o600)}
    assert any(PASSWORD in path.read_bytes() for path in out.iterdir())
    run_cli(data, "render", "--out", str(out), "--mac", POLYCOM)
    assert tree_modes(out) == {("dir", 0o700), ("file", 0o600)}
    assert sorted(path.name for path in out.parent.iterdir()) == ["tftp"]


def test_render_group_shares_the_tree_with_one_group(tmp_path: Path, loose_umask: int) -> None:
    data, out = tmp_path / "var", tmp_path / "tftp"
    # A group this user may give files to; root may give them to any, so it
    # gets one it is not in, and the test sees the group really change.
    gid = 65534 if os.geteuid() == 0 else os.getegid()
    run_cli(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))  # set-up: the fleet's content
    run_cli(data, "render", "--out", str(out), "--group", str(gid))
    assert tree_modes(out) == {("dir", 0o750), ("file", 0o640)}
    assert {path.lstat().st_gid for path in [out, *out.iterdir()]} == {gid}
    # --mac updates in place and keeps the tree's sharing.
    (out / f"{POLYCOM}-settings.cfg").unlink()
    run_cli(data, "render", "--out", str(out), "--mac", POLYCOM)
    assert mode(out / f"{POLYCOM}-settings.cfg") == 0o640
    before = sorted(path.name for path in out.iterdir())
    result = run_cli(data, "render", "--out", str(out), "--group", "no-such-group", check=False)
    assert (result.returncode, result.stderr) == (
        1,
        "error: --group no-such-group: no such group\n",
    )
    assert sorted(path.name for path in out.iterdir()) == before


STAGING = re.compile(r"\.tftp\.new-[a-z0-9_]{8}")


def render_stopping(
    data: Path, out: Path, action: str, after: int, tmp: Path
) -> subprocess.Popen[bytes]:
    here, release = tmp / f"{action}.here", tmp / f"{action}.release"
    if action == "pause":
        os.mkfifo(release)
    script = ["-c", INTERRUPTED_RENDER, action, str(after), str(here), str(release)]
    argv = provisioner(data, "render", "--out", str(out))[3:]  # without "python -m provisioner"
    return subprocess.Popen([sys.executable, *script, *argv], stderr=subprocess.PIPE)


def test_staging_of_a_killed_render_is_private_and_swept_by_the_next(tmp_path: Path) -> None:
    data, out = tmp_path / "var", tmp_path / "tftp"
    run_cli(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))  # set-up: the fleet's content
    run_cli(data, "render", "--out", str(out))
    # Things that look like leftovers but are not ours to delete.
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.cfg").write_bytes(b"keep")
    (tmp_path / ".tftp.old-12345678").symlink_to(victim)
    (tmp_path / ".tftp.new-abcdefgh").write_bytes(b"a file")
    (tmp_path / ".tftp.new-short").mkdir()
    (tmp_path / ".other.new-abcdefgh").mkdir()
    decoys = sorted(path.name for path in tmp_path.iterdir())

    def killed_render() -> tuple[Path, bytes]:
        """Its leftover staging directory and its standard error."""
        with umask(0o000):
            process = render_stopping(data, out, "kill", 20, tmp_path)
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL
        [leftover] = [p for p in tmp_path.iterdir() if STAGING.fullmatch(p.name) and p.is_dir()]
        assert mode(leftover) == 0o700
        assert {mode(path) for path in leftover.iterdir()} == {0o600}
        assert len(list(leftover.iterdir())) == 19  # killed before writing the 20th
        return leftover, stderr

    first, _ = killed_render()
    second, stderr = killed_render()  # sweeps the first's before it dies itself
    assert second != first
    assert stderr.count(b"event=render_staging_swept") == 1
    result = run_cli(data, "render", "--out", str(out))
    assert result.stderr.count("event=render_staging_swept") == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == decoys
    assert (victim / "keep.cfg").read_bytes() == b"keep"
    assert tree_modes(out) == {("dir", 0o700), ("file", 0o600)}


def test_a_render_never_sweeps_the_staging_of_one_still_running(tmp_path: Path) -> None:
    data, out = tmp_path / "var", tmp_path / "tftp"
    run_cli(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))  # set-up: the fleet's content
    first = render_stopping(data, out, "pause", 20, tmp_path)
    eventually((tmp_path / "pause.here").exists, "the first render is writing", 30)
    second = subprocess.Popen(
        provisioner(data, "render", "--out", str(out)), stderr=subprocess.PIPE
    )
    # The second waits for the lock the first holds on the parent directory
    # (/proc/locks lists a blocked waiter as "N: -> FLOCK ... PID ...").
    eventually(
        lambda: f" -> FLOCK  ADVISORY  WRITE {second.pid} " in Path("/proc/locks").read_text(),
        "the second render waits for the lock",
        30,
    )
    with (tmp_path / "pause.release").open("wb"):
        pass  # lets the first go on
    for process in (first, second):
        _, stderr = process.communicate(timeout=60)
        assert (process.returncode, b"swept" in stderr) == (0, False), stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "pause.here",
        "pause.release",
        "tftp",
        "var",
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a directory another user owns")
def test_a_leftover_of_another_user_is_not_swept(tmp_path: Path) -> None:
    data, out = tmp_path / "var", tmp_path / "tftp"
    run_cli(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))  # set-up: the fleet's content
    theirs = tmp_path / ".tftp.new-abcdefgh"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    run_cli(data, "render", "--out", str(out))
    assert theirs.is_dir()

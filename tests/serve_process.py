"""``provisioner serve`` as a child process on 127.0.0.1, for end-to-end tests and benchmarks.

Also the commands an admin runs beside it: :func:`run_cli` in a process of
its own, for tests about the command line itself (its exit status, its
environment, a second process); :func:`run_cli_in_process` in the test's
process, for set-up and checks that only need what a command does. Both take
the same arguments and give the same result; the second costs no interpreter
start-up and no import of the server's libraries (about 2 s of CPU each on
the test machine, most of a module's time where a test ran a dozen).
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from provisioner.cli import main
from tests.peers import free_port
from tests.waiting import eventually

__all__ = ["Serving", "provisioner", "run_cli", "run_cli_in_process", "serving"]


def provisioner(data_dir: Path, *args: str) -> list[str]:
    """The command line of ``provisioner --data-dir DATA_DIR ARGS…`` with this interpreter."""
    return [sys.executable, "-m", "provisioner", "--data-dir", str(data_dir), *args]


def run_cli(
    data_dir: Path, *args: str, env: Mapping[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one ``provisioner`` command; with ``check``, a failure fails the test with its stderr."""
    result = subprocess.run(
        provisioner(data_dir, *args),
        capture_output=True,
        text=True,
        env=None if env is None else dict(env),
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, (args, result.stderr)
    return result


def run_cli_in_process(
    data_dir: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """:func:`run_cli` without a new process: ``provisioner``'s ``main`` runs here.

    The same argument parsing, command code, output and exit status as the
    command (``main`` restores the umask it sets); the environment is this
    process's, as :func:`run_cli` passes it on without ``env``. The output is
    caught by swapping ``sys.stdout`` and ``sys.stderr``, which every thread
    shares: one command at a time (a thread may run it while the event loop,
    which prints nothing, goes on).
    """
    argv = ["--data-dir", str(data_dir), *args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    result = subprocess.CompletedProcess(
        ["provisioner", *argv], code, out.getvalue(), err.getvalue()
    )
    if check:
        assert code == 0, (args, result.stderr)
    return result


@dataclass(frozen=True)
class Serving:
    """A running server: its process, HTTP port and log file."""

    process: subprocess.Popen[bytes]
    http: int
    log: Path


@contextmanager
def serving(
    data_dir: Path,
    *options: str,
    http: int | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    start_within: float = 60.0,
) -> Iterator[Serving]:
    """Run ``provisioner serve`` until the block ends; yields once ``/healthz`` answers.

    HTTP listens on ``http`` (default a free port); HTTPS, TFTP, FTP and the API are off unless
    ``options`` set their ports (a later option wins in argparse). The
    server's stderr goes to ``log`` (default ``<data_dir>/serve.log``), which
    a start-up failure quotes. The server is stopped with SIGTERM (its
    graceful shutdown), then killed if it does not exit.
    """
    http = http or free_port()
    log = log or data_dir / "serve.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as stderr:  # the child keeps its own descriptor
        process = subprocess.Popen(
            provisioner(data_dir, "serve", "--bind", "127.0.0.1", "--http-port", str(http),
                        "--https-port", "0", "--tftp-port", "0", "--ftp-port", "0",
                        "--api-port", "0", *options),
            env=None if env is None else dict(env),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )  # fmt: skip
    try:
        _wait_for(f"http://127.0.0.1:{http}/healthz", process, log, start_within)
        yield Serving(process, http, log)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, limit: float) -> None:
    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"provisioner serve exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except OSError:
            return False

    eventually(answers, f"{url} answers", limit)

"""The command's process (``provisioner/_entry.py``): everything said is out, the status kept.

The process ends with ``os._exit`` once the command is done, so what it
wrote to a pipe must have been flushed first, and its exit status must be
the command's. Run as a real process, as an admin runs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.serve_process import provisioner, run_cli_in_process


def _run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        provisioner(data_dir, *args), capture_output=True, text=True, timeout=60, check=False
    )


def test_all_output_reaches_a_pipe_and_the_status_is_kept(tmp_path: Path) -> None:
    # `models` prints some 7 KB, less than the 8 KB that standard output holds
    # for a pipe before writing: all of it is still buffered when the command ends.
    done = _run(tmp_path, "models")
    expected = run_cli_in_process(tmp_path, "models")
    assert done.returncode == 0
    assert expected.stdout
    assert done.stdout == expected.stdout


def test_a_failing_command_says_why_and_exits_with_its_status(tmp_path: Path) -> None:
    assert _run(tmp_path, "init").returncode == 0
    done = _run(tmp_path, "set", "group:nowhere/none", "language", "fr")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    usage = _run(tmp_path, "no-such-command")
    assert usage.returncode == 2
    assert "invalid choice" in usage.stderr


def test_the_console_script_runs_the_same_entry() -> None:
    # pyproject's [project.scripts]: the installed `provisioner` is this function.
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert 'provisioner = "provisioner._entry:run"' in text
    done = subprocess.run(
        [sys.executable, "-c", "from provisioner._entry import run; run()", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.strip()

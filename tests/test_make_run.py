"""``make run``: the demo fleet goes in on the first start only, so later starts keep edits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.peers import need
from tests.serve_process import run_cli

ROOT = Path(__file__).resolve().parent.parent
PHONE = "phone:0004f2123456"


def demo_data(data: Path) -> subprocess.CompletedProcess[str]:
    """What ``make run`` does before serving, with this interpreter's ``provisioner``."""
    return subprocess.run(
        [need("make"), "--no-print-directory", "-C", str(ROOT), "demo-data",
         f"DATA_DIR={data}", f"BIN={Path(sys.executable).parent}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )  # fmt: skip


def test_the_demo_fleet_is_applied_on_the_first_start_only(tmp_path: Path) -> None:
    data = tmp_path / "var"
    first = demo_data(data)
    assert "tenant created: 1" in first.stdout
    assert "created a new, empty database" in first.stderr
    run_cli(data, "set", PHONE, "language", "fr")  # the admin's edit
    second = demo_data(data)
    assert second.stdout == (
        f"{data} holds a database: serving it as it is (the demo fleet is applied on the "
        "first start only; make clean starts over)\n"
    )
    assert '"fr"' in run_cli(data, "explain", "0004f2123456", "language").stdout

"""``make run``: the demo fleet goes in on the first start only, so later starts keep edits.

On SQLite the database file in the data directory says the demo is in; with
``PROVISIONER_DB_URL`` naming PostgreSQL nothing of the database is there, so
a marker file says it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import need
from tests.pg import fresh_database
from tests.serve_process import run_cli

ROOT = Path(__file__).resolve().parent.parent
PHONE = "phone:0004f2123456"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def environment(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The environment ``make run`` sees: as it is for SQLite; for PostgreSQL, a new database."""
    env = {k: v for k, v in os.environ.items() if k != "PROVISIONER_DB_URL"}
    if request.param == "sqlite":
        yield env
        return
    with fresh_database("make run") as url:
        yield env | {"PROVISIONER_DB_URL": url}


def demo_data(data: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """What ``make run`` does before serving, with this interpreter's ``provisioner``."""
    return subprocess.run(
        [need("make"), "--no-print-directory", "-C", str(ROOT), "demo-data",
         f"DATA_DIR={data}", f"BIN={Path(sys.executable).parent}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
    )  # fmt: skip


def test_the_demo_fleet_is_applied_on_the_first_start_only(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    data = tmp_path / "var"
    first = demo_data(data, environment)
    assert "tenant created: 1" in first.stdout
    run_cli(data, "set", PHONE, "language", "fr", env=environment)  # the admin's edit
    second = demo_data(data, environment)
    assert second.stdout == (
        f"{data} holds a database: serving it as it is (the demo fleet is applied on the "
        "first start only; make clean starts over)\n"
    )
    explained = run_cli(data, "explain", "0004f2123456", "language", env=environment).stdout
    assert '"fr"' in explained

"""A change set whose server is killed (SIGKILL) half-way leaves nothing half-written."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from provisioner.catalog import Catalog
from provisioner.store import Store
from tests.api.conftest import EXAMPLES
from tests.api.test_preview import dump
from tests.conftest import _reset
from tests.peers import free_port, need
from tests.serve_process import run_cli_in_process, serving
from tests.waiting import eventually

PHONES = 1500


def _write_lock_held(db: str) -> bool:
    """Whether a transaction holds tenant demo for writing (what a change set does first)."""
    url = make_url(db)
    if url.get_backend_name() == "sqlite":
        lite = sqlite3.connect(str(url.database), timeout=0)
        try:
            lite.execute("BEGIN IMMEDIATE")
            lite.rollback()
            return False
        except sqlite3.OperationalError:  # "database is locked"
            return True
        finally:
            lite.close()
    engine = create_engine(url.set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1 FROM tenants WHERE name = 'demo' FOR UPDATE NOWAIT"))
            return False
    except OperationalError:  # lock_not_available
        return True
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def test_change_set_killed_mid_way_stores_nothing(
    backend: str, tmp_path: Path, catalog: Catalog, request: pytest.FixtureRequest
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = f"sqlite:///{data / 'provisioner.db'}"
    if backend == "postgresql":
        db = request.getfixturevalue("pg_url")
    store = Store.open(db, catalog)
    _reset(store)
    # Set-up, in this process (no start-up each); the server is what gets killed.
    run_cli_in_process(data, "--db", db, "apply", str(EXAMPLES / "demo-fleet.toml"))
    out = run_cli_in_process(
        data, "--db", db, "apikey", "create", "--name", "k", "--role", "operator"
    )
    key = out.stdout.strip().splitlines()[-1]
    ops = [
        {
            "method": "POST",
            "path": "/phones",
            "body": {"tenant": "demo", "mac": f"0004f2{n:06x}", "model": "vvx410"},
        }
        for n in range(0x100000, 0x100000 + PHONES)
    ]
    body = tmp_path / "changes.json"
    body.write_text(json.dumps({"operations": ops}))
    before = dump(store)
    port = free_port()
    env = {**os.environ, "PROVISIONER_DB_URL": db}
    with serving(data, "--api-port", str(port), env=env) as server:
        sent = subprocess.Popen(
            [need("curl"), "-s", "-o", "/dev/null", "-w", "%{http_code}",
             "-H", f"X-API-Key: {key}", "-H", "Content-Type: application/json",
             "--data-binary", f"@{body}", f"http://127.0.0.1:{port}/api/v1/changes"],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        eventually(lambda: _write_lock_held(db), "the change set holds its transaction", 60)
        server.process.kill()
        server.process.wait(10)
        answered, _ = sent.communicate(timeout=30)
    assert answered == b"000"  # killed before it could answer
    assert dump(store) == before
    store.close()

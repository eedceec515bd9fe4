"""Bans live in the database: they survive a restart and hold on every node sharing it.

Before, bans were a dictionary in one process: a restart forgot them and a
second ``serve`` node on the same database kept serving the banned address.
Here two real ``serve`` processes share one database (SQLite, and
PostgreSQL when ``PROVISIONER_TEST_PG_URL`` is set), and ``provisioner ban``
lists and lifts bans for both.
"""

from __future__ import annotations

import os
from pathlib import Path

from provisioner.store import Ban, BanStore, Store
from tests.security.gateway_fleet import (
    BANNED,
    UNPROTECTED,
    apply_fleet,
    bans,
    curl_from,
    fleet,
)
from tests.serve_process import run_cli_in_process, serving
from tests.waiting import eventually

WALKER = "127.89.0.1"


def test_ban_store_records_extends_expires_and_lifts(store: Store) -> None:
    repo = BanStore(store.engine)
    repo.record([Ban("10.0.0.1", 100.0, "lookup_failed", 1.0), Ban("10.0.0.2", 50.0, "", 1.0)])
    repo.record([Ban("10.0.0.1", 90.0, "again", 2.0)])  # never shortened
    assert [(b.address, b.until) for b in repo.active(10.0)] == [
        ("10.0.0.2", 50.0),
        ("10.0.0.1", 100.0),
    ]
    repo.record([Ban("10.0.0.1", 200.0, "again", 3.0)])
    assert [(b.address, b.until) for b in repo.active(60.0)] == [("10.0.0.1", 200.0)]
    assert repo.remove("10.0.0.1")
    assert not repo.remove("10.0.0.1")
    assert repo.active(60.0) == []


def _walk(port: int, source: str, count: int = 40) -> None:
    for n in range(count):
        curl_from(source, f"http://127.0.0.1:{port}/0004f2cc{n:04x}.cfg")


def test_bans_hold_on_every_node_and_after_a_restart(
    tmp_path: Path, store: Store, db_url: str
) -> None:
    db = ("--db", db_url)
    env = {**os.environ, "PROVISIONER_DB_URL": db_url}
    apply_fleet(tmp_path, fleet(), *db)
    one, two = tmp_path / "one", tmp_path / "two"
    options = ("--poll-interval", "0.2")
    with (
        serving(one, *options, env=env) as first,
        serving(two, *options, env=env) as second,
    ):
        for node in (first, second):
            assert curl_from(WALKER, f"http://127.0.0.1:{node.http}/{UNPROTECTED}.cfg")[0] == 200
        _walk(first.http, WALKER)
        assert curl_from(WALKER, f"http://127.0.0.1:{first.http}/{UNPROTECTED}.cfg")[0] == BANNED
        eventually(
            lambda: (
                curl_from(WALKER, f"http://127.0.0.1:{second.http}/{UNPROTECTED}.cfg")[0] == BANNED
            ),
            "the ban made on node one holds on node two",
        )
        assert bans(tmp_path, *db) == {WALKER}
        # Another address is still served by both.
        for node in (first, second):
            url = f"http://127.0.0.1:{node.http}/{UNPROTECTED}.cfg"
            assert curl_from("127.89.0.2", url)[0] == 200

    # A restart forgets nothing.
    with serving(one, *options, env=env) as again:
        url = f"http://127.0.0.1:{again.http}/{UNPROTECTED}.cfg"
        assert curl_from(WALKER, url)[0] == BANNED
        said = run_cli_in_process(tmp_path, *db, "ban", "rm", WALKER).stdout
        assert f"ban of {WALKER} lifted" in said
        eventually(lambda: curl_from(WALKER, url)[0] == 200, "the lifted ban is gone")
    assert bans(tmp_path, *db) == set()
    failed = run_cli_in_process(tmp_path, *db, "ban", "rm", WALKER, check=False)
    assert failed.returncode != 0
    assert "not banned" in failed.stderr

"""Key layouts by policy against a real ``provisioner serve``: a line renamed, removed, added.

The group ``reception`` has ``keys.policy = "blf"``: each of its phones gets a
BLF key for every other line of the tenant. Renaming a line's display name
must change exactly the files of the phones whose keys show it (and of the
phone that has the line), leave every other file's ETag as it was, and, with
``notify.on_change``, queue a resync for exactly those phones. The server
must also render exactly those phones, no others (its
``provisioner_phones_rendered_total`` counter): a phone with a policy whose
keys do not show the line is resolved again, not rendered. Changes are made
with the CLI, as an admin would; on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pg import fresh_database
from tests.security.gateway_fleet import apply_fleet
from tests.serve_process import run_cli_in_process, serving
from tests.waiting import eventually

SHOWS = ("001565000011", "001565000012")  # reception phones whose keys show line 202
SMALL = "001565000013"  # a reception T21P E2: one free key, showing line 100 only
OWNER = "001565000014"  # has line 202; not in reception
PLAIN = "001565000015"  # not in reception: no policy
POLICY_OFF = "001565000016"  # in reception, keys.policy set back to none on the phone


def _fleet() -> dict[str, Any]:
    def phone(mac: str, user: str, name: str, model: str = "t46s", **more: Any) -> dict[str, Any]:
        line = {"user": user, "password": f"pw-{user}-secret", "display_name": name}
        return {"tenant": "acme", "mac": mac, "model": model, "lines": [line], **more}

    reception: dict[str, Any] = {"groups": ["reception"]}
    return {
        "tenants": [
            {
                "name": "acme",
                "sip_domain": "acme.example.com",
                "settings": {"notify.on_change": True, "notify.delay_seconds": 600},
            }
        ],
        "groups": [{"tenant": "acme", "name": "reception", "settings": {"keys.policy": "blf"}}],
        "phones": [
            phone(SHOWS[0], "100", "Front desk", **reception),
            phone(SHOWS[1], "201", "Alice", **reception),
            phone(SMALL, "300", "Small", model="t21p_e2", **reception),
            phone(OWNER, "202", "Bob"),
            phone(PLAIN, "203", "Carol"),
            phone(POLICY_OFF, "204", "Dave", settings={"keys.policy": "none"}, **reception),
        ],
    }


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` for SQLite in the data directory, else a PostgreSQL database of the test's own."""
    if request.param == "sqlite":
        yield None
        return
    with fresh_database("key_policy") as url:
        yield url


def _get_path(port: int, path: str) -> tuple[bytes, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, (path, response.status)
        return body, response.getheader("ETag") or ""
    finally:
        conn.close()


def _get(port: int, mac: str) -> tuple[bytes, str]:
    return _get_path(port, f"/{mac}.cfg")


def _rendered(port: int) -> int:
    """The server's count of phones it rendered (``/metrics``, allowed from 127.0.0.1)."""
    text = _get_path(port, "/metrics")[0].decode()
    (line,) = (x for x in text.splitlines() if x.startswith("provisioner_phones_rendered_total "))
    return int(line.split()[1])


def _cli(data: Path, database: str | None, *args: str) -> str:
    """A ``provisioner`` command on the server's database, as an admin would run it: its output.

    In this process (``run_cli_in_process``): the test is about what the server
    serves after the change, not about the command's process; polling the jobs
    with a process per check would cost an interpreter start-up each.
    """
    return run_cli_in_process(data, *(("--db", database) if database else ()), *args).stdout


def _jobs(data: Path, database: str | None) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = json.loads(_cli(data, database, "jobs", "--json"))
    return sorted(jobs, key=lambda j: int(j["id"]))


def _targets(data: Path, job: object, database: str | None) -> set[str]:
    shown = json.loads(_cli(data, database, "jobs", "--show", str(job), "--json"))
    return {t["mac"] for t in shown["targets"]}


ALL = (*SHOWS, SMALL, OWNER, PLAIN, POLICY_OFF)


def test_a_renamed_removed_or_added_line_reaches_exactly_the_phones_whose_keys_show_it(
    tmp_path: Path, database: str | None
) -> None:
    env = dict(os.environ)
    if database is not None:
        env["PROVISIONER_DB_URL"] = database
    apply_fleet(tmp_path, _fleet(), *(("--db", database) if database else ()))
    with serving(tmp_path, "--poll-interval", "0.2", env=env) as server:
        before = {mac: _get(server.http, mac) for mac in ALL}
        assert b"linekey.3.label = Bob" in before[SHOWS[0]][0]
        assert b"Bob" not in before[SMALL][0]  # line 100 takes its only free key
        assert b"linekey.2.value = 201" not in before[SHOWS[1]][0]  # never its own line
        count = _rendered(server.http)

        _cli(tmp_path, database, "line", "set", OWNER, "1", "--display-name", "Robert <&>")

        def moved() -> dict[str, tuple[bytes, str]] | None:
            now = {mac: _get(server.http, mac) for mac in ALL}
            return now if now[SHOWS[0]] != before[SHOWS[0]] else None

        after = eventually(moved, "the reception phone's new keys")
        changed = {mac for mac in ALL if after[mac][1] != before[mac][1]}
        assert changed == {*SHOWS, OWNER}
        for mac in (SMALL, PLAIN, POLICY_OFF):
            assert after[mac] == before[mac], mac
        for mac in SHOWS:
            assert b"label = Robert <&>" in after[mac][0]
        # Rendered: the two phones whose keys show the line and its own phone.
        # The small reception phone read the directory again but was not rendered.
        assert _rendered(server.http) - count == 3
        (job,) = eventually(
            lambda: _jobs(tmp_path, database) or None, "a resync job for the rename"
        )
        assert _targets(tmp_path, job["id"], database) == {*SHOWS, OWNER}

        # The line removed: the keys that showed it go, the others' files stay.
        count = _rendered(server.http)
        _cli(tmp_path, database, "line", "rm", OWNER, "1")

        def gone() -> dict[str, tuple[bytes, str]] | None:
            now = {mac: _get(server.http, mac) for mac in ALL}
            return now if b"Robert" not in now[SHOWS[0]][0] else None

        final = eventually(gone, "the reception phone's keys without line 202")
        for mac in (SMALL, PLAIN, POLICY_OFF):
            assert final[mac] == before[mac], mac
        assert b"linekey.3.value = 203" in final[SHOWS[0]][0]
        assert _rendered(server.http) - count == 3

        # A line added on the plain phone: a key for it on the reception phones.
        count = _rendered(server.http)
        _cli(tmp_path, database, "line", "add", PLAIN, "--user", "205", "--password",
             "pw-205-secret", "--display-name", "Erin")  # fmt: skip

        def added() -> dict[str, tuple[bytes, str]] | None:
            now = {mac: _get(server.http, mac) for mac in ALL}
            return now if b"Erin" in now[SHOWS[0]][0] else None

        last = eventually(added, "the reception phone's key for line 205")
        assert b"label = Erin" in last[SHOWS[1]][0]
        for mac in (SMALL, POLICY_OFF):
            assert last[mac] == before[mac], mac
        assert _rendered(server.http) - count == 3  # the plain phone and the two reception ones

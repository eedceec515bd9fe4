"""Preview before commit (``?dry_run=true``) and change sets (``POST /changes``), live.

What a dry run shows is checked against what the phone port really serves
once the same change is made; what it stores is checked by dumping every
table before and after.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from provisioner.catalog import Catalog
from provisioner.etags import etag_of
from provisioner.preview import SECRETS_DIFFER
from provisioner.store import Store
from provisioner.store import _tables as tables
from tests.api.conftest import Api, Client
from tests.peers import fetch_with_curl
from tests.waiting import eventually

MAC = "0004f2123456"
UA = "FileTransport PolycomVVX-VVX_410-UA/5.9.1.0615 Type/Application"
FILES = [f"{MAC}.cfg", f"{MAC}-raw.cfg", f"{MAC}-settings.cfg", f"{MAC}-directory.xml"]
LANGUAGE = "/scopes/group:demo%2Foffice/settings/language"
# Written by the server on its own (phones' fetches, bans) or by every request
# (a key's last use), and the audit log, where a dry run is recorded on purpose.
_BOOKKEEPING = {"audit_log", "seen", "phone_addresses", "bans"}


@pytest.fixture
def db(api: Api, catalog: Catalog) -> Iterator[Store]:
    store = Store.open(api.db, catalog)
    try:
        yield store
    finally:
        store.close()


def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (bookkeeping aside), in a stable order."""
    result = {}
    with store.engine.connect() as conn:
        for table in tables.metadata.sorted_tables:
            if table.name in _BOOKKEEPING:
                continue
            columns = [c for c in table.columns if c.name != "last_used_at"]
            rows = conn.execute(select(*columns).order_by(*columns)).all()
            result[table.name] = [tuple(row) for row in rows]
    return result


def served(api: Api, name: str) -> bytes:
    code, body = fetch_with_curl("-A", UA, f"http://127.0.0.1:{api.http}/{name}")
    assert code == 200, (name, code)
    return body


def unified(name: str, old: bytes, new: bytes) -> str:
    lines = difflib.unified_diff(
        old.decode().splitlines(keepends=True),
        new.decode().splitlines(keepends=True),
        f"a/{name}",
        f"b/{name}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def files_of(preview: dict[str, Any], mac: str) -> dict[str, dict[str, Any]]:
    phone = next(p for p in preview["phones"] if p["mac"] == mac)
    return {f["name"]: f for f in phone["files"]}


def test_dry_run_stores_nothing_and_shows_what_the_phone_port_then_serves(
    api: Api, client: Client, db: Store
) -> None:
    admin = api.keys["admin"]
    before_files = {name: served(api, name) for name in FILES}
    before = dump(db)
    url = api.url(LANGUAGE + "?dry_run=true")
    preview = client("PUT", url, admin, json={"value": "fr"})
    assert preview.status == 200, preview.body
    assert preview.body["dry_run"] is True
    assert preview.body["problems"] == []
    assert dump(db) == before  # nothing stored, not even a revision bump
    assert {name: served(api, name) for name in FILES} == before_files
    office = {"0004f2123456", "805ec0123456"}
    assert office <= {p["mac"] for p in preview.body["phones"]}
    shown = files_of(preview.body, MAC)

    real = client("PUT", api.url(LANGUAGE), admin, json={"value": "fr"})
    assert real.status == 200, real.body

    def changed() -> dict[str, bytes] | None:
        now = {n: served(api, n) for n in FILES}
        return now if now != before_files else None

    after_files = eventually(changed, "the phone port serves the changed files")
    for name in FILES:
        expected = unified(name, before_files[name], after_files[name])
        got = shown[name]["diff_current"] if name in shown else ""
        assert got == expected, name
    assert any(shown[name]["diff_current"] for name in shown)
    assert client("PUT", api.url(LANGUAGE), admin, json={"value": "de"}).status == 200


def test_a_refused_dry_run_lists_the_problem_the_write_would_get(
    api: Api, client: Client, db: Store
) -> None:
    key = api.keys["operator"]
    before = dump(db)
    body = {"value": "not-a-number"}
    url = "/scopes/group:demo%2Foffice/settings/provisioning.poll_minutes"
    preview = client("PUT", api.url(url + "?dry_run=true"), key, json=body)
    real = client("PUT", api.url(url), key, json=body)
    assert real.status == 422
    assert preview.status == 200
    assert preview.body["phones"] == []
    [problem] = preview.body["problems"]
    assert (problem["code"], problem["detail"]) == (real.body["code"], real.body["detail"])
    assert dump(db) == before
    bad = client("PUT", api.url(url + "?dry_run=maybe"), key, json={"value": 5})
    assert bad.status == 400
    assert bad.body["field"] == "dry_run"


def test_secrets_in_diffs_are_masked_unless_admin(api: Api, client: Client) -> None:
    patch = {"password": "N3w-secret-pw"}
    url = api.url(f"/phones/{MAC}/lines/1?dry_run=true")
    masked = client("PATCH", url, api.keys["operator"], json=patch)
    assert masked.status == 200, masked.body
    assert b"N3w-secret-pw" not in masked.raw
    assert b"Reception-200-pw" not in masked.raw
    changed = [f for f in files_of(masked.body, MAC).values() if f["diff_current"]]
    assert changed
    assert all(f["diff_current"] == SECRETS_DIFFER for f in changed)
    shown = client("PATCH", url, api.keys["admin"], json=patch)
    text = "".join(f["diff_current"] for f in files_of(shown.body, MAC).values())
    assert "N3w-secret-pw" in text
    assert "Reception-200-pw" in text
    viewer = client("PATCH", url, api.keys["viewer@demo"], json=patch)
    assert viewer.status == 403  # a viewer may not even preview a write


def test_diff_against_what_the_phone_last_fetched(api: Api, client: Client, db: Store) -> None:
    name = f"{MAC}-settings.cfg"
    body = served(api, name)
    eventually(
        lambda: any(r.path == name and r.etag == etag_of(body) for r in db.seen.fetched([MAC])),
        "the fetch's seen record with its ETag",
    )
    preview = client(
        "PUT", api.url(LANGUAGE + "?dry_run=true"), api.keys["admin"], json={"value": "fr"}
    )
    files = files_of(preview.body, MAC)
    fetched = files[name]
    assert fetched["last_fetched"]["etag"] == etag_of(body)
    assert fetched["diff_last_fetched"] == fetched["diff_current"] != ""


def test_changes_are_all_or_nothing(api: Api, client: Client, db: Store) -> None:
    key = api.keys["operator"]
    ops: list[dict[str, Any]] = [
        {"method": "POST", "path": "/tenants/other/groups", "body": {"name": "batch"}},
        {
            "method": "POST",
            "path": "/phones",
            "body": {
                "tenant": "other",
                "mac": "805ec0000099",
                "model": "t46s",
                "groups": ["batch"],
            },
        },
        {
            "method": "PATCH",
            "path": "/phones/805ec0000099",
            "body": {"description": "made in the same batch"},
        },
        {
            "method": "PUT",
            "path": "/scopes/group:other%2Fbatch/settings/language",
            "body": {"value": "fr"},
        },
    ]
    bad = {
        "method": "POST",
        "path": "/phones",
        "body": {"tenant": "other", "mac": "805ec0000098", "model": "t46s", "groups": ["nope"]},
    }
    before = dump(db)
    refused = client("POST", api.url("/changes"), key, json={"operations": [*ops, bad]})
    assert refused.status == 422, refused.body
    assert "nope" in refused.body["detail"]
    assert dump(db) == before
    assert client("GET", api.url("/phones/805ec0000099"), key).status == 404

    previewed = client("POST", api.url("/changes?dry_run=true"), key, json={"operations": ops})
    assert previewed.status == 200, previewed.body
    assert previewed.body["problems"] == []
    new = files_of(previewed.body, "805ec0000099")
    assert new
    assert all(f["diff_current"].startswith("--- /dev/null") for f in new.values())
    assert all(f["last_fetched"] is None for f in new.values())
    assert dump(db) == before

    done = client("POST", api.url("/changes"), key, json={"operations": ops})
    assert done.status == 200, done.body
    assert [r["status"] for r in done.body["results"]] == [201, 201, 200, 200]
    phone = client("GET", api.url("/phones/805ec0000099"), key)
    assert phone.body["description"] == "made in the same batch"
    audit = client("GET", api.url("/audit?limit=100"), api.keys["admin"]).body["items"]
    flags = {(e["action"], e["dry_run"]) for e in audit if e["request_id"]}
    assert ("phone.create", True) in flags
    assert ("phone.create", False) in flags
    cleanup = [
        {"method": "DELETE", "path": "/phones/805ec0000099"},
        {"method": "DELETE", "path": "/tenants/other/groups/batch"},
    ]
    assert client("POST", api.url("/changes"), key, json={"operations": cleanup}).status == 200


def test_change_sets_respect_roles_and_tenants(api: Api, client: Client) -> None:
    tenant = {
        "method": "POST",
        "path": "/tenants",
        "body": {"name": "t9", "sip_domain": "x.example"},
    }
    answer = client(
        "POST", api.url("/changes"), api.keys["operator"], json={"operations": [tenant]}
    )
    assert answer.status == 403
    assert answer.body["field"] == "operations[0]"
    foreign = {"method": "DELETE", "path": "/phones/805ec0aabbcc"}
    hidden = client(
        "POST", api.url("/changes"), api.keys["operator@demo"], json={"operations": [foreign]}
    )
    assert hidden.status == 404
    keys = {"method": "POST", "path": "/apikeys", "body": {"name": "k", "role": "viewer"}}
    assert (
        client("POST", api.url("/changes"), api.keys["admin"], json={"operations": [keys]}).status
        == 422
    )

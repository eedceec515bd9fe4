"""Every endpoint of the first batch, against the running server."""

from __future__ import annotations

import json

from tests.api.conftest import Api, Client
from tests.serve_process import run_cli_in_process

DEMO_PHONE = "0004f2123456"


def test_tenants_create_read_replace_patch_delete(api: Api, client: Client) -> None:
    admin = api.keys["admin"]
    body = {"name": "t1", "sip_domain": "pbx.t1.example", "time_zone": "Europe/Paris"}
    created = client("POST", api.url("/tenants"), admin, json=body)
    assert created.status == 201, created.body
    assert created.headers["Location"] == "/api/v1/tenants/t1"
    assert created.body["time_zone"] == "Europe/Paris"
    tag = created.headers["ETag"]
    got = client("GET", api.url("/tenants/t1"), admin)
    assert (got.status, got.headers["ETag"]) == (200, tag)
    replaced = client(
        "PUT", api.url("/tenants/t1"), admin, json={**body, "description": "first"},
        headers={"If-Match": tag},
    )  # fmt: skip
    assert replaced.status == 200, replaced.body
    assert replaced.body["description"] == "first"
    again = client("PUT", api.url("/tenants/t1"), admin, json={**body, "description": "first"})
    assert again.headers["ETag"] == replaced.headers["ETag"]  # idempotent
    patched = client("PATCH", api.url("/tenants/t1"), admin, json={"description": None})
    assert "description" not in patched.body
    assert client("DELETE", api.url("/tenants/t1"), admin).status == 204
    assert client("GET", api.url("/tenants/t1"), admin).status == 404
    listed = client("GET", api.url("/tenants?sort=-name&limit=1"), admin)
    assert listed.body["total"] == 2
    assert [t["name"] for t in listed.body["items"]] == ["other"]


def test_groups_ordering_moves_like_sipxconfig(api: Api, client: Client) -> None:
    key = api.keys["operator"]
    for name, weight in (("g1", 5), ("g2", 5), ("g3", 1)):
        made = client(
            "POST", api.url("/tenants/other/groups"), key, json={"name": name, "weight": weight}
        )
        assert made.status == 201, made.body

    def order() -> list[str]:
        page = client("GET", api.url("/tenants/other/groups?sort=-weight"), key).body
        return [g["name"] for g in page["items"]]

    before = order()
    assert before.index("g3") > before.index("g1")
    moved = client("POST", api.url("/tenants/other/groups/g3/up"), key)
    assert moved.status == 200, moved.body
    after = order()
    assert after.index("g3") == before.index("g3") - 1
    down = client("POST", api.url("/tenants/other/groups/g3/down"), key)
    assert down.status == 200
    assert order().index("g3") == before.index("g3")
    for name in ("g1", "g2", "g3"):
        assert client("DELETE", api.url(f"/tenants/other/groups/{name}"), key).status == 204


def test_phone_lifecycle_with_lines_and_write_only_password(api: Api, client: Client) -> None:
    key = api.keys["operator"]
    body = {
        "tenant": "other",
        "mac": "80:5E:C0:00:00:01",
        "model": "t46s",
        "description": "desk",
        "groups": ["ops"],
        "lines": [{"user": "401", "password": "s3cret", "display_name": "Ann"}],
    }
    created = client("POST", api.url("/phones"), key, json=body)
    assert created.status == 201, created.body
    assert created.headers["Location"] == "/api/v1/phones/805ec0000001"
    line = created.body["lines"][0]
    assert line["password_set"] is True
    assert "s3cret" not in created.raw.decode()
    # A replacement that leaves the password out keeps it.
    put = client(
        "PUT", api.url("/phones/805ec0000001"), key, json={**body, "lines": [{"user": "401"}]}
    )
    assert put.status == 200, put.body
    assert put.body["lines"][0]["password_set"] is True
    patched = client("PATCH", api.url("/phones/805e.c000.0001"), key, json={"description": "lobby"})
    assert patched.body["description"] == "lobby"
    assert client("POST", api.url("/phones/805ec0000001/disable"), key).body["enabled"] is False
    assert "enabled" not in client("POST", api.url("/phones/805ec0000001/enable"), key).body
    out = client("DELETE", api.url("/phones/805ec0000001/groups/ops"), key)
    assert "groups" not in out.body
    back = client("PUT", api.url("/phones/805ec0000001/groups/ops"), key)
    assert back.body["groups"] == ["ops"]
    # Lines.
    added = client("POST", api.url("/phones/805ec0000001/lines"), key, json={"user": "402"})
    assert (added.status, added.body["position"]) == (201, 2), added.body
    assert added.headers["Location"] == "/api/v1/phones/805ec0000001/lines/2"
    lines = client("GET", api.url("/phones/805ec0000001/lines"), key).body
    assert [x["user"] for x in lines["items"]] == ["401", "402"]
    changed = client("PATCH", api.url("/phones/805ec0000001/lines/2"), key, json={"label": "Two"})
    assert changed.body["label"] == "Two"
    replaced = client("PUT", api.url("/phones/805ec0000001/lines/2"), key, json={"user": "403"})
    assert (replaced.body["user"], replaced.body.get("label")) == ("403", None)
    assert client("DELETE", api.url("/phones/805ec0000001/lines/2"), key).status == 204
    assert client("GET", api.url("/phones/805ec0000001/lines/2"), key).status == 404
    listed = client("GET", api.url("/phones?tenant=other&model=t46s&sort=-mac"), key).body
    assert [p["mac"] for p in listed["items"]] == ["805ec0aabbcc", "805ec0000001"]
    assert client("DELETE", api.url("/phones/805ec0000001"), key).status == 204
    assert client("GET", api.url("/phones/805ec0000001"), key).status == 404


def test_settings_at_every_scope_with_provenance(api: Api, client: Client) -> None:
    key = api.keys["operator"]
    group = "/scopes/group:other%2Fops/settings/language"
    put = client("PUT", api.url(group), key, json={"value": "de", "locked": True})
    assert put.status == 200, put.body
    assert (put.body["stored"], put.body["locked_here"], put.body["set_here"]) == ("de", True, True)
    assert put.body["choices"]
    assert put.body["type"] == "enum"
    phone = client("GET", api.url("/scopes/phone:805ec0aabbcc/settings/language"), key).body
    assert phone["value"] == "de"
    assert phone["source"] == {"kind": "group", "scope": "other/ops", "locked": True}
    refused = client(
        "PUT", api.url("/scopes/phone:805ec0aabbcc/settings/language"), key, json={"value": "fr"}
    )
    assert refused.status == 422
    assert refused.body["code"] == 1003
    line = client(
        "PUT",
        api.url("/scopes/line:805ec0aabbcc%2F1/settings/line.label"),
        key,
        json={"value": "x"},
    )
    assert line.status in (200, 422), line.body
    tenant = client("GET", api.url("/scopes/tenant:other/settings/time.zone"), key).body
    assert tenant["source"]["kind"] in ("default", "preset")
    listed = client("GET", api.url("/scopes/group:other%2Fops/settings"), key).body
    assert listed["items"] == [{"name": "language", "value": "de", "locked": True}]
    assert client("DELETE", api.url(group), key).status == 204
    assert client("DELETE", api.url(group), key).status == 404
    bad = client("PUT", api.url("/scopes/tenant:other/settings/no.such"), key, json={"value": 1})
    assert (bad.status, bad.body["code"]) == (422, 1001)
    assert "no.such" in bad.body["detail"]


def test_explain_is_explain_json(api: Api, client: Client) -> None:
    answer = client("GET", api.url("/phones/00:04:f2:12:34:56/explain"), api.keys["viewer"])
    assert answer.status == 200, answer.body
    cli = run_cli_in_process(api.data_dir, "--db", api.db, "explain", DEMO_PHONE, "--json")
    assert answer.body == json.loads(cli.stdout)


def test_catalog(api: Api, client: Client) -> None:
    key = api.keys["viewer"]
    models = client("GET", api.url("/catalog/models?vendor=polycom&limit=1000"), key).body
    assert "vvx410" in [m["id"] for m in models["items"]]
    assert models["total"] == len(models["items"])
    families = client("GET", api.url("/catalog/families"), key).body
    assert "polycom/ucs" in [f["key"] for f in families["items"]]
    schema = client("GET", api.url("/catalog/settings?family=polycom/ucs&limit=1000"), key).body
    names = {s["name"]: s for s in schema["items"]}
    assert names["time.zone"]["scope"] == "phone"
    assert client("GET", api.url("/catalog/settings?family=nope"), key).status == 404


def test_api_keys_and_audit(api: Api, client: Client) -> None:
    admin = api.keys["admin"]
    made = client("POST", api.url("/apikeys"), admin, json={"name": "bot", "role": "viewer"})
    assert made.status == 201, made.body
    secret = made.body["key"]
    assert client("GET", api.url("/tenants"), secret).status == 200
    record = client("GET", api.url(f"/apikeys/{made.body['id']}"), admin).body
    assert record.get("key") is None
    assert client("DELETE", api.url(f"/apikeys/{made.body['id']}"), admin).status == 204
    assert client("GET", api.url("/tenants"), secret).status == 401
    listed = client("GET", api.url("/apikeys?limit=1000"), admin).body
    assert "bot" in [k["name"] for k in listed["items"]]
    # The audit log names the key, the request and the change, secrets redacted.
    done = client(
        "PUT", api.url("/scopes/phone:805ec0aabbcc/settings/language"), admin,
        json={"value": "fr"}, headers={"X-Request-ID": "req-audit-1"},
    )  # fmt: skip
    assert done.status == 200, done.body
    assert done.headers["X-Request-ID"] == "req-audit-1"
    log = client("GET", api.url("/audit?request_id=req-audit-1"), admin).body
    assert log["total"] == 1
    entry = log["items"][0]
    assert (entry["actor_kind"], entry["actor"], entry["action"]) == ("api", "admin", "setting.set")
    assert entry["after"] == {"value": "fr", "locked": False} or entry["after"]["value"] == "fr"
    client(
        "PATCH", api.url("/phones/805ec0aabbcc/lines/1"), admin, json={"password": "n3w-s3cret"},
        headers={"X-Request-ID": "req-audit-2"},
    )  # fmt: skip
    entry = client("GET", api.url("/audit?request_id=req-audit-2"), admin).body["items"][0]
    assert entry["after"] == {"password": "(set)"}
    assert "n3w-s3cret" not in json.dumps(entry)
    cli = run_cli_in_process(
        api.data_dir, "--db", api.db, "audit", "--phone", "80:5e:c0:aa:bb:cc", "--json"
    )
    assert any(e["request_id"] == "req-audit-2" for e in json.loads(cli.stdout)["items"])


def test_keys_on_an_entity_and_as_a_setting(api: Api, client: Client) -> None:
    key = api.keys["operator"]
    keys = [{"type": "line", "line": 1}, {"type": "blf", "value": "401", "label": "A & <b>"}]
    body = {
        "tenant": "other",
        "mac": "80:5E:C0:00:00:02",
        "model": "t46s",
        "keys": keys,
        "lines": [{"user": "401", "password": "s3cret"}],
    }
    created = client("POST", api.url("/phones"), key, json=body)
    assert created.status == 201, created.body
    assert created.body.get("keys") == keys, created.body
    setting = client("GET", api.url("/scopes/phone:805ec0000002/settings/keys"), key).body
    assert (setting["value"], setting["type"]) == (keys, "keys")
    refused = client(
        "PUT",
        api.url("/scopes/phone:805ec0000002/settings/keys"),
        key,
        json={"value": [{"type": "blf", "value": "999"}]},
    )
    assert refused.status == 422, refused.body
    assert "blf target '999' is neither a line user" in refused.body["detail"]
    explained = client("GET", api.url("/phones/805ec0000002/explain"), key).body
    assert explained["keys"]["source"] == "phone"
    assert [p["slot"] for p in explained["keys"]["placed"]] == [1, 2]
    patched = client("PATCH", api.url("/phones/805ec0000002"), key, json={"description": "x"})
    assert (patched.status, patched.body.get("keys")) == (200, keys), patched.body.get("detail")
    assert client("DELETE", api.url("/phones/805ec0000002"), key).status == 204


def test_phone_search_finds_any_spelling_within_the_keys_tenant(api: Api, client: Client) -> None:
    def found(query: str, key: str) -> list[str]:
        answer = client("GET", api.url(f"/phones?{query}"), api.keys[key])
        assert answer.status == 200, answer.body
        return [p["mac"] for p in answer.body["items"]]

    # Other tests of this module add phones: membership, not whole lists, where they could.
    assert found("q=00-04-F2-12-34-56", "viewer") == ["0004f2123456"]
    everyone, demo = found("q=805e.c0", "viewer"), found("q=805e.c0", "viewer@demo")
    assert {"805ec0123456", "805ec0aabbcc"} <= set(everyone)
    assert "805ec0123456" in demo
    assert "805ec0aabbcc" not in demo
    assert "805ec0123456" in found("q=sam%20SALES", "viewer")  # a display name, any case
    assert "805ec0aabbcc" in found("q=300", "viewer")  # the other tenant's line user
    assert "805ec0aabbcc" not in found("q=300", "viewer@demo")

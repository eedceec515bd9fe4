"""Roles × tenants on representative endpoints; If-Match between two clients; hostile input."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, Client

# (method, path, body, least role). Paths name tenant "other" or its phone:
# keys limited to tenant "demo" must get 404 for them, whatever their role.
OTHER = [
    ("GET", "/tenants/other", None, "viewer"),
    ("GET", "/phones/805ec0aabbcc", None, "viewer"),
    ("GET", "/phones/805ec0aabbcc/explain", None, "viewer"),
    ("GET", "/scopes/group:other%2Fops/settings/language", None, "viewer"),
    ("PATCH", "/phones/805ec0aabbcc", {"description": "x"}, "operator"),
    ("PUT", "/scopes/phone:805ec0aabbcc/settings/language", {"value": "en"}, "operator"),
    ("PATCH", "/tenants/other", {"description": "x"}, "admin"),
]
DEMO = [
    ("GET", "/phones/0004f2123456", None, "viewer"),
    ("PATCH", "/phones/0004f2123456", {"description": "Reception"}, "operator"),
    ("PUT", "/scopes/tenant:demo/settings/language", {"value": "en"}, "operator"),
    ("POST", "/tenants", {"name": "x", "sip_domain": "x.example"}, "admin"),
    ("GET", "/apikeys", None, "admin"),
]
RANK = {"viewer": 0, "operator": 1, "admin": 2}


@pytest.mark.parametrize(
    "key_name", ["admin", "operator", "viewer", "operator@demo", "viewer@demo"]
)
def test_role_and_tenant_matrix(api: Api, client: Client, key_name: str) -> None:
    key = api.keys[key_name]
    role, _, tenant = key_name.partition("@")
    for method, path, body, least in OTHER + DEMO:
        answer = client(method, api.url(path), key, json=body)
        other_tenant = (method, path, body, least) in OTHER
        if RANK[role] < RANK[least]:
            expected = 403  # the operation itself, whichever tenant
        elif tenant and other_tenant:
            expected = 404  # another tenant's resources do not exist for this key
        else:
            expected = 201 if method == "POST" else 200
        assert answer.status == expected, (key_name, method, path, answer.body)
        if expected >= 400:
            assert answer.headers["Content-Type"].startswith("application/problem+json")
        if answer.status == 201:
            assert client("DELETE", api.url("/tenants/x"), api.keys["admin"]).status == 204


def test_tenant_scoped_lists_show_only_their_tenant(api: Api, client: Client) -> None:
    key = api.keys["viewer@demo"]
    tenants = client("GET", api.url("/tenants"), key).body
    assert [t["name"] for t in tenants["items"]] == ["demo"]
    phones = client("GET", api.url("/phones?limit=1000"), key).body
    assert {p["tenant"] for p in phones["items"]} == {"demo"}
    assert client("GET", api.url("/phones?tenant=other"), key).body["total"] == 0


def test_if_match_refuses_a_lost_update(api: Api, client: Client) -> None:
    first, second = api.keys["admin"], api.keys["operator"]
    url = api.url("/phones/805ec0aabbcc")
    tag = client("GET", url, first).headers["ETag"]
    assert client("GET", url, second).headers["ETag"] == tag
    won = client("PATCH", url, first, json={"description": "one"}, headers={"If-Match": tag})
    assert won.status == 200, won.body
    lost = client("PATCH", url, second, json={"description": "two"}, headers={"If-Match": tag})
    assert (lost.status, lost.body["code"]) == (412, 1006)
    assert client("GET", url, second).body["description"] == "one"
    fresh = client("GET", url, second).headers["ETag"]
    retried = client("PATCH", url, second, json={"description": "two"}, headers={"If-Match": fresh})
    assert retried.status == 200
    # A line's password changes its ETag although it is never shown.
    line = api.url("/phones/805ec0aabbcc/lines/1")
    before = client("GET", line, first).headers["ETag"]
    client("PATCH", line, first, json={"password": "changed-pw"})
    assert client("GET", line, first).headers["ETag"] != before


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{", "application/json", 400, 1101),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400, 1101),
        (b'{"a":' * 100 + b"1" + b"}" * 100, "application/json", 400, 1101),
        (b"\xff\xfe", "application/json", 400, 1101),
        (b"[]", "application/json", 400, 1101),
        (b'{"description": 5}', "application/json", 422, 1003),
        (b'{"description": "x"}', "text/plain", 415, 1103),
        (b'{"description": "' + b"x" * (2 << 20) + b'"}', "application/json", 413, 1102),
        (b'{"description": "\\ud800"}', "application/json", 422, 1003),
        (b'{"groups": ["../../etc"]}', "application/json", 422, 1003),
    ],
)
def test_hostile_bodies_get_problem_documents(
    api: Api, client: Client, body: bytes, content_type: str, status: int, code: int
) -> None:
    answer = client(
        "PATCH", api.url("/phones/805ec0aabbcc"), api.keys["admin"],
        data=body, headers={"Content-Type": content_type},
    )  # fmt: skip
    assert (answer.status, answer.body["code"]) == (status, code), answer.body
    assert "Traceback" not in answer.raw.decode("utf-8", "replace")
    assert answer.body["detail"]


def test_unknown_routes_methods_and_parameters(api: Api, client: Client) -> None:
    key = api.keys["admin"]
    assert client("GET", api.url("/nothing"), key).body["code"] == 1105
    wrong = client("POST", api.url("/phones/805ec0aabbcc"), key, json={})
    assert (wrong.status, wrong.headers["Allow"]) == (405, "DELETE, GET, PATCH, PUT")
    assert client("GET", api.url("/phones?limit=0"), key).body["code"] == 1104
    assert client("GET", api.url("/phones?bogus=1"), key).body["code"] == 1104
    assert client("GET", api.url("/phones/not-a-mac"), key).status == 422


def test_wrong_keys_count_towards_the_address_ban(api: Api, client: Client) -> None:
    # The server's ban limit is the default (30 failures a minute); a good key
    # keeps working until then, and the failures are logged as lookups are.
    for _ in range(3):
        assert client("GET", api.url("/tenants"), "prov_000000000000_" + "A" * 43).status == 401
    assert client("GET", api.url("/tenants"), api.keys["viewer"]).status == 200
    log = (api.data_dir / "serve.log").read_text()
    assert "event=api_key_failed client=127.0.0.1" in log


# The resources beside the fleet: (method, path, body, least role, status when allowed).
OPERATIONS_OTHER = [
    ("GET", "/phones/805ec0aabbcc/files", None, "viewer", 200),
    ("GET", "/phones/805ec0aabbcc/files/805ec0aabbcc.cfg", None, "viewer", 200),
    ("POST", "/jobs", {"event": "resync", "tenant": "other"}, "operator", 201),
    ("POST", "/jobs", {"event": "resync", "phones": ["805ec0aabbcc"]}, "operator", 201),
    ("POST", "/jobs", {"event": "resync", "group": "other/ops"}, "operator", 201),
]
OPERATIONS = [
    ("GET", "/jobs", None, "viewer", 200),
    ("GET", "/firmware", None, "viewer", 200),
    ("GET", "/rollouts", None, "viewer", 200),
    ("GET", "/devices/pending", None, "viewer", 200),
    ("GET", "/devices/seen", None, "viewer", 200),
    ("GET", "/fleet", None, "viewer", 200),
    ("GET", "/phones/0004f2123456/files", None, "viewer", 200),
    ("POST", "/jobs", {"event": "resync", "tenant": "demo"}, "operator", 201),
    ("POST", "/devices/pending/805ec0fffffe/claim", {}, "operator", 404),  # none pending
    ("POST", "/firmware/yealink/none/activate", None, "admin", 404),
    ("POST", "/rollouts", {"vendor": "yealink", "label": "none", "tenant": "demo"}, "admin", 404),
    ("POST", "/rollouts/999999/halt", None, "admin", 404),
    ("POST", "/fleet/apply", {"content": ""}, "admin", 200),  # an empty file changes nothing
]


@pytest.mark.parametrize(
    "key_name", ["admin", "operator", "viewer", "operator@demo", "viewer@demo"]
)
def test_role_and_tenant_matrix_of_operations(api: Api, client: Client, key_name: str) -> None:
    key = api.keys[key_name]
    role, _, tenant = key_name.partition("@")
    for method, path, body, least, allowed in OPERATIONS_OTHER + OPERATIONS:
        answer = client(method, api.url(path), key, json=body)
        if RANK[role] < RANK[least]:
            expected = 403
        elif tenant and (method, path, body, least, allowed) in OPERATIONS_OTHER:
            expected = 404
        else:
            expected = allowed
        assert answer.status == expected, (key_name, method, path, answer.body)
        if expected >= 400:
            assert answer.headers["Content-Type"].startswith("application/problem+json")

"""``POST /api/v1/fleet/apply?dry_run=true``: what a fleet file would change, stored nowhere."""

from __future__ import annotations

from tests.api.conftest import Answer, Api, Client
from tests.api.test_operations import audit, problem

OTHER_PHONE = "805ec0aabbcc"
NEW_PHONE = "805ec0aabbdd"
# The tenant "other" of tests/api/conftest.py as a fleet file, with a new registrar,
# a new group and a new phone: a fleet file lists a tenant whole.
CHANGED = f"""
[[tenants]]
name = "other"
sip_domain = "pbx.other.example"
registrar = {{ host = "sip.moved.example", port = 5070 }}

[[groups]]
tenant = "other"
name = "ops"

[[groups]]
tenant = "other"
name = "lobby"

[[phones]]
tenant = "other"
mac = "{OTHER_PHONE}"
model = "t46s"
groups = ["ops"]

[[phones.lines]]
user = "300"
password = "other-secret"

[[phones]]
tenant = "other"
mac = "{NEW_PHONE}"
model = "t46s"
groups = ["lobby"]
"""


def _apply(
    client: Client, api: Api, content: str, query: str = "?dry_run=true", key: str = "admin"
) -> Answer:
    body = {"format": "toml", "content": content}
    return client("POST", api.url(f"/fleet/apply{query}"), api.keys[key], json=body)


def _fleet(client: Client, api: Api) -> str:
    answer = client("GET", api.url("/fleet?format=json"), api.keys["admin"])
    assert answer.status == 200, answer.body
    content: str = answer.body["content"]
    return content


def _diff(answer: Answer, mac: str, name: str) -> str:
    phone = next(p for p in answer.body["phones"] if p["mac"] == mac)
    diff: str = next(f for f in phone["files"] if f["name"] == name)["diff_current"]
    return diff


def test_a_dry_run_says_what_would_change_stores_nothing_then_applies_the_same(
    api: Api, client: Client
) -> None:
    before = _fleet(client, api)
    preview = _apply(client, api, CHANGED)
    assert preview.status == 200, preview.body
    assert preview.body["dry_run"] is True
    assert preview.body["problems"] == []
    changes = preview.body["changes"]
    assert changes["group created"] == 1
    assert changes["phone created"] == 1
    assert any(f"phone {NEW_PHONE}" in line for line in preview.body["described"]), preview.body
    # Each phone whose files would change, with its per-file diffs.
    assert {p["mac"] for p in preview.body["phones"]} == {OTHER_PHONE, NEW_PHONE}
    moved = _diff(preview, OTHER_PHONE, f"{OTHER_PHONE}.cfg")
    assert "-account.1.sip_server.1.address = pbx.other.example\n" in moved
    assert "+account.1.sip_server.1.address = sip.moved.example\n" in moved
    assert "+account.1.sip_server.1.port = 5070\n" in moved
    assert _diff(preview, NEW_PHONE, f"{NEW_PHONE}.cfg").startswith("--- /dev/null\n")
    # Nothing stored but the audit entries, marked as a dry run's.
    assert _fleet(client, api) == before
    missing = client("GET", api.url(f"/phones/{NEW_PHONE}"), api.keys["admin"])
    problem(missing, 404, 1004)
    ours = audit(client, api, tenant="other", actor="admin")
    assert [(e["action"], e["dry_run"]) for e in ours] == [("fleet.apply", True)]
    # Applied for real: what the preview said.
    applied = _apply(client, api, CHANGED, query="")
    assert applied.status == 200, applied.body
    assert applied.body["dry_run"] is False
    assert applied.body["phones"] == []
    assert applied.body["changes"] == changes
    assert applied.body["described"] == preview.body["described"]
    tenant = client("GET", api.url("/tenants/other"), api.keys["admin"]).body
    assert tenant["registrar"] == {"host": "sip.moved.example", "port": 5070}
    assert client("GET", api.url(f"/phones/{NEW_PHONE}"), api.keys["admin"]).status == 200
    again = _apply(client, api, CHANGED)
    assert again.body["changes"] == {}
    assert again.body["phones"] == []


def test_a_bad_fleet_file_is_refused_clearly_and_stores_nothing(api: Api, client: Client) -> None:
    before = _fleet(client, api)
    unreadable = problem(_apply(client, api, "[[tenants]\n"), 422, 1001)
    assert unreadable["detail"].startswith("body.content: Expected ']]'")
    wrong = CHANGED.replace('model = "t46s"\ngroups = ["lobby"]', 'model = "nope"')
    assert problem(_apply(client, api, wrong), 422, 1003)["field"] == "phones[1].model"
    # Refused only once applied (the group is not in the file): the preview's problem,
    # as the real request's would be, and no diffs.
    refused = _apply(client, api, CHANGED.replace('groups = ["lobby"]', 'groups = ["missing"]'))
    assert refused.status == 200, refused.body
    assert [p["code"] for p in refused.body["problems"]] == [1003]
    assert "unknown group 'missing' in tenant other" in refused.body["problems"][0]["detail"]
    assert refused.body["phones"] == refused.body["described"] == []
    assert refused.body["changes"] == {}
    really = _apply(client, api, CHANGED.replace('groups = ["lobby"]', 'groups = ["missing"]'), "")
    assert "unknown group 'missing'" in problem(really, 422, 1003)["detail"]
    problem(_apply(client, api, CHANGED, query="?dry_run=maybe"), 400, 1104)
    problem(_apply(client, api, CHANGED, key="operator"), 403, 1202)
    assert _fleet(client, api) == before

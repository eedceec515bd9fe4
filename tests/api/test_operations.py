"""Jobs, firmware, rollouts, unknown devices, fleet files and rendered files, over real HTTP.

Each write is checked in the audit log as well: the entry the service
function recorded in the write's own transaction.
"""

from __future__ import annotations

import hashlib
import io
import json
import tomllib
import uuid
import zipfile
from typing import Any

from provisioner.catalog import Catalog
from provisioner.store import PendingDevice, Store
from tests.api.conftest import Answer, Api, Client
from tests.waiting import eventually

OTHER_PHONE = "805ec0aabbcc"  # tenant "other", Yealink T46S, line password "other-secret"
DEMO_YEALINK = "805ec0123456"  # tenant "demo"
ROM_MAGIC = bytes.fromhex("ad24ec0b")  # how every Yealink .rom starts
ROM = "T46S(T48S,T42S,T41S)-66.86.0.20.rom"


def multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with ``fields`` and one file part, and its Content-Type."""
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode() + b"\r\n")
    out.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    out.write(content + f"\r\n--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def rom_zip() -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        archive.writestr(ROM, ROM_MAGIC + b"image" * 99 + b"!")
    return raw.getvalue()


def upload(client: Client, api: Api, key: str, label: str, content: bytes, name: str) -> Answer:
    body, content_type = multipart({"vendor": "yealink", "label": label}, name, content)
    return client(
        "POST", api.url("/firmware"), key, data=body, headers={"Content-Type": content_type}
    )


def audit(client: Client, api: Api, **filters: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    answer = client("GET", api.url(f"/audit?{query}"), api.keys["admin"])
    assert answer.status == 200, answer.body
    items: list[dict[str, Any]] = answer.body["items"]
    return items


def problem(answer: Answer, status: int, code: int) -> dict[str, Any]:
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.body["code"] == code, answer.body
    body: dict[str, Any] = answer.body
    return body


# --- jobs ---------------------------------------------------------------------


def test_jobs_by_each_selector_status_and_cancel(api: Api, client: Client) -> None:
    key = api.keys["operator"]
    made = client("POST", api.url("/jobs"), key, json={"event": "reboot", "tenant": "other"})
    assert made.status == 201, made.body
    job = made.body
    assert made.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert (job["selector"], job["event"], job["total"]) == ("tenant other", "reboot", 1)
    for selector, expected in (
        ({"group": "other/ops"}, "group other/ops"),
        ({"model": "T46S"}, "model t46s"),
        ({"phones": ["80:5E:C0:AA:BB:CC"]}, f"phone {OTHER_PHONE}"),
    ):
        again = client("POST", api.url("/jobs"), key, json={"event": "resync", **selector})
        assert (again.status, again.body["selector"]) == (201, expected), again.body
    phones = client("GET", api.url(f"/jobs/{job['id']}/phones"), api.keys["viewer"])
    assert phones.status == 200
    assert [p["mac"] for p in phones.body["items"]] == [OTHER_PHONE]
    assert phones.body["total"] == 1
    listed = client("GET", api.url("/jobs?limit=2"), api.keys["viewer"]).body
    assert listed["total"] >= 4
    assert len(listed["items"]) == 2
    assert listed["items"][0]["id"] > listed["items"][1]["id"]  # newest first
    oldest = client("GET", api.url("/jobs?sort=id&limit=1"), api.keys["viewer"]).body
    assert oldest["items"][0]["id"] <= job["id"]

    # Held back long enough to be cancelled before the server sends a NOTIFY.
    delay = api.url("/scopes/tenant:demo/settings/notify.delay_seconds")
    assert client("PUT", delay, key, json={"value": 600}).status == 200
    last = client("POST", api.url("/jobs"), key, json={"event": "resync", "tenant": "demo"}).body
    assert last["delay"] == 600
    assert client("DELETE", delay, key).status == 204
    cancelled = client("POST", api.url(f"/jobs/{last['id']}/cancel"), key)
    assert (cancelled.status, cancelled.body["state"]) == (200, "cancelled"), cancelled.body
    problem(client("POST", api.url(f"/jobs/{last['id']}/cancel"), key), 404, 1004)
    actions = [e["action"] for e in audit(client, api, actor="operator")]
    assert "job.create" in actions
    assert "job.cancel" in actions
    created = audit(client, api, action="job.create", tenant="other", limit="100")
    assert any(e["after"].get("selector") == "tenant other" for e in created)
    cancels = audit(client, api, action="job.cancel", tenant="demo")
    assert cancels[0]["scope"] == f"job:{last['id']}"


def test_job_problems(api: Api, client: Client) -> None:
    key = api.keys["operator"]
    both = client("POST", api.url("/jobs"), key, json={"event": "resync", "tenant": "demo",
                                                        "model": "t46s"})  # fmt: skip
    assert "exactly one of" in problem(both, 422, 1001)["detail"]
    none = client("POST", api.url("/jobs"), key, json={"event": "resync"})
    problem(none, 422, 1001)
    problem(client("POST", api.url("/jobs"), key, json={"event": "x", "tenant": "demo"}), 422, 1003)
    missing = client("POST", api.url("/jobs"), key, json={"event": "resync", "group": "demo/nope"})
    assert "no group demo/nope" in problem(missing, 404, 1004)["detail"]
    problem(client("GET", api.url("/jobs/999999"), key), 404, 1004)
    problem(client("GET", api.url("/jobs/abc"), key), 404, 1004)


def test_a_tenant_key_sees_and_selects_only_its_tenant(api: Api, client: Client) -> None:
    demo = api.keys["operator@demo"]
    theirs = client("POST", api.url("/jobs"), api.keys["operator"],
                    json={"event": "resync", "tenant": "other"}).body  # fmt: skip
    problem(client("GET", api.url(f"/jobs/{theirs['id']}"), demo), 404, 1004)
    problem(client("POST", api.url(f"/jobs/{theirs['id']}/cancel"), demo), 404, 1004)
    listed = client("GET", api.url("/jobs?limit=1000"), demo).body
    assert theirs["id"] not in [j["id"] for j in listed["items"]]
    other_phone = {"event": "resync", "phones": [OTHER_PHONE]}
    problem(client("POST", api.url("/jobs"), demo, json=other_phone), 404, 1004)
    # A model spans tenants: the key's selection keeps its own phones only.
    mine = client("POST", api.url("/jobs"), demo, json={"event": "resync", "model": "t46s"})
    assert mine.status == 201, mine.body
    targets = client("GET", api.url(f"/jobs/{mine.body['id']}/phones"), demo).body["items"]
    assert [t["mac"] for t in targets] == [DEMO_YEALINK]
    assert client("GET", api.url(f"/jobs/{mine.body['id']}"), demo).status == 200


# --- firmware and rollouts ------------------------------------------------------


def test_firmware_upload_list_activate_deactivate_remove(api: Api, client: Client) -> None:
    admin = api.keys["admin"]
    content = rom_zip()
    refused = upload(client, api, api.keys["operator"], "r1", content, "t46s.zip")
    problem(refused, 403, 1202)
    made = upload(client, api, admin, "r1", content, "t46s.zip")
    assert made.status == 201, made.body
    assert made.headers["Location"] == "/api/v1/firmware/yealink/r1"
    assert made.body["upload_sha256"] == hashlib.sha256(content).hexdigest()
    (file,) = made.body["files"]
    assert file["path"] == ROM
    assert file["sha256"] == hashlib.sha256(ROM_MAGIC + b"image" * 99 + b"!").hexdigest()
    assert (made.body["version"], made.body["active"]) == ("66.86.0.20", False)
    problem(upload(client, api, admin, "r1", content, "t46s.zip"), 422, 1001)  # labels are unique
    listed = client("GET", api.url("/firmware?vendor=yealink"), api.keys["viewer"]).body
    assert [s["label"] for s in listed["items"]] == ["r1"]
    active = client("POST", api.url("/firmware/yealink/r1/activate"), admin)
    assert (active.status, active.body["active"]) == (200, True), active.body
    assert client("GET", api.url("/firmware?active=true"), admin).body["total"] == 1
    problem(client("DELETE", api.url("/firmware/yealink/r1"), admin), 422, 1001)  # still active
    off = client("POST", api.url("/firmware/yealink/r1/deactivate"), admin)
    assert (off.status, off.body["active"]) == (200, False)
    gone = client("DELETE", api.url("/firmware/yealink/r1"), admin)
    assert gone.status == 200, gone.body
    problem(client("GET", api.url("/firmware/yealink/r1"), admin), 404, 1004)
    actions = {e["action"] for e in audit(client, api, actor="admin", limit="1000")}
    for action in ("firmware.upload", "firmware.activate", "firmware.deactivate",
                   "firmware.remove"):  # fmt: skip
        assert action in actions


def test_firmware_upload_refusals(api: Api, client: Client) -> None:
    admin = api.keys["admin"]
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../evil.cfg", b"x")
    refused = upload(client, api, admin, "evil", evil.getvalue(), "evil.zip")
    assert "../evil.cfg" in problem(refused, 422, 1001)["detail"]
    not_rom = upload(client, api, admin, "bad", b"not an image", ROM)
    assert "is not a yealink firmware image" in problem(not_rom, 422, 1001)["detail"]
    as_json = client("POST", api.url("/firmware"), admin, json={"vendor": "yealink"})
    problem(as_json, 415, 1103)
    body, content_type = multipart({"vendor": "nokia", "label": "x"}, "a.zip", rom_zip())
    bad_vendor = client("POST", api.url("/firmware"), admin, data=body,
                        headers={"Content-Type": content_type})  # fmt: skip
    assert "unknown vendor 'nokia'" in problem(bad_vendor, 422, 1001)["detail"]
    body, content_type = multipart({"label": "x"}, "a.zip", rom_zip())
    no_vendor = client("POST", api.url("/firmware"), admin, data=body,
                       headers={"Content-Type": content_type})  # fmt: skip
    assert problem(no_vendor, 422, 1003)["field"] == "body.vendor"
    listed = client("GET", api.url("/firmware"), admin).body
    assert all(s["label"] not in ("evil", "bad", "x") for s in listed["items"])
    assert not list((api.data_dir / "uploads").iterdir())  # spool files are removed


def test_rollout_start_status_halt_resume_rollback(api: Api, client: Client) -> None:
    admin = api.keys["admin"]
    assert upload(client, api, admin, "r2", rom_zip(), "t46s.zip").status == 201
    assert client("POST", api.url("/firmware/yealink/r2/activate"), admin).status == 200
    body = {"vendor": "yealink", "label": "r2", "tenant": "other", "wave_minutes": 60}
    problem(client("POST", api.url("/rollouts"), api.keys["operator"], json=body), 403, 1202)
    started = client("POST", api.url("/rollouts"), admin, json=body)
    assert started.status == 201, started.body
    number = started.body["id"]
    assert started.body["selector"] == "tenant other"
    assert started.body["counts"] == {"pending": 1}

    def waved() -> dict[str, Any] | None:
        status = client("GET", api.url(f"/rollouts/{number}"), api.keys["viewer"]).body
        return status if status["waves"] else None

    status = eventually(waved, "the server starts the canary wave")
    assert status["waves"] == [{"wave": 1, "phones": 1, "counts": {"waiting": 1}}]
    assert status["phones"][0]["mac"] == OTHER_PHONE
    steps = audit(client, api, action="rollout.wave")
    assert steps
    assert steps[0]["scope"] == f"rollout:{number}"
    assert steps[0]["actor"] == "rollouts"
    assert steps[0]["after"]["pinned"] == [OTHER_PHONE]

    problem(client("GET", api.url(f"/rollouts/{number}"), api.keys["viewer@demo"]), 404, 1004)
    halted = client("POST", api.url(f"/rollouts/{number}/halt"), admin)
    assert (halted.status, halted.body["state"]) == (200, "halted"), halted.body
    problem(client("POST", api.url(f"/rollouts/{number}/halt"), admin), 404, 1004)
    resumed = client("POST", api.url(f"/rollouts/{number}/resume"), admin)
    assert (resumed.status, resumed.body["state"]) == (200, "running"), resumed.body
    back = client("POST", api.url(f"/rollouts/{number}/rollback"), admin)
    assert (back.status, back.body["state"]) == (200, "rolled_back"), back.body
    assert back.body["phones"][0]["state"] == "restored"
    listed = client("GET", api.url("/rollouts?state=rolled_back"), api.keys["viewer"]).body
    assert number in [r["id"] for r in listed["items"]]
    mine = [e["action"] for e in audit(client, api, actor="admin", limit="1000")]
    for action in ("rollout.start", "rollout.halt", "rollout.resume", "rollout.rollback"):
        assert action in mine


# --- unknown devices --------------------------------------------------------------


def _quarantine(api: Api, catalog: Catalog, *devices: tuple[str, str]) -> None:
    store = Store.open(api.db, catalog)
    try:
        for mac, tenant in devices:
            store.seen.quarantine(
                PendingDevice(mac, tenant, "yealink", "t46s", "66.85.0.5", "10.0.0.7", "UA", 1, 2)
            )
    finally:
        store.close()


def test_pending_devices_claim_and_reject(api: Api, client: Client, catalog: Catalog) -> None:
    _quarantine(api, catalog, ("805ec0112201", "demo"), ("805ec0112202", "other"),
                ("805ec0112203", "demo"))  # fmt: skip
    everyone = client("GET", api.url("/devices/pending"), api.keys["viewer"]).body
    assert {d["mac"] for d in everyone["items"]} >= {"805ec0112201", "805ec0112202"}
    demo = client("GET", api.url("/devices/pending"), api.keys["viewer@demo"]).body
    assert {d["tenant"] for d in demo["items"]} == {"demo"}
    operator = api.keys["operator@demo"]
    problem(client("POST", api.url("/devices/pending/805ec0112202/claim"), operator, json={}),
            404, 1004)  # fmt: skip
    problem(client("POST", api.url("/devices/pending/805ec0112201/claim"), api.keys["viewer"],
                   json={}), 403, 1202)  # fmt: skip
    # A line the phone cannot take refuses the whole claim: the device stays held.
    problem(client("POST", api.url("/devices/pending/805ec0112201/claim"), operator,
                   json={"lines": [{"user": "2101", "position": 99}]}), 422, 1003)  # fmt: skip
    assert "805ec0112201" in {
        d["mac"] for d in client("GET", api.url("/devices/pending"), operator).body["items"]
    }
    claimed = client("POST", api.url("/devices/pending/80:5e:c0:11:22:01/claim"), operator,
                     json={"description": "found in the lab",
                           "lines": [{"user": "2101", "display_name": "Lab",
                                      "password": "lab-secret-2101"}]})  # fmt: skip
    assert claimed.status == 201, claimed.body
    lines = client("GET", api.url("/phones/805ec0112201/lines"), operator).body["items"]
    assert [(x["user"], x["display_name"], x["password_set"]) for x in lines] == [
        ("2101", "Lab", True)
    ]
    assert claimed.headers["Location"] == "/api/v1/phones/805ec0112201"
    assert (claimed.body["tenant"], claimed.body["model"]) == ("demo", "t46s")
    assert client("GET", api.url("/phones/805ec0112201"), operator).status == 200
    rejected = client("POST", api.url("/devices/pending/805ec0112203/reject"), operator)
    assert rejected.status == 200, rejected.body
    assert rejected.body["state"] == "rejected"
    assert rejected.body["rejected_by"].startswith("apikey operator-demo (id ")
    assert rejected.body["rejected_at"] > 0
    problem(client("POST", api.url("/devices/pending/805ec0112203/reject"), operator), 409, 1005)
    # It asks again: the record is refreshed, the decision stands.
    _quarantine(api, catalog, ("805ec0112203", "demo"))
    left = client("GET", api.url("/devices/pending"), api.keys["viewer"]).body["items"]
    assert {d["mac"]: d["state"] for d in left} == {"805ec0112202": "pending",
                                                    "805ec0112203": "rejected"}  # fmt: skip
    only = client("GET", api.url("/devices/pending?state=rejected"), api.keys["viewer"]).body
    assert [d["mac"] for d in only["items"]] == ["805ec0112203"]
    assert client("DELETE", api.url("/devices/pending/805ec0112203"), operator).status == 204
    problem(client("DELETE", api.url("/devices/pending/805ec0112203"), operator), 404, 1004)
    _quarantine(api, catalog, ("805ec0112203", "demo"))  # forgotten: held anew
    again = client("GET", api.url("/devices/pending?state=pending"), api.keys["viewer"]).body
    assert "805ec0112203" in {d["mac"] for d in again["items"]}
    actions = {e["action"] for e in audit(client, api, mac="805ec0112201")}
    assert {"phone.create", "device.claim"} <= actions
    assert sorted(e["action"] for e in audit(client, api, mac="805ec0112203")) == [
        "device.forget", "device.reject"]  # fmt: skip
    assert client("DELETE", api.url("/phones/805ec0112201"), operator).status == 204
    assert client("DELETE", api.url("/devices/pending/805ec0112203"), operator).status == 204


def test_seen_records(api: Api, client: Client) -> None:
    seen = client("GET", api.url("/devices/seen?unknown=true"), api.keys["viewer"])
    assert seen.status == 200
    assert "total" in seen.body
    problem(client("GET", api.url("/devices/seen?sort=mac"), api.keys["viewer"]), 422, 1001)
    scoped = client("GET", api.url("/devices/seen?unknown=true"), api.keys["viewer@demo"]).body
    assert scoped["total"] == 0


# --- fleet files and rendered files --------------------------------------------------


def test_fleet_export_holds_secrets_only_for_admins(api: Api, client: Client) -> None:
    full = client("GET", api.url("/fleet"), api.keys["admin"])
    assert full.status == 200, full.body
    document = tomllib.loads(full.body["content"])
    assert {t["name"] for t in document["tenants"]} >= {"demo", "other"}
    assert "other-secret" in full.body["content"]
    assert full.body["secrets"] is True
    viewer = client("GET", api.url("/fleet?format=json"), api.keys["viewer"]).body
    assert "other-secret" not in viewer["content"]
    assert viewer["secrets"] is False
    phones = {p["mac"]: p for p in json.loads(viewer["content"])["phones"]}
    assert phones[OTHER_PHONE]["lines"][0]["password_set"] is True
    demo = tomllib.loads(client("GET", api.url("/fleet"), api.keys["viewer@demo"]).body["content"])
    assert [t["name"] for t in demo["tenants"]] == ["demo"]


def test_fleet_apply(api: Api, client: Client) -> None:
    text = '[[tenants]]\nname = "applied"\nsip_domain = "pbx.applied.example"\n'
    body = {"format": "toml", "content": text}
    problem(client("POST", api.url("/fleet/apply"), api.keys["operator"], json=body), 403, 1202)
    applied = client("POST", api.url("/fleet/apply"), api.keys["admin"], json=body)
    assert applied.status == 200, applied.body
    assert applied.body["changes"].get("tenant created") == 1
    assert client("GET", api.url("/tenants/applied"), api.keys["admin"]).status == 200
    assert "fleet.apply" in {e["action"] for e in audit(client, api, tenant="applied")}
    broken = client("POST", api.url("/fleet/apply"), api.keys["admin"],
                    json={"content": "[[tenants]\n"})  # fmt: skip
    assert problem(broken, 422, 1001)["detail"].startswith("body.content:")
    assert client("DELETE", api.url("/tenants/applied"), api.keys["admin"]).status == 204


def test_rendered_files_mask_secrets_unless_admin(api: Api, client: Client) -> None:
    listed = client("GET", api.url(f"/phones/{OTHER_PHONE}/files"), api.keys["viewer"])
    assert listed.status == 200, listed.body
    names = [f["name"] for f in listed.body["items"]]
    assert f"{OTHER_PHONE}.cfg" in names
    assert listed.body["render_errors"] == []
    url = api.url(f"/phones/{OTHER_PHONE}/files/{OTHER_PHONE}.cfg")
    viewer = client("GET", url, api.keys["viewer"]).body
    admin = client("GET", url, api.keys["admin"]).body
    assert "other-secret" in admin["text"]
    assert admin["masked"] is False
    assert "other-secret" not in viewer["text"]
    assert "********" in viewer["text"]
    assert viewer["masked"] is True
    assert viewer["text"].count("\n") == admin["text"].count("\n")
    problem(client("GET", url, api.keys["viewer@demo"]), 404, 1004)
    problem(client("GET", api.url(f"/phones/{OTHER_PHONE}/files/nope.cfg"), api.keys["viewer"]),
            404, 1004)  # fmt: skip

"""The sipXconfig-compatible REST paths (docs/sipxcom-rest.md), called with curl as sipXcom's
scripts call them, against a running server on SQLite and PostgreSQL.

The module's server holds the demo fleet (tenant ``demo``) and tenant
``other``; keys limited to ``demo`` choose the tenant, a global key is
refused while no tenant is named ``default`` (tenant rule). Tests run in
file order: later ones see what earlier ones created.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import sip_users
from provisioner.actor import Actor
from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.store import Store
from tests.api.conftest import Api
from tests.peers import free_port
from tests.serve_process import run_cli, serving
from tests.test_make_run import demo_data, environment  # noqa: F401 (the fixture make run uses)

OP, VIEW, ADMIN = "operator@demo", "viewer@demo", "admin"
RECEPTION = "0004f2123456"  # the demo fleet's Polycom VVX 410, lines 200 and 201
OTHER_PHONE = "805ec0aabbcc"  # tenant other's


@dataclass
class Got:
    """A curl answer."""

    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


def curl(
    api: Api,
    method: str,
    path: str,
    key: str | None = OP,
    *,
    body: Any = None,
    text: str | None = None,
    basic: bool = True,
    headers: dict[str, str] | None = None,
) -> Got:
    """``curl -X METHOD`` on ``/sipxconfig/api`` + ``path``: the key as the Basic password
    (sipXconfig's clients send ``superadmin:password``), or as ``X-API-Key``."""
    url = api.base.removesuffix("/api/v1") + "/sipxconfig/api" + path
    args = ["curl", "-sS", "-X", method, "-D", "-", "--max-time", "60"]
    if key is not None:
        secret = api.keys[key]
        args += ["-u", f"superadmin:{secret}"] if basic else ["-H", f"X-API-Key: {secret}"]
    sent = None  # the body goes on curl's standard input (a large one fits no argument list)
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        sent = json.dumps(body).encode()
    if text is not None:
        args += ["-H", "Content-Type: text/plain", "--data-binary", "@-"]
        sent = text.encode()
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    done = subprocess.run([*args, url], input=sent, capture_output=True, check=True, timeout=90)
    head, _, rest = done.stdout.decode("utf-8").partition("\r\n\r\n")
    lines = head.split("\r\n")
    found = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return Got(int(lines[0].split()[1]), found, rest)


def v1(api: Api, method: str, path: str, key: str = OP, body: Any = None) -> Got:
    """The same server's ``/api/v1`` (to check what the sipXconfig paths did)."""
    args = [
        "curl",
        "-sS",
        "-X",
        method,
        "-H",
        f"X-API-Key: {api.keys[key]}",
        "-w",
        "\n%{http_code}",
    ]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    done = subprocess.run([*args, api.url(path)], capture_output=True, check=True, timeout=90)
    text, _, status = done.stdout.decode("utf-8").rpartition("\n")
    return Got(int(status), {}, text)


def problem(got: Got, status: int, code: int, words: str) -> None:
    """``got`` is the /api/v1 problem document of ``status`` and ``code`` saying ``words``."""
    assert got.status == status, got.text
    assert got.headers["content-type"].startswith("application/problem+json")
    doc = got.json
    assert doc["code"] == code, doc
    assert words in doc["detail"], doc


# --- authentication, tenant, media type -------------------------------------------------


def test_basic_with_the_key_as_password_and_x_api_key(api: Api) -> None:
    assert curl(api, "GET", "/phones").status == 200
    assert curl(api, "GET", "/phones", basic=False).status == 200


def test_no_key_is_401_with_a_basic_challenge(api: Api) -> None:
    got = curl(api, "GET", "/phones", key=None)
    problem(got, 401, 1201, "Basic")
    assert got.headers["www-authenticate"] == 'Basic realm="sipxconfig"'


def test_a_wrong_password_is_401(api: Api) -> None:
    url = api.base.removesuffix("/api/v1") + "/sipxconfig/api/phones"
    done = subprocess.run(
        ["curl", "-sS", "-u", "superadmin:password", "-w", "\n%{http_code}", url],
        capture_output=True,
        check=True,
    )
    assert done.stdout.decode().rsplit("\n", 1)[1] == "401"


def test_a_global_key_with_no_default_tenant_is_told_how_to_choose(api: Api) -> None:
    problem(curl(api, "GET", "/phones", key=ADMIN), 409, 1005, "apikey create --name NAME")


def test_xml_only_clients_are_refused_406(api: Api) -> None:
    got = curl(api, "GET", "/phones", headers={"Accept": "application/xml"})
    problem(got, 406, 1107, "application/json")
    assert curl(api, "GET", "/phones", headers={"Accept": "application/json"}).status == 200


def test_unknown_paths_and_methods(api: Api) -> None:
    problem(curl(api, "GET", "/gateways"), 404, 1105, "/sipxconfig/api/gateways")
    got = curl(api, "POST", f"/phones/{RECEPTION}")
    problem(got, 405, 1106, "POST")
    assert got.headers["allow"] == "DELETE, GET, PUT"


def test_a_viewer_may_not_write(api: Api) -> None:
    problem(curl(api, "DELETE", f"/phones/{RECEPTION}", key=VIEW), 403, 1202, "operator role")


# --- phones -----------------------------------------------------------------------------


def test_list_phones_in_sipxconfig_beans(api: Api) -> None:
    got = curl(api, "GET", "/phones")
    assert got.status == 200
    phones = got.json["phones"]
    assert {p["serialNo"] for p in phones} >= {RECEPTION, "805ec0123456"}
    assert OTHER_PHONE not in {p["serialNo"] for p in phones}  # another tenant's
    reception = next(p for p in phones if p["serialNo"] == RECEPTION)
    assert isinstance(reception["id"], int)
    assert reception["id"] > 0
    assert reception["model"] == {"modelId": "vvx410", "label": "Polycom VVX 410",
                                  "vendor": "polycom"}  # fmt: skip
    first = reception["lines"][0]
    assert first["id"] == 1
    assert first["user"] == "200"
    assert first["displayName"] == "Reception"
    assert first["uri"].startswith("sip:200@")
    assert first["registrationServer"]
    assert "password" not in json.dumps(phones)  # secrets never shown, as in /api/v1
    window = curl(api, "GET", "/phones?start=1&limit=2").json["phones"]
    assert [p["serialNo"] for p in window] == sorted(p["serialNo"] for p in phones)[1:3]


def test_get_phone_by_numeric_id_or_mac(api: Api) -> None:
    by_mac = curl(api, "GET", "/phones/00:04:F2:12:34:56").json
    by_id = curl(api, "GET", f"/phones/{by_mac['id']}").json
    assert by_mac == by_id
    assert by_mac["serialNo"] == RECEPTION
    problem(curl(api, "GET", "/phones/999999"), 404, 1004, "no phone with id 999999")
    problem(curl(api, "GET", f"/phones/{OTHER_PHONE}"), 404, 1004, "no phone with MAC")
    problem(curl(api, "GET", "/phones/zz"), 422, 1001, "zz")


def test_create_phone_with_a_new_group_and_a_line(api: Api) -> None:
    bean = {
        "serialNo": "00:04:f2:aa:00:01",
        "description": "Front desk",
        "model": {"modelId": "vvx410"},
        "groups": [{"name": "sipx-new"}],
        "lines": [{"userId": "250", "password": "s3cret", "displayName": "Front",
                   "registrationServer": "pbx.example.com", "registrationServerPort": "5070",
                   "voicemail": "*97"}],
        "deviceVersion": "polycom4.1.x",  # accepted, not kept (firmware sets do that)
    }  # fmt: skip
    got = curl(api, "POST", "/phones", body=bean)
    assert got.status == 200, got.text
    new_id = got.json
    phone = curl(api, "GET", f"/phones/{new_id}").json
    assert phone["serialNo"] == "0004f2aa0001"
    assert phone["description"] == "Front desk"
    assert [g["name"] for g in phone["groups"]] == ["sipx-new"]
    line = phone["lines"][0]
    assert line["registrationServer"] == "pbx.example.com"
    assert line["registrationServerPort"] == "5070"
    stored = v1(api, "GET", "/phones/0004f2aa0001/lines/1").json
    assert stored["password_set"] is True
    assert stored["display_name"] == "Front"
    assert stored["voicemail_number"] == "*97"


def test_a_failed_create_leaves_nothing_behind(api: Api) -> None:
    bean = {"serialNo": "0004f2aa0002", "model": {"modelId": "no-such-model"},
            "groups": [{"name": "never-made"}]}  # fmt: skip
    got = curl(api, "POST", "/phones", body=bean)
    assert got.json["detail"].endswith(
        v1(
            api,
            "POST",
            "/phones",
            body={"tenant": "demo", "mac": "0004f2aa0002", "model": "no-such-model"},
        ).json["detail"]
    )
    problem(got, 422, 1003, "no-such-model")
    names = [g["name"] for g in curl(api, "GET", "/phoneGroups").json["groups"]]
    assert "never-made" not in names
    extra = {"serialNo": "0004f2aa0003", "model": "vvx410", "color": "red"}
    problem(curl(api, "POST", "/phones", body=extra), 422, 1003, "body.color")


def test_a_duplicate_serial_number_is_a_conflict(api: Api) -> None:
    got = curl(api, "POST", "/phones", body={"serialNo": RECEPTION, "model": "vvx410"})
    assert got.status == 409, got.text


def test_update_phone_description_and_groups(api: Api) -> None:
    got = curl(api, "PUT", "/phones/0004f2aa0001",
               body={"description": "Front desk 2", "groups": [{"name": "office"}]})  # fmt: skip
    assert got.status == 200, got.text
    phone = curl(api, "GET", "/phones/0004f2aa0001").json
    assert phone["description"] == "Front desk 2"
    assert sorted(g["name"] for g in phone["groups"]) == ["office", "sipx-new"]
    assert phone["lines"][0]["user"] == "250"  # lines untouched
    problem(curl(api, "PUT", "/phones/0004f2aa0001", body={"serialNo": "0004f2aa0009"}),
            409, 1005, "0004f2aa0009")  # fmt: skip


def test_phone_groups(api: Api) -> None:
    mac = "0004f2aa0001"
    groups = curl(api, "GET", f"/phones/{mac}/groups").json["groups"]
    assert sorted(g["name"] for g in groups) == ["office", "sipx-new"]
    assert all(isinstance(g["id"], int) and "weight" in g for g in groups)
    assert curl(api, "DELETE", f"/phones/{mac}/groups/office").status == 200
    assert curl(api, "POST", f"/phones/{mac}/groups/made-on-join").status == 200
    names = [g["name"] for g in curl(api, "GET", f"/phones/{mac}/groups").json["groups"]]
    assert sorted(names) == ["made-on-join", "sipx-new"]
    problem(curl(api, "DELETE", f"/phones/{mac}/groups/lobby"), 404, 1004, "lobby")
    assert curl(api, "DELETE", f"/phones/{mac}/groups").status == 200
    assert curl(api, "GET", f"/phones/{mac}/groups").json == {"groups": []}


def test_phone_lines(api: Api) -> None:
    mac = "0004f2aa0001"
    got = curl(api, "POST", f"/phones/{mac}/lines",
               body={"userId": "251", "password": "pw-251", "displayName": "Second"})  # fmt: skip
    assert got.status == 200, got.text
    assert got.json == 2
    lines = curl(api, "GET", f"/phones/{mac}/lines").json["lines"]
    assert [(x["id"], x["user"]) for x in lines] == [(1, "250"), (2, "251")]
    problem(curl(api, "POST", f"/phones/{mac}/lines", body={"displayName": "x"}), 422, 1003,
            "userId")  # fmt: skip
    assert curl(api, "DELETE", f"/phones/{mac}/lines/1").status == 200
    assert [x["id"] for x in curl(api, "GET", f"/phones/{mac}/lines").json["lines"]] == [2]
    assert curl(api, "DELETE", f"/phones/{mac}/lines").status == 200
    assert curl(api, "GET", f"/phones/{mac}/lines").json == {"lines": []}


def test_a_line_naming_only_a_user_takes_the_users_credentials(api: Api, catalog: Catalog) -> None:
    store = Store.open(api.db, catalog)
    try:
        change = sip_users.UserChange(
            password="from-the-user", first_name="Ursula", last_name="User", auth_user="auth260"
        )
        sip_users.put_user(store, Edits.of(store, Actor.cli()), "demo", "260", change)
    finally:
        store.close()
    mac = "0004f2aa0001"
    got = curl(api, "POST", f"/phones/{mac}/lines", body={"userId": "260"})
    assert got.status == 200, got.text
    line = curl(api, "GET", f"/phones/{mac}/lines").json["lines"][-1]
    assert line["userId"] == "260"
    assert line["user"] == "auth260"
    assert line["displayName"] == "Ursula User"
    stored = v1(api, "GET", f"/phones/{mac}/lines/{line['id']}").json
    assert stored["password_set"] is True
    assert stored["auth_user"] == "auth260"
    problem(curl(api, "POST", f"/phones/{mac}/lines", body={"userId": "299"}), 404, 1004, "299")
    assert curl(api, "DELETE", f"/phones/{mac}/lines/{line['id']}").status == 200


# --- settings ---------------------------------------------------------------------------


def test_phone_settings_by_path(api: Api) -> None:
    mac = "0004f2aa0001"
    got = curl(api, "PUT", f"/phones/{mac}/settings/time/ntp_server", text="ntp.example.com")
    assert got.status == 200, got.text
    one = curl(api, "GET", f"/phones/{mac}/settings/time/ntp_server").json
    assert one["path"] == "time/ntp_server"
    assert one["value"] == "ntp.example.com"
    assert one["defaultValue"] == "pool.ntp.org"
    assert one["type"] == "host"
    assert one["label"]
    listed = curl(api, "GET", f"/phones/{mac}/settings").json["settings"]
    assert {s["path"]: s["value"] for s in listed}["time/ntp_server"] == "ntp.example.com"
    assert curl(api, "PUT", f"/phones/{mac}/settings/access.tls_required", text="1").status == 200
    assert curl(api, "GET", f"/phones/{mac}/settings/access/tls_required").json["value"] == "true"
    problem(curl(api, "PUT", f"/phones/{mac}/settings/time/ntp_server", text="bad host!"),
            422, 1001, "time.ntp_server")  # fmt: skip
    problem(
        curl(api, "PUT", f"/phones/{mac}/settings/time/zone", text="Europe/Berlin"),
        422,
        1003,
        "locked at tenant:demo",
    )  # the same rule and answer as /api/v1
    problem(curl(api, "GET", f"/phones/{mac}/settings/no/such"), 422, 1001, "no.such")
    assert curl(api, "DELETE", f"/phones/{mac}/settings/time/ntp_server").status == 200
    got = curl(api, "GET", f"/phones/{mac}/settings/time/ntp_server").json
    inherited = v1(api, "GET", f"/scopes/phone:{mac}/settings/time.ntp_server").json
    assert inherited["set_here"] is False
    assert got["value"] == inherited["value"] != ""
    problem(curl(api, "PUT", f"/phones/{mac}/settings/time/zone", body={"v": 1}), 415, 1103,
            "text/plain")  # fmt: skip


def test_line_settings_by_path(api: Api) -> None:
    path = f"/phones/{RECEPTION}/lines/1/settings/sip/register_expires"
    assert curl(api, "PUT", path, text="600").status == 200
    assert curl(api, "GET", path).json["value"] == "600"
    stored = v1(api, "GET", f"/scopes/line:{RECEPTION}%2F1/settings/sip.register_expires").json
    assert stored["stored"] == 600
    assert stored["set_here"] is True
    url = api.base.removesuffix("/api/v1") + "/sipxconfig/api" + path
    done = subprocess.run(  # curl -d as scripts type it: form-urlencoded, the value as is
        ["curl", "-sS", "-X", "PUT", "-u", f"x:{api.keys[OP]}", "-d", "900", url],
        capture_output=True,
        check=True,
    )
    assert done.stdout == b""
    assert curl(api, "GET", path).json["value"] == "900"
    assert curl(api, "DELETE", path).status == 200
    problem(curl(api, "GET", f"/phones/{RECEPTION}/lines/x/settings/sip/register_expires"),
            404, 1004, "position")  # fmt: skip
    problem(curl(api, "GET", f"/phones/{RECEPTION}/lines/9/settings/sip/register_expires"),
            404, 1004, "9")  # fmt: skip


# --- profiles, models -------------------------------------------------------------------


def test_send_profile_and_restart_queue_jobs(api: Api) -> None:
    before = v1(api, "GET", "/jobs").json["total"]
    assert curl(api, "PUT", f"/phones/{RECEPTION}/sendProfile").status == 200
    assert curl(api, "PUT", f"/phones/{RECEPTION}/sendProfile/restart").status == 200
    jobs = v1(api, "GET", "/jobs?limit=2").json
    assert jobs["total"] == before + 2
    assert [j["event"] for j in jobs["items"]] == ["reboot", "resync"]
    ids = [curl(api, "GET", f"/phones/{RECEPTION}").json["id"], "805ec0123456"]
    assert curl(api, "PUT", "/phones/sendProfile", body={"ids": ids}).status == 200
    assert v1(api, "GET", "/jobs?limit=1").json["items"][0]["total"] == 2
    problem(curl(api, "PUT", "/phones/999999/sendProfile"), 404, 1004, "999999")


def test_profile_by_name(api: Api) -> None:
    files = v1(api, "GET", f"/phones/{RECEPTION}/files").json["items"]
    name = next(f["name"] for f in files if f["name"].endswith(".cfg"))
    got = curl(api, "GET", f"/phones/{RECEPTION}/profile/{name}")
    assert got.status == 200, got.text
    assert got.text.startswith("<?xml")
    problem(curl(api, "GET", f"/phones/{RECEPTION}/profile/nope.cfg"), 404, 1004, "nope.cfg")


def test_phone_models_paged_and_sorted(api: Api) -> None:
    models = curl(api, "GET", "/phones/models").json["models"]
    ids = [m["modelId"] for m in models]
    assert ids == sorted(ids, key=str.lower)
    assert "vvx410" in ids
    assert set(models[0]) == {"modelId", "label", "vendor"}
    page2 = curl(api, "GET", "/phones/models?page=2&pagesize=3").json["models"]
    assert page2 == models[3:6]
    rev = curl(api, "GET", "/phones/models?sortby=description&sortdir=reverse").json["models"]
    labels = [m["label"].lower() for m in rev]
    assert labels == sorted(labels, reverse=True)
    problem(curl(api, "GET", "/phones/models?sortby=color"), 400, 1104, "query.sortby")
    problem(curl(api, "GET", "/phones/models?page=0&pagesize=3"), 400, 1104, "query.page")


# --- phone groups -----------------------------------------------------------------------


def test_phone_group_crud_and_order(api: Api) -> None:
    got = curl(api, "POST", "/phoneGroups", body={"name": "sipx-g", "description": "from sipX"})
    assert got.status == 200, got.text
    gid = got.json
    by_id = curl(api, "GET", f"/phoneGroups/{gid}").json
    assert by_id == curl(api, "GET", "/phoneGroups/sipx-g").json
    assert by_id["name"] == "sipx-g"
    assert by_id["description"] == "from sipX"
    assert curl(api, "PUT", f"/phoneGroups/{gid}", body={"description": "changed",
                                                          "weight": 50}).status == 200  # fmt: skip
    assert curl(api, "GET", f"/phoneGroups/{gid}").json["weight"] == 50
    order = [g["name"] for g in curl(api, "GET", "/phoneGroups").json["groups"]]
    assert order[0] == "sipx-g"  # highest weight first
    assert curl(api, "PUT", f"/phoneGroups/{gid}/down").status == 200
    after = [g["name"] for g in curl(api, "GET", "/phoneGroups").json["groups"]]
    assert after.index("sipx-g") == 1
    assert curl(api, "PUT", f"/phoneGroups/{gid}/up").status == 200
    assert next(g["name"] for g in curl(api, "GET", "/phoneGroups").json["groups"]) == "sipx-g"
    problem(curl(api, "PUT", f"/phoneGroups/{gid}", body={"name": "renamed"}), 409, 1005,
            "renamed")  # fmt: skip
    assert curl(api, "DELETE", f"/phoneGroups/{gid}").status == 200
    problem(curl(api, "GET", f"/phoneGroups/{gid}"), 404, 1004, str(gid))


def test_group_models_and_per_model_settings(api: Api) -> None:
    models = curl(api, "GET", "/phoneGroups/office/models").json["models"]
    assert "vvx410" in [m["modelId"] for m in models]
    base = "/phoneGroups/office/model/vvx410/settings"
    assert curl(api, "PUT", base + "/polycom/app_file_path", text="2345.ld").status == 200
    assert curl(api, "GET", base + "/polycom/app_file_path").json["value"] == "2345.ld"
    problem(curl(api, "PUT", "/phoneGroups/office/model/t46s/settings/polycom/app_file_path",
                 text="x.ld"), 422, 1001, "does not apply to model t46s")  # fmt: skip
    many = {"settings": [{"path": "time/ntp_server", "value": "ntp.office.example"},
                         {"path": "voicemail/number", "value": "*97"}]}  # fmt: skip
    got = curl(api, "PUT", base, body=many)
    assert got.status == 200, got.text
    listed = {s["path"]: s["value"] for s in curl(api, "GET", base).json["settings"]}
    assert listed["time/ntp_server"] == "ntp.office.example"
    assert listed["voicemail/number"] == "*97"
    assert listed["polycom/app_file_path"] == "2345.ld"
    t46s = {s["path"] for s in curl(api, "GET", "/phoneGroups/office/model/t46s/settings")
            .json["settings"]}  # fmt: skip
    assert "polycom/app_file_path" not in t46s
    assert "time/ntp_server" in t46s
    # A group's settings reach every phone in it whatever the model path says: the Cisco
    # 7960 of the group takes no codec list, so the whole list is refused.
    bad = {"settings": [{"path": "time/ntp_server", "value": "ntp2.example"},
                        {"path": "codecs", "value": "g722,pcmu"}]}  # fmt: skip
    problem(curl(api, "PUT", base, body=bad), 422, 1003, "Cisco IP Phone 7960G")
    still = {s["path"]: s["value"] for s in curl(api, "GET", base).json["settings"]}
    assert still["time/ntp_server"] == "ntp.office.example"  # all or nothing
    assert curl(api, "DELETE", base + "/polycom/app_file_path").status == 200
    v1_stored = v1(api, "GET", "/scopes/group:demo%2Foffice/settings").json["items"]
    assert "polycom.app_file_path" not in [s["name"] for s in v1_stored]


# --- phonebook --------------------------------------------------------------------------


def test_phonebooks(api: Api) -> None:
    csv = (
        "first_name,last_name,work,mobile\r\n"
        "Ada,Lovelace,+4930111,+4917222\r\nAlan,Turing,,+4917333\r\n"
    )
    got = v1(api, "PUT", "/tenants/demo/phonebooks/sales", body={"format": "csv", "content": csv})
    assert got.status in (200, 201), got.text
    assert "sales" in curl(api, "GET", "/phonebook").json["phonebooks"]
    book = curl(api, "GET", "/phonebook/sales").json
    assert book["entries"][0]["firstName"] == "Ada"
    assert book["entries"][0]["number"] == "+4930111"
    assert book["entries"][1]["number"] == "+4917333"
    problem(curl(api, "GET", "/phonebook/nope"), 404, 1004, "nope")


def test_delete_phone_is_audited_under_the_key(api: Api) -> None:
    got = curl(api, "DELETE", "/phones/0004f2aa0001")
    assert got.status == 200
    audit = v1(api, "GET", "/audit?mac=0004f2aa0001&action=phone.remove", ADMIN).json["items"]
    assert [(e["actor_kind"], e["actor"]) for e in audit] == [("api", "operator-demo")]
    assert audit[0]["request_id"] == got.headers["x-request-id"]
    problem(curl(api, "GET", "/phones/0004f2aa0001"), 404, 1004, "0004f2aa0001")


def test_a_global_key_works_on_the_tenant_named_default(api: Api) -> None:
    made = v1(
        api, "POST", "/tenants", ADMIN, {"name": "default", "sip_domain": "pbx.default.example"}
    )
    assert made.status == 201, made.text
    try:
        got = curl(
            api, "POST", "/phones", ADMIN, body={"serialNo": "0004f2dd0001", "model": "vvx410"}
        )
        assert got.status == 200, got.text
        listed = curl(api, "GET", "/phones", ADMIN).json["phones"]
        assert [p["serialNo"] for p in listed] == ["0004f2dd0001"]
        # A key limited to demo still works on demo.
        assert RECEPTION in {p["serialNo"] for p in curl(api, "GET", "/phones").json["phones"]}
    finally:
        assert curl(api, "DELETE", "/phones/0004f2dd0001", ADMIN).status == 200
        assert v1(api, "DELETE", "/tenants/default", ADMIN).status == 204


def test_hostile_requests_get_clear_answers(api: Api) -> None:
    problem(curl(api, "GET", f"/phones/{RECEPTION}/profile/..%2F..%2Fetc%2Fpasswd"), 404, 1004,
            "../../etc/passwd")  # fmt: skip
    problem(curl(api, "GET", "/phoneGroups/a%2Fb"), 404, 1004, "a/b")
    problem(curl(api, "GET", "/phones/%FF"), 400, 1104, "UTF-8")
    got = curl(api, "POST", "/phoneGroups", headers={"Content-Type": "application/json"})
    problem(got, 400, 1101, "not JSON")
    problem(curl(api, "POST", "/phoneGroups", body={"name": "x" * 1_100_000}), 413, 1102, "limit")
    problem(curl(api, "POST", "/phoneGroups", body={"name": "bad\u0000name"}), 422, 1003, "name")
    problem(curl(api, "GET", "/phones?start=1&start=2"), 400, 1104, "start")
    problem(curl(api, "GET", "/phones?color=red"), 400, 1104, "unknown query parameter color")
    problem(curl(api, "GET", "/phones?start=-1"), 400, 1104, "query.start")
    url = api.base.removesuffix("/api/v1") + "/sipxconfig/api/phones"
    done = subprocess.run(
        ["curl", "-sS", "-H", "Authorization: Basic !!notbase64", url],
        capture_output=True,
        check=True,
    )
    doc = json.loads(done.stdout)
    assert doc["code"] == 1201
    assert "Traceback" not in done.stdout.decode()


def test_a_repeated_query_parameter_is_refused_on_api_v1_too(api: Api) -> None:
    # multidict iterates a repeated key once: both query readers count items, not keys.
    got = v1(api, "GET", "/phones?limit=1&limit=2")
    assert got.status == 400
    assert "limit is given twice" in got.json["detail"]


def test_make_run_serves_the_paths_to_its_demo_key(
    tmp_path: Path,
    environment: dict[str, str],  # noqa: F811 (the fixture imported above)
) -> None:
    """As ``make run`` sets up: the demo fleet (one tenant) and a global admin key, which
    these paths then use on that only tenant."""
    data = tmp_path / "var"
    demo_data(data, environment)
    key_file = data / "demo-api-key"
    run_cli(data, "apikey", "create", "--name", "demo", "--role", "admin", "--key-file",
            str(key_file), env=environment)  # fmt: skip
    port = free_port()
    with serving(data, "--api-port", str(port), env=environment):
        url = f"http://127.0.0.1:{port}/sipxconfig/api/phones/{RECEPTION}"
        done = subprocess.run(
            ["curl", "-sS", "-u", f"superadmin:{key_file.read_text().strip()}", url],
            capture_output=True,
            check=True,
        )
    phone = json.loads(done.stdout)
    assert phone["serialNo"] == RECEPTION
    assert phone["lines"][0]["uri"] == "sip:200@pbx.demo.example"

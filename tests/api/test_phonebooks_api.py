"""Phonebooks over the admin API, and a phonebook reaching the phone port end to end."""

from __future__ import annotations

import json

from tests.api.conftest import Api, Client
from tests.peers import fetch_with_curl
from tests.waiting import eventually

MAC = "0004f2123456"  # tenant demo, Polycom VVX 410, no HTTP credentials
UA = "FileTransport PolycomVVX-VVX_410-UA/5.9.1.0615 Type/Application"
CSV = "first_name,last_name,work\nAlice,Smith,2001\n"


def test_import_read_export_delete(api: Api, client: Client) -> None:
    key, url = api.keys["operator"], api.url("/tenants/demo/phonebooks/staff")
    answer = client("PUT", url, key, json={"format": "csv", "content": CSV})
    assert (answer.status, answer.body) == (201, {"name": "staff", "description": "", "entries": 1})
    answer = client("PUT", url, key, json={"format": "csv", "content": CSV, "append": True})
    assert (answer.status, answer.body["entries"]) == (200, 2)
    listed = client("GET", api.url("/tenants/demo/phonebooks"), api.keys["viewer"]).body
    assert [b["name"] for b in listed["items"]] == ["staff"]
    book = client("GET", url, api.keys["viewer"]).body
    assert book["entries"][0] == {
        "first_name": "Alice",
        "last_name": "Smith",
        "organisation": "",
        "numbers": {"work": "2001"},
    }
    exported = client("GET", url + "/export?format=vcard3", api.keys["viewer"]).body
    assert exported["content"].startswith("BEGIN:VCARD\r\nVERSION:3.0\r\nN:Smith;Alice;;;\r\n")
    assert client("DELETE", url, key).status == 204
    assert client("GET", url, key).status == 404


def test_a_bad_file_is_refused_naming_its_line(api: Api, client: Client) -> None:
    url = api.url("/tenants/demo/phonebooks/bad")
    answer = client(
        "PUT", url, api.keys["operator"], json={"format": "csv", "content": CSV + "Bob,,x\n"}
    )
    assert answer.status == 422, answer.body
    assert "line 3" in answer.body["detail"]
    assert client("GET", url, api.keys["operator"]).status == 404


def test_keys_see_and_change_only_what_they_may(api: Api, client: Client) -> None:
    body = {"format": "csv", "content": CSV}
    other = api.url("/tenants/other/phonebooks/x")
    assert client("PUT", other, api.keys["operator@demo"], json=body).status == 404
    assert (
        client("GET", api.url("/tenants/other/phonebooks"), api.keys["viewer@demo"]).status == 404
    )
    mine = api.url("/tenants/demo/phonebooks/x")
    assert client("PUT", mine, api.keys["viewer@demo"], json=body).status == 403


def test_a_phonebook_reaches_the_phone_port(api: Api, client: Client) -> None:
    key = api.keys["operator"]
    hostile = "first_name,work\nBob & <Co>,3003\n"
    book = api.url("/tenants/demo/phonebooks/front")
    assert client("PUT", book, key, json={"format": "csv", "content": hostile}).status == 201
    setting = api.url(f"/scopes/phone:{MAC}/settings/phonebooks")
    answer = client("PUT", setting, key, json={"value": ["front"]})
    assert answer.status == 200, answer.body

    last: list[tuple[int, bytes]] = []

    def served() -> bytes | None:
        code, body = fetch_with_curl("-A", UA, f"http://127.0.0.1:{api.http}/{MAC}-directory.xml")
        last[:] = [(code, body)]
        return body if code == 200 and b"3003" in body else None

    body = eventually(served, lambda: f"the phone port serves the phonebook; last: {last}", 60.0)
    assert b"<fn>Bob &amp; &lt;Co&gt;</fn>" in body
    answer = client("DELETE", book, key)
    assert answer.status == 409, answer.body
    assert f"phone {MAC}" in answer.body["detail"]


FLEET = """
[[tenants]]
name = "books"
sip_domain = "pbx.books.example"

[[groups]]
tenant = "books"
name = "front"
settings = { phonebooks = ["suppliers"] }

[[phonebooks]]
tenant = "books"
name = "suppliers"
description = "Suppliers"
entries = [{ first_name = "Ann", organisation = "Parts & <Co>", work = "+4930123456" }]
"""


def test_a_fleet_file_gives_phonebooks_and_exports_them(api: Api, client: Client) -> None:
    admin = api.keys["admin"]
    applied = client("POST", api.url("/fleet/apply"), admin, json={"content": FLEET})
    assert applied.status == 200, applied.body
    assert applied.body["changes"]["phonebook created"] == 1
    assert "phonebook books/suppliers: created (1 entries)" in applied.body["described"]
    book = client("GET", api.url("/tenants/books/phonebooks/suppliers"), admin).body
    assert book["description"] == "Suppliers"
    assert book["entries"][0]["organisation"] == "Parts & <Co>"
    exported = client("GET", api.url("/fleet?format=json"), admin).body["content"]
    books = [b for b in json.loads(exported)["phonebooks"] if b["tenant"] == "books"]
    assert books == [
        {
            "tenant": "books",
            "name": "suppliers",
            "description": "Suppliers",
            "entries": [
                {"first_name": "Ann", "organisation": "Parts & <Co>", "work": "+4930123456"}
            ],
        }
    ]
    again = client("POST", api.url("/fleet/apply"), admin, json={"content": FLEET})
    assert again.body["changes"] == {}
    assert client("DELETE", api.url("/tenants/books"), admin).status == 204


def test_a_fleet_body_cannot_name_a_phonebook_file(api: Api, client: Client) -> None:
    text = FLEET.split("entries =")[0] + 'file = "/etc/passwd"\n'
    answer = client("POST", api.url("/fleet/apply"), api.keys["admin"], json={"content": text})
    assert answer.status == 422, answer.body
    assert "only in a fleet file read from disk" in answer.body["detail"]
    assert client("GET", api.url("/tenants/books"), api.keys["admin"]).status == 404

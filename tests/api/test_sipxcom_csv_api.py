"""sipXcom's CSV file over the API: POST /import/csv (multipart) and GET /export/csv."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

from provisioner.masking import MASK
from provisioner.sipxcom_csv import HEADER
from tests.api.conftest import Answer, Api, Client
from tests.api.test_operations import multipart
from tests.peers import need

NEW_PHONE = "0004f2abcdef"


def _csv(*rows: dict[str, str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([row.get(c, "") for c in HEADER])
    return out.getvalue().encode()


ROW = {
    "User name": "300",
    "SIP password": "New-300-pw",
    "First name": "Nina",
    "Last name": "New",
    "Voicemail PIN": "9876",
    "Phone serial number": NEW_PHONE,
    "Phone model": "polycomVVX410",
    "Phone group": "imported",
}


def _import(client: Client, api: Api, key: str, data: bytes, query: str = "") -> Answer:
    body, content_type = multipart({}, "users.csv", data)
    url = api.url(f"/import/csv?tenant=demo{query}")
    return client("POST", url, key, data=body, headers={"Content-Type": content_type})


def _export(client: Client, api: Api, key: str, tenant: str = "demo") -> Answer:
    return client("GET", api.url(f"/export/csv?tenant={tenant}"), key)


def test_export_is_the_csv_file_with_secrets_for_admins_only(api: Api, client: Client) -> None:
    answer = _export(client, api, api.keys["admin"])
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="demo.csv"'
    text = answer.raw.decode()
    assert text.startswith(",".join(HEADER) + "\r\n")
    assert "Reception-200-pw" in text
    assert "polycomVVX410" in text  # the sipXconfig model id
    shown = _export(client, api, api.keys["viewer@demo"]).raw.decode()
    assert "Reception-200-pw" not in shown
    assert MASK in shown
    assert _export(client, api, api.keys["viewer@demo"], "other").status == 404


def test_dry_run_then_import_then_round_trip(api: Api, client: Client) -> None:
    before = _export(client, api, api.keys["admin"]).raw
    preview = _import(client, api, api.keys["operator"], _csv(ROW), "&dry_run=true")
    assert preview.status == 200, preview.body
    assert preview.body["dry_run"] is True
    assert preview.body["changes"]["phone created"] == 1
    assert preview.body["groups_created"] == ["imported"]
    assert "Voicemail PIN" in preview.body["kept"]
    (phone,) = preview.body["phones"]
    assert phone["mac"] == NEW_PHONE
    assert "New-300-pw" not in str(phone)  # an operator sees secrets masked
    assert _export(client, api, api.keys["admin"]).raw == before
    done = _import(client, api, api.keys["operator"], _csv(ROW))
    assert done.status == 200, done.body
    assert done.body["dry_run"] is False
    assert done.body["changes"]["sip user created"] == 1
    assert done.body["phones"] == []
    exported = _export(client, api, api.keys["admin"]).raw
    assert b"New-300-pw" in exported
    assert b"9876" in exported
    again = _import(client, api, api.keys["admin"], exported)
    assert again.status == 200, again.body
    assert again.body["changes"] == {}
    assert _export(client, api, api.keys["admin"]).raw == exported


def test_a_bad_file_is_422_naming_rows_and_columns(api: Api, client: Client) -> None:
    bad = dict(ROW, **{"Phone serial number": "not-a-mac", "Phone model": "nope"})
    answer = _import(client, api, api.keys["operator"], _csv(bad))
    assert answer.status == 422
    assert answer.body["code"] == 1003  # validation failed
    assert [e["field"] for e in answer.body["errors"]] == [
        'row 2, column "Phone serial number"',
        'row 2, column "Phone model"',
    ]
    # A preview answers what the real import would: here, its problems.
    preview = _import(client, api, api.keys["operator"], _csv(bad), "&dry_run=true")
    assert preview.status == 200
    (problem,) = preview.body["problems"]
    assert problem["code"] == 1003
    assert [e["field"] for e in problem["errors"]] == [
        'row 2, column "Phone serial number"',
        'row 2, column "Phone model"',
    ]


def test_keys_roles_and_bodies(api: Api, client: Client) -> None:
    assert _import(client, api, api.keys["viewer"], _csv(ROW)).status == 403
    body, content_type = multipart({}, "users.csv", _csv(ROW))
    answer = client(
        "POST",
        api.url("/import/csv?tenant=other"),
        api.keys["operator@demo"],
        data=body,
        headers={"Content-Type": content_type},
    )
    assert answer.status == 404
    answer = client(
        "POST",
        api.url("/import/csv?tenant=demo"),
        api.keys["operator"],
        data=_csv(ROW),
        headers={"Content-Type": "text/csv"},
    )
    assert answer.status == 415
    body, content_type = multipart({"extra": "x"}, "users.csv", _csv(ROW))
    answer = client(
        "POST",
        api.url("/import/csv?tenant=demo"),
        api.keys["operator"],
        data=body,
        headers={"Content-Type": content_type},
    )
    assert answer.status == 422
    assert "only 'file'" in answer.body["detail"]


def test_curl_uploads_a_file(api: Api, tmp_path: Path) -> None:
    source = tmp_path / "sipxcom.csv"
    source.write_bytes(b"\xef\xbb\xbf" + _csv(dict(ROW, **{"First name": "Curly"})))
    result = subprocess.run(
        [
            need("curl"), "-s", "-H", f"X-API-Key: {api.keys['admin']}",
            "-F", f"file=@{source};type=text/csv",
            api.url("/import/csv?tenant=demo&dry_run=1"),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )  # fmt: skip
    assert b'"dry_run":true' in result.stdout
    assert b"Curly New" in result.stdout  # the line's new display name in the phone's diff

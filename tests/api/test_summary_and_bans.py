"""The dashboard's routes: ``/summary`` counted by the database, ``/bans``, and the phone
list's firmware and last-seen filters, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from provisioner.catalog import Catalog
from provisioner.store import Ban, PendingDevice, SeenRow, Store
from tests.api.conftest import Api, Client

NOW = int(time.time())
DAY = 86400
VVX = "0004f2123456"  # demo, vvx410: fetched twice, upgraded in between
T46S = "805ec0123456"  # demo, t46s: last seen ten days ago
CISCO = "000d28123456"  # demo, cisco7960: refused a minute ago
OTHER_T46S = "805ec0aabbcc"  # tenant other, t46s: fetched just now
NEVER = ["0002fd123456", "001b54123456", "00562b123456"]  # demo, never seen


def _seen(mac: str | None, path: str, firmware: str, status: str, at: int) -> SeenRow:
    client = mac or "10.0.0.99"
    vendor, model = {"0004f2": ("polycom", "vvx410"), "805ec0": ("yealink", "t46s")}.get(
        (mac or "")[:6], ("", "")
    )
    return SeenRow(
        client, mac, "10.0.0.5", "http", path, "UA", vendor, model, firmware, status,
        mac is not None, 1, at, at,
    )  # fmt: skip


@pytest.fixture(scope="module")
def seeded(api: Api, catalog: Catalog) -> Api:
    """Seen records, one waiting and one rejected unknown device, and bans."""
    store = Store.open(api.db, catalog)
    try:
        store.seen.record(
            [
                _seen(VVX, f"/{VVX}.cfg", "5.9.0", "ok", NOW - 100),
                _seen(VVX, f"/{VVX}-phone.cfg", "5.9.1", "ok", NOW - 50),
                _seen(T46S, f"/{T46S}.cfg", "66.85.0.5", "ok", NOW - 10 * DAY),
                _seen(OTHER_T46S, f"/{OTHER_T46S}.cfg", "66.85.0.5", "ok", NOW),
                _seen(CISCO, f"/SEP{CISCO.upper()}.cnf.xml", "", "not_found", NOW - 60),
                _seen(CISCO, "/old.cfg", "", "not_found", NOW - 2 * 3600),
                _seen(None, "/secret.cfg", "", "not_found", NOW),
            ],
            max_rows=100_000,
        )
        for mac in ("0004f2999991", "0004f2999992"):
            held = PendingDevice(mac, "demo", "polycom", "vvx410", "", "10.0.0.7", "UA", NOW, NOW)
            store.seen.quarantine(held)
        store.seen.reject("0004f2999992", "cli:test", NOW)
        store.bans.record(
            [
                Ban("10.9.0.1", NOW + 600, "lookup_failed", NOW - 5),
                Ban("10.9.0.2", NOW - 60, "api_key_failed", NOW - 660),
                Ban("10.9.0.3", NOW - 3000, "ui_login_failed", NOW - 5400),
            ]
        )
    finally:
        store.close()
    return api


def _get(client: Client, api: Api, path: str, key: str = "admin") -> object:
    answer = client("GET", api.url(path), api.keys[key])
    assert answer.status == 200, answer.body
    return answer.body


def test_bans_active_and_of_the_last_hour_for_keys_of_no_tenant(
    seeded: Api, client: Client
) -> None:
    body = _get(client, seeded, "/bans")
    assert isinstance(body, dict)
    assert body["total"] == 2
    assert body["items"] == [
        {"address": "10.9.0.1", "reason": "lookup_failed", "since": NOW - 5,
         "until": NOW + 600, "active": True},
        {"address": "10.9.0.2", "reason": "api_key_failed", "since": NOW - 660,
         "until": NOW - 60, "active": False},
    ]  # fmt: skip
    for key in ("operator", "viewer"):
        assert _get(client, seeded, "/bans", key) == body
    only_active = _get(client, seeded, "/bans?active=true")
    assert isinstance(only_active, dict)
    assert [b["address"] for b in only_active["items"]] == ["10.9.0.1"]
    longer = _get(client, seeded, "/bans?since=2h&limit=2")
    assert isinstance(longer, dict)
    assert longer["total"] == 3
    assert [b["address"] for b in longer["items"]] == ["10.9.0.1", "10.9.0.2"]
    for key in ("operator@demo", "viewer@demo"):
        refused = client("GET", seeded.url("/bans"), seeded.keys[key])
        assert refused.status == 403
        assert refused.body["code"] == 1202
        assert "limited to tenant demo" in refused.body["detail"]
    wrong = client("GET", seeded.url("/bans?since=yesterday"), seeded.keys["admin"])
    assert wrong.status == 422
    assert "invalid time 'yesterday'" in wrong.body["detail"]


def test_summary_counts_the_whole_fleet(seeded: Api, client: Client) -> None:
    body = _get(client, seeded, "/summary?first=2")
    assert isinstance(body, dict)
    assert body["phones"] == 7
    assert {"tenant": "other", "model": "t46s", "phones": 1} in body["by_model"]
    assert sum(m["phones"] for m in body["by_model"]) == 7
    # Each phone once, as it last reported: the VVX's older firmware is gone.
    assert body["reported"] == [
        {"vendor": "yealink", "model": "t46s", "firmware": "66.85.0.5", "phones": 2},
        {"vendor": "", "model": "", "firmware": "", "phones": 1},
        {"vendor": "polycom", "model": "vvx410", "firmware": "5.9.1", "phones": 1},
    ]
    assert body["stale_days"] == 7
    assert body["stale_total"] == 4  # ten days ago, and three never seen
    assert [(p["mac"], p["last_seen"]) for p in body["stale"]] == [
        (T46S, NOW - 10 * DAY),
        (NEVER[0], None),
    ]
    assert body["failed_since"] == body["at"] - 3600
    assert body["failed_total"] == 2  # the one two hours ago is not counted
    assert [(f["mac"], f["path"]) for f in body["failed"]] == [
        (None, "/secret.cfg"),
        (CISCO, f"/SEP{CISCO.upper()}.cnf.xml"),
    ]
    assert body["pending"] == 1  # the rejected device is not waiting
    month = _get(client, seeded, "/summary?days=30")
    assert isinstance(month, dict)
    assert [p["mac"] for p in month["stale"]] == NEVER


def test_a_tenant_key_gets_its_tenants_summary(seeded: Api, client: Client) -> None:
    body = _get(client, seeded, "/summary", "viewer@demo")
    assert isinstance(body, dict)
    assert body["phones"] == 6
    assert {m["tenant"] for m in body["by_model"]} == {"demo"}
    assert {"vendor": "yealink", "model": "t46s", "firmware": "66.85.0.5", "phones": 1} in body[
        "reported"
    ]
    assert body["stale_total"] == 4
    # An unknown device's failure belongs to no tenant.
    assert [f["mac"] for f in body["failed"]] == [CISCO]
    assert body["failed_total"] == 1
    assert body["pending"] == 1
    wrong = client("GET", seeded.url("/summary?days=0"), seeded.keys["viewer@demo"])
    assert wrong.status == 400


def _macs(client: Client, api: Api, query: str, key: str = "admin") -> list[str]:
    body = _get(client, api, "/phones?" + query, key)
    assert isinstance(body, dict)
    assert body["total"] == len(body["items"])
    return [p["mac"].replace(":", "") for p in body["items"]]


def test_phones_filtered_by_reported_firmware_and_last_seen(seeded: Api, client: Client) -> None:
    assert _macs(client, seeded, "firmware=5.9.1") == [VVX]
    assert _macs(client, seeded, "firmware=5.9.0") == []  # no longer what it reports
    assert _macs(client, seeded, "firmware=66.85.0.5") == [T46S, OTHER_T46S]
    assert _macs(client, seeded, "firmware=66.85.0.5", "operator@demo") == [T46S]
    assert _macs(client, seeded, "seen_since=1d") == [VVX, CISCO, OTHER_T46S]
    assert _macs(client, seeded, "not_seen_since=1d") == sorted([T46S, *NEVER])
    assert _macs(client, seeded, "not_seen_since=30d") == NEVER
    assert _macs(client, seeded, "seen_since=30d&not_seen_since=1d") == [T46S]
    assert _macs(client, seeded, "seen_since=1d&model=t46s&sort=-mac") == [OTHER_T46S]
    assert _macs(client, seeded, "not_seen_since=1d&q=0002-fd") == [NEVER[0]]
    wrong = client("GET", seeded.url("/phones?seen_since=soon"), seeded.keys["admin"])
    assert wrong.status == 422

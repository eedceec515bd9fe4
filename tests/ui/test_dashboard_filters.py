"""The dashboard's counts and bans, and the phone list's firmware and last-seen filters,
in a real browser against a real server (the fixtures of tests/ui/conftest.py)."""

from __future__ import annotations

import http.client
import re
import time
from urllib.parse import urlencode, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from provisioner.catalog import Catalog
from provisioner.store import Ban, SeenRow, Store
from tests.ui.conftest import HOSTILE, HOSTILE_MAC, Ui, log_in, screenshot
from tests.waiting import eventually

NOW = int(time.time())
DAY = 86400
VVX = "0004f2123456"  # demo, vvx410: upgraded to 5.9.1 a minute ago
T46S = "805ec0123456"  # demo, t46s: last fetched ten days ago
OTHER_T46S = "805ec0aabbcc"  # tenant other, t46s: fetched just now
# The other phones (demo's 000d28…, 001b54…, 0002fd…, 00562b… and the hostile
# one) never fetched. Every fetch of a phone in this module is seeded here.
PHONES, DEMO_PHONES = 8, 7
LOOKUPS_FROM = "127.0.0.2"  # walks unknown MACs on the phones' port
PASSWORDS_FROM = "127.0.0.3"  # tries wrong web UI passwords
BAN_LIMIT = 30  # serve's default --ban-limit
ENDED = "192.0.2.7"  # banned for wrong API keys half an hour ago, for ten minutes


def _fetch(mac: str, path: str, vendor: str, model: str, firmware: str, at: int) -> SeenRow:
    return SeenRow(mac, mac, "10.0.0.5", "http", path, "UA", vendor, model, firmware, "ok",
                   True, 1, at, at)  # fmt: skip


@pytest.fixture(scope="module")
def fetched(ui: Ui, catalog: Catalog) -> Ui:
    """Three phones' fetches, a failed one with a hostile path, and a ban that ended."""
    store = Store.open(ui.db, catalog)
    try:
        failed = SeenRow("10.0.0.99", None, "10.0.0.99", "http", HOSTILE, "curl/8", "", "", "",
                         "not_found", False, 2, NOW, NOW)  # fmt: skip
        store.seen.record(
            [
                _fetch(VVX, f"/{VVX}.cfg", "polycom", "vvx410", "5.9.0", NOW - 300),
                _fetch(VVX, f"/{VVX}-phone.cfg", "polycom", "vvx410", "5.9.1", NOW - 60),
                _fetch(T46S, f"/{T46S}.cfg", "yealink", "t46s", "66.85.0.5", NOW - 10 * DAY),
                _fetch(OTHER_T46S, f"/{OTHER_T46S}.cfg", "yealink", "t46s", "66.85.0.5", NOW),
                failed,
            ],
            max_rows=100_000,
        )
        store.bans.record([Ban(ENDED, NOW - 1200, "api_key_failed", NOW - 1800)])
    finally:
        store.close()
    return ui


def _tile(page: Page, name: str) -> str:
    return page.locator(f"#{name}").inner_text()


def test_the_dashboard_shows_the_summary_counts(page: Page, fetched: Ui) -> None:
    log_in(page, fetched, "admin")
    assert _tile(page, "phones-total") == str(PHONES)
    # Seen in the last 7 days: the VVX and the other tenant's T46S.
    assert _tile(page, "stale-total") == str(PHONES - 2)
    failed = int(_tile(page, "failed-total"))
    assert failed >= 1
    firmware = page.locator("#by-firmware tbody tr")
    expect(firmware.filter(has_text="66.85.0.5")).to_have_text(
        re.compile(r"yealink\s*t46s\s*66.85.0.5\s*2")
    )
    expect(firmware.filter(has_text="5.9.1")).to_contain_text("1")
    expect(page.locator("#by-firmware")).not_to_contain_text("5.9.0")  # no longer reported
    expect(page.locator("#by-tenant-model tr", has_text="other")).to_have_text(
        re.compile(r"other\s*t46s\s*1")
    )
    stale = page.locator("#stale-phones tbody tr")
    expect(stale).to_have_count(PHONES - 2)
    expect(stale.first).to_contain_text(T46S)  # most recently seen first, never seen after
    expect(page.locator("#failed-fetches tr", has_text="10.0.0.99")).to_contain_text(HOSTILE)
    assert page.evaluate("window.pwned") is None
    # A tenant's operator counts only the tenant's phones and sees no ban.
    page.get_by_role("button", name="Log out").click()
    log_in(page, fetched, "demo-op")
    assert _tile(page, "phones-total") == str(DEMO_PHONES)
    assert _tile(page, "stale-total") == str(DEMO_PHONES - 1)
    expect(page.locator("#by-tenant-model")).not_to_contain_text("other")
    expect(page.locator("#by-firmware tbody tr").filter(has_text="66.85.0.5")).to_contain_text("1")
    expect(page.locator("#failed-fetches")).not_to_contain_text("10.0.0.99")
    expect(page.locator("#bans-total")).to_have_count(0)
    expect(page.locator("#bans")).to_be_visible()
    expect(page.locator("main")).to_contain_text("shown to accounts of no tenant")
    assert_no_violation(page)


def test_the_phone_list_filters_by_reported_firmware_and_last_seen(page: Page, fetched: Ui) -> None:
    log_in(page, fetched, "operator")
    page.locator("#by-firmware").get_by_role("link", name="66.85.0.5").click()
    expect(page).to_have_url(fetched.url("/ui/phones?firmware=66.85.0.5"))
    rows = page.locator("#phones tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#count")).to_have_text("2 phones")
    expect(page.get_by_label("Firmware (as reported)")).to_have_value("66.85.0.5")
    # The firmware a phone reported before its latest request does not count.
    page.get_by_label("Firmware (as reported)").fill("5.9.0")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#count")).to_have_text("0 phones")
    page.get_by_label("Firmware (as reported)").fill("")
    page.get_by_label("Seen in").select_option(label="the last day")
    page.get_by_role("button", name="Find").click()
    expect(page).to_have_url(re.compile(r"[?&]seen_since=1d(&|$)"))
    expect(rows).to_have_count(2)
    expect(page.locator("#phones")).to_contain_text(VVX)
    expect(page.locator("#phones")).to_contain_text(OTHER_T46S)
    page.get_by_label("Seen in").select_option(label="(any time)")
    page.get_by_label("Not seen for").select_option(label="7 days")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#count")).to_have_text(f"{PHONES - 2} phones")
    expect(page.locator("#phones")).to_contain_text(T46S)
    expect(page.locator("#phones")).to_contain_text(HOSTILE_MAC)
    # Sorting keeps the filters; so does the tenant filter beside them.
    page.locator("#phones").get_by_role("link", name="MAC", exact=True).click()
    expect(page).to_have_url(re.compile(r"not_seen_since=7d"))
    expect(page.locator("#count")).to_have_text(f"{PHONES - 2} phones")
    page.get_by_label("Tenant").select_option("other")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#count")).to_have_text("0 phones")
    # The dashboard's stale list leads to the same list; a value the select does not
    # offer, taken from the URL, stays chosen.
    page.goto(fetched.url("/ui/?days=7"))
    page.get_by_role("link", name="In the phone list").click()
    expect(page).to_have_url(fetched.url("/ui/phones?not_seen_since=7d"))
    expect(page.locator("#count")).to_have_text(f"{PHONES - 2} phones")
    page.goto(fetched.url("/ui/phones?not_seen_since=200d"))
    expect(page.get_by_label("Not seen for")).to_have_value("200d")
    expect(page.locator("#count")).to_have_text(f"{PHONES - 3} phones")  # never seen ones
    assert_no_violation(page)
    page.goto(fetched.url("/ui/phones?seen_since=soon"))
    expect(page.locator("main")).to_contain_text("invalid time 'soon'")


def _from(address: str, port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(address, 0))


def _lookup_unknown(port: int, n: int) -> int:
    """A phone's file for an unknown MAC, from LOOKUPS_FROM (0: closed unanswered, banned)."""
    conn = _from(LOOKUPS_FROM, port)
    try:
        conn.request("GET", f"/0004f2ee{n:04x}.cfg")
        answer = conn.getresponse()
        answer.read()
        return answer.status
    except (ConnectionError, http.client.RemoteDisconnected):
        return 0
    finally:
        conn.close()


def _wrong_password(port: int, n: int) -> int:
    """A login with a wrong password from PASSWORDS_FROM, its form first (0: banned)."""
    conn = _from(PASSWORDS_FROM, port)
    try:
        conn.request("GET", "/ui/login")
        form = conn.getresponse()
        text = form.read().decode()
        if form.status != 200:
            return form.status
        cookie = (form.headers.get("Set-Cookie") or "").split(";", 1)[0]
        token = re.search(r'name="csrf" value="([^"]+)"', text)
        assert token is not None
        body = urlencode({"csrf": token.group(1), "name": f"guess{n}", "password": "not it"})
        headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
        conn.request("POST", "/ui/login", body, headers)
        answer = conn.getresponse()
        answer.read()
        return answer.status
    except (ConnectionError, http.client.RemoteDisconnected):
        return 0
    finally:
        conn.close()


def test_bans_by_failed_lookups_and_wrong_passwords_show_on_the_dashboard(
    page: Page, fetched: Ui, catalog: Catalog
) -> None:
    api_port = urlsplit(fetched.base).port
    assert api_port is not None
    # The uniform failure: a challenge, as a phone with credentials would get, counted.
    assert {_lookup_unknown(fetched.http, n) for n in range(BAN_LIMIT)} == {401}
    eventually(  # banned: closed at accept, once the last failure was counted
        lambda: _lookup_unknown(fetched.http, BAN_LIMIT) == 0, "the walk's address banned"
    )
    assert {_wrong_password(api_port, n) for n in range(BAN_LIMIT)} == {401}
    store = Store.open(fetched.db, catalog)
    try:
        eventually(
            lambda: (
                {LOOKUPS_FROM, PASSWORDS_FROM}
                <= {b.address for b in store.bans.active(time.time())}
            ),
            "both addresses banned in the database",
        )
    finally:
        store.close()
    log_in(page, fetched, "operator")
    expect(page.locator("#bans-total")).to_have_text("3")
    bans = page.locator("#bans-table tbody tr")
    lookups = bans.filter(has_text=LOOKUPS_FROM)
    expect(lookups).to_contain_text("files asked for in vain (lookup_failed)")
    expect(lookups).to_contain_text("yes")
    expect(bans.filter(has_text=PASSWORDS_FROM)).to_contain_text(
        "wrong web UI passwords (ui_login_failed)"
    )
    ended = bans.filter(has_text=ENDED)
    expect(ended).to_contain_text("wrong API keys")
    expect(ended).to_contain_text("no (ended)")
    expect(bans.first).not_to_contain_text(ENDED)  # newest first: the ended one is last
    page.locator("#bans").evaluate("heading => heading.scrollIntoView()")  # at the top
    screenshot(page, "dashboard-bans")
    assert_no_violation(page)


def assert_no_violation(page: Page) -> None:
    """axe-core finds no violation on the page as it is now."""
    result = Axe().run(page)
    assert [(v["id"], v["help"]) for v in result.response["violations"]] == []

"""The web UI in a real browser (Debian's Chromium through Playwright), against a real server."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import FilePayload, Page, expect
from sqlalchemy import update

from provisioner.catalog import Catalog
from provisioner.sipxcom_csv import HEADER
from provisioner.store import PendingDevice, SeenRow, Store
from provisioner.store import _tables as t
from tests.api.test_operations import ROM_MAGIC, rom_zip
from tests.peers import fetch_with_curl
from tests.ui.conftest import HOSTILE, HOSTILE_MAC, PASSWORD, Ui, log_in, screenshot

MAC = "0004f2123456"
UA = "FileTransport PolycomVVX-VVX_410-UA/5.9.1.0615 Type/Application"
OTHER_MAC = "805ec0aabbcc"


def served(ui: Ui) -> bytes:
    code, body = fetch_with_curl("-A", UA, f"http://127.0.0.1:{ui.http}/{MAC}-settings.cfg")
    assert code == 200, code
    return body


def assert_accessible(page: Page) -> None:
    """axe-core finds no violation on the page as it is now."""
    result = Axe().run(page)
    assert [(v["id"], v["help"]) for v in result.response["violations"]] == []


def test_log_in_and_find_a_phone_by_a_mac_typed_with_dashes(page: Page, ui: Ui) -> None:
    page.goto(ui.url("/ui/phones"))
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Fphones$"))
    screenshot(page, "login")
    page.get_by_label("Account").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong name or password")
    log_in(page, ui, "admin")
    page.get_by_role("link", name="Phones", exact=True).click()
    page.get_by_label("Search").fill("00-04-F2-12-34-56")
    page.get_by_role("button", name="Find").click()
    expect(page).to_have_url(re.compile(r"q=00-04-F2-12-34-56"))
    expect(page.locator("#count")).to_have_text("1 phone")
    screenshot(page, "phones")
    page.get_by_role("link", name=MAC).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Phone {MAC}")
    expect(page.locator("#lines")).to_contain_text("Reception")
    # The explain view: each setting's value and the scope that set it.
    expect(page.locator("#settings tr", has_text="time.zone")).to_contain_text("tenant demo")
    screenshot(page, "phone")
    page.go_back()
    expect(page.get_by_label("Search")).to_have_value("00-04-F2-12-34-56")
    expect(page.locator("#count")).to_have_text("1 phone")
    page.go_forward()
    expect(page).to_have_url(ui.url(f"/ui/phones/{MAC}"))


def test_a_group_change_is_previewed_per_phone_then_served_and_audited(page: Page, ui: Ui) -> None:
    before = served(ui)
    log_in(page, ui, "operator")
    page.goto(ui.url("/ui/groups"))
    screenshot(page, "groups")
    page.get_by_role("link", name="office").click()
    page.get_by_label("Setting").fill("provisioning.poll_minutes")
    page.get_by_label("Value").fill("720")
    screenshot(page, "group")
    page.get_by_role("button", name="Preview the change").click()
    diff = page.get_by_role("region", name=f"phone {MAC}")
    expect(diff).to_contain_text('-    prov.polling.period="86400"')
    expect(diff).to_contain_text('+    prov.polling.period="43200"')
    screenshot(page, "preview")
    assert served(ui) == before  # a preview stores nothing
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved provisioning.poll_minutes.")
    deadline = time.monotonic() + 30
    while b'prov.polling.period="43200"' not in served(ui):
        assert time.monotonic() < deadline, "the phone port never served the change"
    page.get_by_role("link", name="Audit log").click()
    entry = page.locator("#audit tbody tr").first
    expect(entry).to_contain_text("ui:operator")
    expect(entry).to_contain_text("setting.set")
    expect(entry).to_contain_text("provisioning.poll_minutes")
    screenshot(page, "audit")


def test_a_viewer_sees_no_edit_control_and_forged_posts_are_refused(page: Page, ui: Ui) -> None:
    log_in(page, ui, "viewer")
    page.goto(ui.url(f"/ui/phones/{MAC}"))
    expect(page.locator("#settings")).to_be_visible()
    for control in ("Preview the change", "Send profile (resync)", "Reboot"):
        expect(page.get_by_role("button", name=control)).to_have_count(0)
    page.goto(ui.url("/ui/groups/demo/office"))
    expect(page.get_by_label("Setting")).to_have_count(0)
    token = page.locator('input[name="csrf"]').first.get_attribute("value")
    action = ui.url("/ui/groups/demo/office/setting")
    form = {"action": "save", "name": "language", "value": "fr"}
    # No token, a wrong token: refused before anything else.
    for forged in ({}, {"csrf": "forged"}):
        answer = page.request.post(action, form={**form, **forged}, max_redirects=0)
        assert answer.status == 403, answer.status
        assert "security token" in answer.text()
    # The viewer's own token: refused by the role, as the API refuses a viewer's key.
    answer = page.request.post(action, form={**form, "csrf": token or ""}, max_redirects=0)
    assert answer.status == 403, answer.status
    assert "needs the operator role" in answer.text()


def test_an_operators_post_without_the_token_is_refused(page: Page, ui: Ui) -> None:
    log_in(page, ui, "operator")
    answer = page.request.post(
        ui.url("/ui/groups/demo/office/setting"),
        form={"action": "save", "name": "language", "value": "fr"},
        max_redirects=0,
    )
    assert answer.status == 403
    page.goto(ui.url("/ui/groups/demo/office"))
    row = page.locator("#group-settings tr", has_text="language")
    expect(row.locator("td").first).to_have_text("de")


def test_a_tenant_operator_never_sees_the_other_tenant(page: Page, ui: Ui) -> None:
    log_in(page, ui, "demo-op")
    page.goto(ui.url("/ui/phones?q=805ec0"))
    expect(page.locator("#phones")).to_contain_text("805ec0123456")
    expect(page.locator("#phones")).not_to_contain_text(OTHER_MAC)
    page.goto(ui.url("/ui/phones?tenant=other"))
    expect(page.locator("#count")).to_have_text("0 phones")
    expect(page.get_by_label("Tenant").locator("option")).to_have_text(["(all)", "demo"])
    answer = page.goto(ui.url(f"/ui/phones/{OTHER_MAC}"))
    assert answer is not None
    assert answer.status == 404
    page.goto(ui.url("/ui/groups"))
    expect(page.locator("main")).not_to_contain_text("ops")
    answer = page.goto(ui.url("/ui/groups/other/ops"))
    assert answer is not None
    assert answer.status == 404
    page.goto(ui.url("/ui/audit?tenant=other"))
    expect(page.locator("main")).to_contain_text("0 entries")


def test_a_hostile_display_name_shows_as_text(page: Page, ui: Ui) -> None:
    log_in(page, ui, "admin")
    for path in (f"/ui/phones?q={HOSTILE_MAC}", f"/ui/phones/{HOSTILE_MAC}"):
        page.goto(ui.url(path))
        expect(page.locator("main")).to_contain_text(HOSTILE)
        assert page.locator("main img, main script").count() == 0
        assert page.evaluate("window.pwned") is None
    expect(page.locator("#lines .display-name")).to_have_text(HOSTILE)


def test_a_session_expires_and_logout_ends_it(page: Page, ui: Ui, catalog: Catalog) -> None:
    log_in(page, ui, "viewer")
    store = Store.open(ui.db, catalog)
    try:
        with store.engine.begin() as conn:  # the clock moved past the session's end
            conn.execute(update(t.ui_sessions).values(expires_at=time.time() - 1))
    finally:
        store.close()
    page.goto(ui.url("/ui/audit"))
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Faudit$"))
    log_in(page, ui, "viewer")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(ui.url("/ui/login"))
    page.goto(ui.url("/ui/"))
    expect(page).to_have_url(re.compile(r"/ui/login"))


def test_send_profile_opens_the_jobs_progress(page: Page, ui: Ui) -> None:
    log_in(page, ui, "operator")
    page.goto(ui.url(f"/ui/phones/{MAC}"))
    page.get_by_role("button", name="Send profile (resync)").click()
    expect(page).to_have_url(re.compile(r"/ui/jobs/\d+$"))
    expect(page.locator("#job")).to_contain_text(MAC)
    screenshot(page, "job")
    # The page polls itself while the job runs: cancelled from elsewhere (this
    # session's own form, posted beside the page), the page shows it without a reload.
    page.evaluate("window.sameDocument = true")
    token = page.locator('input[name="csrf"]').first.get_attribute("value") or ""
    cancel = page.locator("form[action$='/cancel']").get_attribute("action") or ""
    answer = page.request.post(ui.url(cancel), form={"csrf": token}, max_redirects=0)
    assert answer.status == 303, answer.status
    expect(page.locator("#job-state")).to_have_text("cancelled", timeout=30_000)
    assert page.evaluate("window.sameDocument") is True
    page.get_by_role("link", name="Jobs").click()
    expect(page.locator("main table")).to_contain_text("resync")


def test_the_pages_pass_axe_core(page: Page, ui: Ui) -> None:
    axe = Axe()
    page.goto(ui.url("/ui/login"))
    found = {"login": axe.run(page)}
    log_in(page, ui, "operator")
    for name, path in (
        ("dashboard", "/ui/"),
        ("phones", "/ui/phones"),
        ("phone", f"/ui/phones/{MAC}"),
        ("groups", "/ui/groups"),
        ("group", "/ui/groups/demo/office"),
        ("devices", "/ui/devices"),
        ("audit", "/ui/audit"),
        ("jobs", "/ui/jobs"),
        ("tenants", "/ui/tenants"),
        ("schema", "/ui/settings"),
        ("firmware", "/ui/firmware"),
        ("rollouts", "/ui/rollouts"),
    ):
        page.goto(ui.url(path))
        found[name] = axe.run(page)
        if name in ("tenants", "schema"):
            screenshot(page, name)
    problems = {
        name: [(v["id"], v["help"]) for v in result.response["violations"]]
        for name, result in found.items()
        if result.violations_count
    }
    assert problems == {}


def test_files_show_secrets_masked_even_to_an_admin(page: Page, ui: Ui) -> None:
    served(ui)
    log_in(page, ui, "admin")
    fetched = page.locator("#seen tr", has_text=f"{MAC}-settings.cfg")
    deadline = time.monotonic() + 30
    while True:  # seen records reach the database with the server's next poll (1 s here)
        page.goto(ui.url(f"/ui/phones/{MAC}"))
        if fetched.count() or time.monotonic() > deadline:
            break
    expect(fetched).to_contain_text("PolycomVVX-VVX_410")  # the User-Agent it sent
    links = page.locator("#files a")
    names = links.all_inner_texts()
    assert f"{MAC}.cfg" in names
    texts = []
    for name in names:
        page.goto(ui.url(f"/ui/phones/{MAC}"))
        page.get_by_role("link", name=name, exact=True).click()
        texts.append(page.locator("main").inner_text())
        if "********" in texts[-1]:
            screenshot(page, "file")
    assert not any("Reception-200-pw" in text for text in texts)
    assert any("********" in text for text in texts)


def test_the_phone_list_sorts_by_a_column_both_ways(page: Page, ui: Ui) -> None:
    log_in(page, ui, "viewer")
    page.goto(ui.url("/ui/phones?tenant=demo"))
    page.get_by_role("link", name="MAC", exact=True).click()
    expect(page).to_have_url(re.compile(r"sort=mac"))
    ascending = page.locator("#phones tbody tr td:first-child").all_inner_texts()
    assert ascending == sorted(ascending)
    page.get_by_role("link", name="MAC", exact=True).click()
    expect(page).to_have_url(re.compile(r"sort=-mac"))
    descending = page.locator("#phones tbody tr td:first-child").all_inner_texts()
    assert descending == sorted(ascending, reverse=True)
    assert page.get_by_label("Tenant").input_value() == "demo"


def test_an_unknown_device_is_claimed_into_a_group_and_another_rejected(
    page: Page, ui: Ui, catalog: Catalog
) -> None:
    store = Store.open(ui.db, catalog)
    try:
        for mac, agent in (
            ("805ec0112201", "Yealink SIP-T46S 66.85.0.5"),
            ("805ec0112202", HOSTILE),
        ):
            store.seen.quarantine(
                PendingDevice(mac, "demo", "yealink", "t46s", "66.85.0.5", "10.0.0.7", agent, 1, 2)
            )
    finally:
        store.close()
    log_in(page, ui, "demo-op")
    page.get_by_role("link", name="Unknown devices", exact=True).click()
    held = page.get_by_role("region", name="device 805ec0112202")
    expect(held).to_contain_text(HOSTILE)  # what the device sent, as text
    screenshot(page, "devices")
    claimed = page.get_by_role("region", name="device 805ec0112201")
    claimed.get_by_label("Groups (comma-separated)").fill("office")
    claimed.get_by_label("Description").fill("Claimed in the UI")
    claimed.get_by_label("Line 1 user").fill("2201")
    claimed.get_by_label("Line 1 display name").fill("Lab phone")
    claimed.get_by_label("Line 1 password").fill("lab-secret-2201")
    claimed.get_by_role("button", name="Claim").click()
    expect(page).to_have_url(ui.url("/ui/phones/805ec0112201"))
    expect(page.locator("main")).to_contain_text("Claimed in the UI")
    expect(page.locator("main")).to_contain_text("Lab phone")  # its line, made with it
    expect(page.locator("main")).not_to_contain_text("lab-secret-2201")
    expect(page.get_by_role("link", name="office")).to_be_visible()
    page.goto(ui.url("/ui/devices"))
    page.get_by_role("region", name="device 805ec0112202").get_by_role(
        "button", name="Reject"
    ).click()
    expect(page.get_by_role("region", name="device 805ec0112202")).to_contain_text("rejected")
    expect(page.get_by_role("region", name="device 805ec0112201")).to_have_count(0)


def test_keyboard_only_login_and_navigation(page: Page, ui: Ui) -> None:
    page.goto(ui.url("/ui/login"))
    expect(page.locator(":focus")).to_have_attribute("name", "name")  # autofocus
    page.keyboard.type("viewer")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("name", "password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(ui.url("/ui/"))
    page.keyboard.press("Tab")  # the first stop skips the navigation
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Dashboard")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(ui.url("/ui/phones"))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the skip link: the search field is the next stop
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("name", "q")


def test_disable_enable_and_delete_with_confirmation(page: Page, ui: Ui) -> None:
    log_in(page, ui, "operator")
    page.goto(ui.url("/ui/phones/001b54123456"))
    page.get_by_role("button", name="Disable (it gets no files)").click()
    expect(page.locator(".facts")).to_contain_text("Enabledno")
    page.get_by_role("button", name="Enable").click()
    expect(page.locator(".facts")).to_contain_text("Enabledyes")
    page.goto(ui.url("/ui/phones/000d28123456"))
    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete phone 000d28123456?")
    page.get_by_role("link", name="Keep it").click()
    expect(page).to_have_url(ui.url("/ui/phones/000d28123456"))
    page.get_by_role("link", name="Delete…").click()
    page.get_by_role("button", name="Delete phone 000d28123456").click()
    expect(page.get_by_role("status")).to_have_text("Deleted phone 000d28123456.")
    answer = page.goto(ui.url("/ui/phones/000d28123456"))
    assert answer is not None
    assert answer.status == 404
    page.goto(ui.url("/ui/audit?mac=00-0d-28-12-34-56"))
    expect(page.locator("#audit tbody tr").first).to_contain_text("phone.remove")


def test_groups_are_reordered_by_weight(page: Page, ui: Ui) -> None:
    log_in(page, ui, "operator")
    page.goto(ui.url("/ui/groups"))
    first = page.locator("table").first.locator("tbody tr td:first-child")
    expect(first).to_have_text(["lobby", "office"])  # the heavier first: it wins
    page.get_by_role("button", name="Move office up").click()
    expect(first).to_have_text(["office", "lobby"])
    page.get_by_role("button", name="Move office down").click()
    expect(first).to_have_text(["lobby", "office"])


def test_the_dashboard_breaks_the_fleet_down(page: Page, ui: Ui, catalog: Catalog) -> None:
    now = int(time.time())
    month_ago = now - 30 * 86400
    rows = [
        SeenRow("805ec0123456", "805ec0123456", "10.0.0.21", "http", "/805ec0123456.cfg",
                "Yealink SIP-T46S 66.85.0.5", "yealink", "t46s", "66.85.0.5", "ok", True,
                1, now, now),
        SeenRow("00562b123456", "00562b123456", "10.0.0.22", "http", "/00562b123456.xml",
                "", "cisco", "cp8841-3pcc", "11-3-7", "ok", True, 1, month_ago, month_ago),
        SeenRow("10.0.0.99", None, "10.0.0.99", "http", HOSTILE, "curl/8", "", "", "",
                "not_found", False, 3, now, now),
    ]  # fmt: skip
    store = Store.open(ui.db, catalog)
    try:
        store.seen.record(rows, max_rows=100_000)
    finally:
        store.close()
    log_in(page, ui, "operator")
    expect(page.locator("#by-model")).to_contain_text("vvx410")
    firmware = page.locator("#by-firmware tr", has_text="66.85.0.5")
    expect(firmware).to_contain_text("t46s")
    stale = page.locator("#stale-phones")
    expect(stale).to_contain_text("00562b123456")  # last seen 30 days ago
    expect(stale).not_to_contain_text("805ec0123456")  # seen just now
    failed = page.locator("#failed-fetches tr", has_text="10.0.0.99")
    expect(failed).to_contain_text(HOSTILE)  # a hostile path shows as text
    expect(failed).to_contain_text("not_found")
    assert page.evaluate("window.pwned") is None
    screenshot(page, "dashboard")
    page.get_by_label("Days").fill("60")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(ui.url("/ui/?days=60"))
    expect(page.locator("#stale-phones")).not_to_contain_text("00562b123456")
    page.locator("#by-model").get_by_role("link", name="vvx410", exact=True).click()
    expect(page).to_have_url(ui.url("/ui/phones?model=vvx410"))


def test_bulk_actions_on_the_phone_list(page: Page, ui: Ui) -> None:
    chosen = ("0002fd123456", "001b54123456")
    log_in(page, ui, "admin")

    def select(query: str = "tenant=demo") -> None:
        page.goto(ui.url(f"/ui/phones?{query}"))
        for mac in chosen:
            page.get_by_label(f"Select {mac}").check()

    select()
    page.get_by_label("With the selected phones").select_option("move to group")
    page.get_by_label("Group (for move)").fill("lobby")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status")).to_have_text("Done: move, 2 phone(s).")
    page.goto(ui.url("/ui/phones?tenant=demo&group=lobby"))
    for mac in chosen:
        expect(page.locator("#phones")).to_contain_text(mac)
    page.goto(ui.url("/ui/phones?tenant=demo&group=office"))
    for mac in chosen:
        expect(page.locator("#phones")).not_to_contain_text(mac)

    # All or nothing: a phone that does not exist refuses the whole change set.
    page.goto(ui.url("/ui/phones"))
    token = page.locator("#bulk input[name=csrf]").input_value()
    answer = page.request.post(
        ui.url("/ui/phones/bulk"),
        data=f"csrf={token}&action=disable&mac={chosen[0]}&mac=0004f2000000",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        max_redirects=0,
    )
    assert answer.status == 404, answer.status
    assert "0004f2000000" in answer.text()
    answer = page.request.post(
        ui.url("/ui/phones/bulk"), form={"action": "disable", "mac": chosen[0]}, max_redirects=0
    )
    assert answer.status == 403, answer.status  # no CSRF token
    page.goto(ui.url(f"/ui/phones/{chosen[0]}"))
    expect(page.locator(".facts")).to_contain_text("Enabledyes")

    select()
    page.get_by_label("With the selected phones").select_option("disable")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status")).to_have_text("Done: disable, 2 phone(s).")
    for mac in chosen:
        expect(page.locator("#phones tr", has_text=mac).locator("td").last).to_have_text("no")

    select()
    page.get_by_label("With the selected phones").select_option("enable")
    page.get_by_role("button", name="Apply").click()
    for mac in chosen:
        expect(page.locator("#phones tr", has_text=mac).locator("td").last).to_have_text("yes")

    select()
    page.get_by_label("With the selected phones").select_option("reboot")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(re.escape(ui.url("/ui/jobs/")) + r"\d+$"))
    expect(page.locator("main")).to_contain_text("reboot")

    select()
    page.get_by_label("With the selected phones").select_option("delete…")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete 2 phones?")
    expect(page.locator("#doomed")).to_contain_text(chosen[1])
    assert_accessible(page)
    page.get_by_role("button", name="Delete 2 phones").click()
    expect(page.get_by_role("status")).to_have_text("Done: delete, 2 phone(s).")
    for mac in chosen:
        gone = page.goto(ui.url(f"/ui/phones/{mac}"))
        assert gone is not None
        assert gone.status == 404
    page.goto(ui.url("/ui/audit?mac=" + chosen[0]))
    expect(page.locator("#audit tbody tr").first).to_contain_text("phone.remove")
    page.goto(ui.url("/ui/phones?done=delete:2%20-%20call%20555"))  # a crafted note
    expect(page.get_by_role("status")).to_have_count(0)


def test_firmware_upload_with_progress_then_a_rollout_canary(page: Page, ui: Ui) -> None:
    log_in(page, ui, "admin")
    page.get_by_role("link", name="Firmware", exact=True).click()
    assert_accessible(page)
    page.get_by_label("Vendor").select_option("yealink")
    page.get_by_label("Label").fill("ui-bad")
    page.get_by_label("Archive or image").set_input_files(
        {"name": "T46S-66.86.0.20.rom", "mimeType": "application/octet-stream", "buffer": b"no"}
    )
    page.get_by_role("button", name="Upload").click()
    # Refused by the ingest checks; the bar shows the bytes sent, the status why.
    expect(page.locator("#upload-status")).to_contain_text("is not a yealink firmware image")
    bar = page.get_by_label("Upload progress")
    assert bar.evaluate("b => b.value > 0 && b.value === b.max") is True
    content = rom_zip()
    page.get_by_label("Label").fill("ui-r1")
    page.get_by_label("Archive or image").set_input_files(
        {"name": "t46s.zip", "mimeType": "application/zip", "buffer": content}
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status").first).to_have_text(
        "Uploaded yealink/ui-r1 (inactive until activated)."
    )
    row = page.locator("#sets tr", has_text="yealink/ui-r1")
    expect(row).to_contain_text(hashlib.sha256(content).hexdigest())
    expect(row).to_contain_text(hashlib.sha256(ROM_MAGIC + b"image" * 99 + b"!").hexdigest())
    screenshot(page, "firmware")
    forged = page.request.post(
        ui.url("/ui/firmware/upload"),
        multipart={"vendor": "yealink", "label": "forged", "file": {"name": "a.zip",
                   "mimeType": "application/zip", "buffer": content}},
        max_redirects=0,
    )  # fmt: skip
    assert forged.status == 403, forged.status  # a streamed upload needs the token too
    page.get_by_role("button", name="Activate yealink/ui-r1").click()
    expect(page.locator("#sets tr", has_text="yealink/ui-r1").locator("td").nth(3)).to_have_text(
        "yes"
    )

    page.get_by_role("link", name="Rollouts", exact=True).click()
    page.get_by_label("Active firmware set").select_option("yealink/ui-r1")
    page.get_by_label("Group (its phones of the set's vendor)").select_option("demo/office")
    page.get_by_label("Canary wave (phones)").fill("1")
    page.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(re.escape(ui.url("/ui/rollouts/")) + r"\d+$"))
    expect(page.locator("#rollout-state")).to_have_text("running")
    canary = page.locator("#rollout-phones tr", has_text="1").first
    expect(canary).to_contain_text("waiting")
    assert_accessible(page)
    page.get_by_role("button", name="Halt").click()
    expect(page.locator("#rollout-state")).to_have_text("halted")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#rollout-state")).to_have_text("running")
    # The canary fetches its files and reports the new firmware: the wave completes,
    # seen by the page's own polling (no reload).
    mac = canary.locator("td").first.inner_text()
    agent = f"Yealink SIP-T46S 66.86.0.20 {':'.join(mac[i : i + 2] for i in range(0, 12, 2))}"
    code, _ = fetch_with_curl(
        "-A", agent, "--digest", "-u", f"{mac}:demo-http-pass",  # the demo fleet's login
        f"http://127.0.0.1:{ui.http}/{mac}.cfg",
    )  # fmt: skip
    assert code == 200, code
    expect(page.locator("#rollout-phones tr", has_text=mac)).to_contain_text(
        "upgraded", timeout=30_000
    )
    screenshot(page, "rollout")
    page.get_by_role("button", name="Roll back").click()
    expect(page.locator("#rollout-state")).to_have_text("rolled_back")
    page.goto(ui.url("/ui/audit?action=rollout.start"))
    expect(page.locator("#audit tbody tr").first).to_contain_text("ui:admin")


def test_api_keys_and_accounts_are_managed_by_an_admin_only(page: Page, ui: Ui) -> None:
    log_in(page, ui, "operator")
    expect(page.get_by_role("link", name="API keys")).to_have_count(0)
    for path in ("/ui/apikeys", "/ui/accounts"):
        refused = page.goto(ui.url(path))
        assert refused is not None
        assert refused.status == 403, (path, refused.status)
    page.context.clear_cookies()

    log_in(page, ui, "admin")
    page.get_by_role("link", name="API keys", exact=True).click()
    assert_accessible(page)
    page.get_by_label("Name").fill("ui-made-key")
    page.get_by_label("Role").select_option("viewer")
    page.get_by_label("Tenant (limit it to)").select_option("other")
    page.get_by_role("button", name="Make key").click()
    key = page.get_by_label("The key").input_value()
    phones = ui.url("/api/v1/phones")
    code, body = fetch_with_curl("-H", f"X-API-Key: {key}", phones)
    assert code == 200, code
    assert b"805ec0aabbcc" in body
    assert b"0004f2123456" not in body  # the key sees its tenant only
    row = page.locator("#keys tr", has_text="ui-made-key")
    expect(row).to_contain_text("account admin")
    row.get_by_role("button", name=re.compile("^Revoke key")).click()
    expect(page.locator("#keys tr", has_text="ui-made-key").get_by_role("button")).to_have_count(0)
    assert fetch_with_curl("-H", f"X-API-Key: {key}", phones)[0] == 401

    page.get_by_role("link", name="Accounts", exact=True).click()
    assert_accessible(page)
    page.get_by_label("Name").fill("newbie")
    page.get_by_label("Role").select_option("viewer")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password again").fill("short")
    page.get_by_label("Password", exact=True).evaluate("e => e.removeAttribute('minlength')")
    page.get_by_label("Password again").evaluate("e => e.removeAttribute('minlength')")
    page.get_by_role("button", name="Make account").click()
    expect(page.get_by_role("alert")).to_contain_text("a password has 10 to")  # the service's
    page.go_back()
    page.get_by_label("Name").fill("newbie")
    page.get_by_label("Password", exact=True).fill("newbie-password")
    page.get_by_label("Password again").fill("newbie-password")
    page.get_by_role("button", name="Make account").click()
    expect(page.get_by_role("status")).to_have_text("Done: created newbie.")
    expect(page.locator("#accounts tr", has_text="newbie")).to_contain_text("viewer")
    page.get_by_label("New password for newbie").fill("another-password")
    page.get_by_label("Again for newbie").fill("another-password")
    page.get_by_role("button", name="Set the password of newbie").click()
    expect(page.get_by_role("status")).to_have_text("Done: new password for newbie.")
    page.get_by_role("button", name="Remove account newbie").click()
    expect(page.get_by_role("status")).to_have_text("Done: removed newbie.")
    expect(page.locator("#accounts")).not_to_contain_text("newbie")
    page.goto(ui.url("/ui/audit?actor=admin"))
    for action in ("apikey.create", "account.create", "account.passwd", "account.remove"):
        expect(page.locator("#audit")).to_contain_text(action)


def test_import_a_csv_file_after_its_preview_and_apply_a_fleet_file(page: Page, ui: Ui) -> None:
    new_phone = "0004f2abcdef"
    row = {
        "User name": "330",
        "SIP password": "New-330-pw",
        "First name": HOSTILE,
        "Last name": "New",
        "Phone serial number": new_phone,
        "Phone model": "polycomVVX410",
        "Phone group": "imported",
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerow([row.get(c, "") for c in HEADER])
    upload: FilePayload = {
        "name": "users.csv",
        "mimeType": "text/csv",
        "buffer": out.getvalue().encode(),
    }
    log_in(page, ui, "operator")
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page.get_by_label("Fleet file (all or nothing, as provisioner apply)")).to_have_count(0)
    page.get_by_label("Tenant to import into").select_option("demo")
    page.get_by_role("button", name="Choose").click()
    assert_accessible(page)
    page.get_by_label("CSV file for demo").set_input_files(upload)
    page.get_by_role("button", name="Preview").click()
    report = page.locator("#report")
    expect(report.get_by_role("status")).to_have_text(
        "Preview of 1 row(s) for tenant demo: nothing is saved yet."
    )
    # The hostile name as the phone's XML file escapes it, shown on the page as text.
    expect(page.get_by_role("region", name=f"phone {new_phone}")).to_contain_text("&lt;img src=x")
    assert page.evaluate("window.pwned") is None
    screenshot(page, "import")
    assert_accessible(page)
    gone = page.request.get(ui.url(f"/ui/phones/{new_phone}"))
    assert gone.status == 404  # a preview stores nothing
    page.get_by_label("CSV file for demo").set_input_files(upload)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(report.get_by_role("status")).to_have_text("Imported 1 row(s) into tenant demo.")
    page.goto(ui.url(f"/ui/phones/{new_phone}"))
    expect(page.get_by_role("link", name="imported")).to_be_visible()
    page.context.clear_cookies()

    log_in(page, ui, "admin")
    page.goto(ui.url("/ui/import"))
    page.get_by_label("Fleet file (all or nothing, as provisioner apply)").fill(
        'version = 1\n[[tenants]]\nname = "other"\nsip_domain = "pbx.other.example"\n'
        '[[groups]]\ntenant = "other"\nname = "from-ui"\n'
    )
    page.get_by_role("button", name="Apply fleet file").click()
    expect(page.locator("#fleet-report").get_by_role("status")).to_contain_text("group created")
    page.goto(ui.url("/ui/groups"))
    expect(page.locator("main")).to_contain_text("from-ui")

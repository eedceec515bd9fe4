"""The phone page's editors in a real browser: the phone's own fields, its lines, and the
keys editor (drag and drop, keyboard, and without the script), each previewed then saved."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.peers import fetch_with_curl
from tests.ui.conftest import VIEWPORT, Ui, log_in, screenshot

MAC = "0004f2123456"  # the demo's Polycom VVX 410: keys are attendant.resourceList entries
UA = "FileTransport PolycomVVX-VVX_410-UA/5.9.1.0615 Type/Application"
YEALINK = "805ec0123456"  # a T46S: every key type
HOSTILE_LABEL = '<img src=x onerror="window.pwned=1">'  # within a label's 64 characters


def served(ui: Ui) -> str:
    code, body = fetch_with_curl("-A", UA, f"http://127.0.0.1:{ui.http}/{MAC}-settings.cfg")
    assert code == 200, code
    return body.decode()


def served_until(ui: Ui, done: Callable[[str], bool]) -> str:
    """The phone's file once the server serves the saved change (its next poll)."""
    deadline = time.monotonic() + 30
    while True:
        text = served(ui)
        if done(text):
            return text
        assert time.monotonic() < deadline, "the phone port never served the change"


def attendants(text: str) -> list[str]:
    """The targets of the Polycom file's key list, in key order (empty slots left out)."""
    return [a for a in re.findall(r'attendant\.resourceList\.\d+\.address="([^"]*)"', text) if a]


def assert_accessible(page: Page) -> None:
    """axe-core finds no violation on the page as it is now."""
    result = Axe().run(page)
    assert [(v["id"], v["help"]) for v in result.response["violations"]] == []


def test_the_phones_own_fields_are_previewed_then_saved(page: Page, ui: Ui) -> None:
    log_in(page, ui, "operator")
    page.goto(ui.url(f"/ui/phones/{MAC}"))
    assert_accessible(page)
    form = page.locator("#phone-fields")
    expect(form.get_by_label("Model")).to_have_value("vvx410")
    expect(form.get_by_label("office")).to_be_checked()
    form.get_by_label("Description").fill("Front desk")
    form.get_by_label("lobby").uncheck()
    screenshot(page, "phone-edit")
    form.get_by_role("button", name="Preview the phone's change").click()
    main = page.locator("main")
    expect(main).to_contain_text("description 'Reception' → 'Front desk'")
    expect(main).to_contain_text("groups ['lobby', 'office'] → ['office']")
    # Leaving the lobby group drops its VLAN: the diff shows it, per file.
    dropped = page.get_by_role("region", name=f"phone {MAC}").locator("span.del")
    expect(dropped).to_have_text(['-    device.net.vlanId="20"'])
    assert_accessible(page)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("p.note")).to_have_text("Saved the phone.")
    expect(page.locator(".facts")).to_contain_text("Front desk")
    expect(page.locator("#phone-fields").get_by_label("lobby")).not_to_be_checked()
    page.goto(ui.url(f"/ui/audit?mac={MAC}"))
    entry = page.locator("#audit tbody tr").first
    expect(entry).to_contain_text("ui:operator")
    expect(entry).to_contain_text("phone.replace")
    expect(entry).to_contain_text("Reception → Front desk")
    # Put the lobby back for the tests below.
    page.goto(ui.url(f"/ui/phones/{MAC}"))
    page.locator("#phone-fields").get_by_label("lobby").check()
    page.get_by_role("button", name="Preview the phone's change").click()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#phone-fields").get_by_label("lobby")).to_be_checked()


def test_a_line_is_added_changed_and_removed_and_served(page: Page, ui: Ui) -> None:
    log_in(page, ui, "operator")
    page.goto(ui.url(f"/ui/phones/{MAC}"))
    added = page.locator("#add-line")
    added.get_by_label("User", exact=True).fill("207")
    added.get_by_label("Display name").fill("Front desk 2")
    added.get_by_label("Password").fill("Desk-207-pw")
    added.get_by_role("button", name="Preview the new line").click()
    diff = page.get_by_role("region", name=f"phone {MAC}")
    expect(diff).to_contain_text('+    reg.3.displayName="Front desk 2"')
    expect(diff).not_to_contain_text("Desk-207-pw")  # an operator's diff masks secrets
    assert "Front desk 2" not in served(ui)  # a preview stores nothing
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#lines")).to_contain_text("Front desk 2")
    text = served_until(ui, lambda t: 'reg.3.displayName="Front desk 2"' in t)
    assert 'reg.3.auth.password="Desk-207-pw"' in text
    # Changed without typing a password: the stored one stays.
    page.get_by_role("link", name="Change line 3").click()
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.locator("#line-password-note")).to_contain_text("set (********)")
    assert_accessible(page)
    page.get_by_label("Display name").fill("Front desk two")
    page.get_by_role("button", name="Preview the change").click()
    expect(page.locator("main")).to_contain_text("display_name 'Front desk 2' → 'Front desk two'")
    page.get_by_role("button", name="Save").click()
    text = served_until(ui, lambda t: 'reg.3.displayName="Front desk two"' in t)
    assert 'reg.3.auth.password="Desk-207-pw"' in text
    page.get_by_role("link", name="Change line 3").click()
    page.get_by_role("button", name="Preview removing line 3").click()
    expect(page.get_by_role("region", name=f"phone {MAC}")).to_contain_text("-    reg.3.")
    page.get_by_role("button", name="Save").click()
    served_until(ui, lambda t: "reg.3.displayName" not in t)
    expect(page.locator("#lines")).not_to_contain_text("Front desk two")


def test_keys_are_added_dragged_moved_by_keyboard_previewed_and_saved(page: Page, ui: Ui) -> None:
    log_in(page, ui, "operator")
    page.goto(ui.url(f"/ui/phones/{MAC}"))
    editor = page.locator("form.keys-editor")
    for n, (target, label) in enumerate((("202", "Alice"), ("203", "Bob"), ("204", "Carol")), 1):
        editor.get_by_role("button", name="Add a key").click()  # the draft comes back, one more
        editor = page.locator("form.keys-editor")
        expect(editor.locator("tbody tr")).to_have_count(n)
        editor.get_by_role("combobox", name=f"Type {n}", exact=True).select_option("blf")
        editor.get_by_role("textbox", name=f"Target {n}", exact=True).fill(target)
        editor.get_by_role("textbox", name=f"Label {n}", exact=True).fill(label)
    # Beside the draft, the layout as saved now: none yet.
    expect(page.get_by_role("region", name="Placed keys")).to_contain_text("No keys placed")
    order = editor.locator("input[name=order]")
    expect(order).to_have_value("0,1,2")
    # A real drag of Carol's handle onto Alice's row: Carol takes the first place.
    page.drag_and_drop(
        "#keys-table tbody tr:nth-child(3) .grip", "#keys-table tbody tr:nth-child(1) td.key-number"
    )
    expect(order).to_have_value("2,0,1")
    expect(editor.get_by_role("textbox", name="Label 1", exact=True)).to_have_value("Carol")
    # The keyboard: Bob's Up button, focused and pressed, moves him above Alice.
    up = editor.get_by_role("button", name="Up 3", exact=True)
    up.focus()
    page.keyboard.press("Enter")
    expect(order).to_have_value("2,1,0")
    expect(page.locator("#keys-said")).to_have_text("Key moved to place 2")
    expect(editor.get_by_role("button", name="Up 2", exact=True)).to_be_focused()
    editor.get_by_role("button", name="Preview the keys").click()
    diff = page.get_by_role("region", name=f"phone {MAC}")
    expect(diff).to_contain_text('+    attendant.resourceList.1.address="204"')
    expect(diff).to_contain_text('+    attendant.resourceList.2.address="203"')
    expect(diff).to_contain_text('+    attendant.resourceList.3.address="202"')
    screenshot(page, "keys-editor")
    assert_accessible(page)
    assert attendants(served(ui)) == []  # a preview stores nothing
    page.get_by_role("button", name="Save the keys").click()
    expect(page).to_have_url(ui.url(f"/ui/phones/{MAC}?saved=keys"))
    placed = page.locator("#placed-keys tbody tr")
    expect(placed.filter(has_text="blf")).to_have_count(3)
    expect(placed.filter(has_text="blf").first).to_contain_text("Carol")
    assert attendants(served_until(ui, lambda t: bool(attendants(t)))) == ["204", "203", "202"]
    page.goto(ui.url(f"/ui/audit?mac={MAC}"))
    entry = page.locator("#audit tbody tr").first
    expect(entry).to_contain_text("ui:operator")
    expect(entry).to_contain_text("setting.set")
    expect(entry).to_contain_text("keys")


def test_a_draft_changed_after_its_preview_is_previewed_again_not_saved(page: Page, ui: Ui) -> None:
    log_in(page, ui, "operator")
    page.goto(ui.url("/ui/groups/demo/lobby"))
    editor = page.locator("form.keys-editor")
    editor.get_by_role("button", name="Add a key").click()
    editor.get_by_role("textbox", name="Target 1", exact=True).fill("205")
    editor.get_by_role("button", name="Preview the keys").click()
    expect(editor.get_by_role("button", name="Save the keys")).to_be_visible()
    # Typing after the preview takes the Save button away (the script) …
    editor.get_by_role("textbox", name="Label 1", exact=True).fill("Meeting")
    expect(editor.get_by_role("button", name="Save the keys")).to_have_count(0)
    # … and a Save posted anyway is answered with the new preview (the server's digest).
    token = editor.locator("input[name=csrf]").get_attribute("value") or ""
    answer = page.request.post(
        ui.url("/ui/groups/demo/lobby/keys"),
        form={
            "csrf": token,
            "action": "save",
            "order": "0",
            "type-0": "blf",
            "value-0": "205",
            "label-0": "Changed",
            "previewed": "0" * 64,
        },
        max_redirects=0,
    )
    assert answer.status == 200, answer.status
    assert "changed since its preview" in answer.text()
    page.goto(ui.url("/ui/groups/demo/lobby"))
    expect(page.locator("#group-settings")).not_to_contain_text("Changed")


def test_a_hostile_key_label_shows_as_text(page: Page, ui: Ui) -> None:
    log_in(page, ui, "operator")
    page.goto(ui.url(f"/ui/phones/{YEALINK}"))
    editor = page.locator("form.keys-editor")
    editor.get_by_role("button", name="Add a key").click()
    editor.get_by_role("textbox", name="Target 1", exact=True).fill("206")
    editor.get_by_role("textbox", name="Label 1", exact=True).fill(HOSTILE_LABEL)
    editor.get_by_role("button", name="Preview the keys").click()
    label = editor.get_by_role("textbox", name="Label 1", exact=True)
    expect(label).to_have_value(HOSTILE_LABEL)
    expect(page.get_by_role("region", name=f"phone {YEALINK}")).to_contain_text(HOSTILE_LABEL)
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.pwned") is None
    page.get_by_role("button", name="Save the keys").click()
    expect(page.locator("#placed-keys .key-label")).to_contain_text([HOSTILE_LABEL])
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.pwned") is None


def test_without_the_script_up_and_down_post_the_draft_rearranged(browser: Browser, ui: Ui) -> None:
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)  # type: ignore[arg-type]
    page = context.new_page()
    try:
        log_in(page, ui, "operator")
        page.goto(ui.url(f"/ui/phones/{YEALINK}"))
        editor = page.locator("form.keys-editor")
        before = editor.locator("tbody tr").count()
        for target in ("202", "203"):
            editor.get_by_role("button", name="Add a key").click()
            last = editor.locator("tbody tr").count()
            editor.get_by_role("textbox", name=f"Target {last}", exact=True).fill(target)
        expect(editor.locator(".grip").first).to_be_hidden()  # no handle without the script
        editor.get_by_role("button", name=f"Up {before + 2}", exact=True).click()
        expect(page.get_by_role("status").filter(has_text="draft")).to_be_visible()
        targets = editor.get_by_role("textbox", name=re.compile(r"^Target "))
        expect(targets.nth(before)).to_have_value("203")
        expect(targets.nth(before + 1)).to_have_value("202")  # axe runs as a script: the
        # keys page is checked with the script on (test_keys_are_added_…)
        editor.get_by_role("button", name=f"Remove {before + 2}", exact=True).click()
        expect(editor.locator("tbody tr")).to_have_count(before + 1)
        editor.get_by_role("button", name="Preview the keys").click()
        expect(page.get_by_role("region", name=f"phone {YEALINK}")).to_contain_text("203")
        expect(editor.get_by_role("button", name="Save the keys")).to_be_visible()
    finally:
        context.close()


def test_a_viewer_gets_no_editor_and_a_forged_post_is_refused(page: Page, ui: Ui) -> None:
    log_in(page, ui, "viewer")
    page.goto(ui.url(f"/ui/phones/{MAC}"))
    expect(page.locator("#placed-keys, .placed").first).to_be_visible()
    for form in ("form.keys-editor", "#phone-fields", "#add-line"):
        expect(page.locator(form)).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("Change line"))).to_have_count(0)
    page.goto(ui.url("/ui/groups/demo/office"))
    expect(page.locator("form.keys-editor")).to_have_count(0)
    token = page.locator('input[name="csrf"]').first.get_attribute("value") or ""
    for path, forged in (
        (f"/ui/phones/{MAC}/keys", {"action": "up:1", "order": "0,1"}),
        (f"/ui/phones/{MAC}/edit", {"action": "save", "description": "forged"}),
        (f"/ui/phones/{MAC}/lines", {"action": "save", "user": "299"}),
        ("/ui/groups/demo/office/keys", {"action": "add", "order": ""}),
    ):
        answer = page.request.post(ui.url(path), form={**forged, "csrf": token}, max_redirects=0)
        assert answer.status == 403, (path, answer.status)
        assert "needs the operator role" in answer.text(), path
    # The forged POSTs changed nothing.
    page.goto(ui.url(f"/ui/phones/{MAC}"))
    expect(page.locator(".facts")).not_to_contain_text("forged")

"""The tenant editor and the fleet file's preview, in a real browser against a real server."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from tests.ui.conftest import Ui, log_in, screenshot
from tests.ui.test_browser import MAC, assert_accessible, served

OTHER_PHONE = "805ec0aabbcc"
# The tenant "other" of the fixture, whole (a fleet file lists a tenant whole), with a
# new registrar and a new group.
FLEET = f"""version = 1
[[tenants]]
name = "other"
sip_domain = "pbx.other.example"
registrar = {{ host = "sip.moved.example", port = 5070 }}

[[groups]]
tenant = "other"
name = "ops"

[[groups]]
tenant = "other"
name = "front-desk"

[[phones]]
tenant = "other"
mac = "{OTHER_PHONE}"
model = "t46s"
groups = ["ops", "front-desk"]

[[phones.lines]]
user = "300"
password = "other-secret"
"""


def test_a_registrar_change_is_previewed_then_saved_served_and_audited(page: Page, ui: Ui) -> None:
    before = served(ui)
    assert b'reg.1.server.1.address="pbx.demo.example"' in before
    log_in(page, ui, "admin")
    page.get_by_role("link", name="Tenants", exact=True).click()
    page.get_by_role("link", name="demo", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tenant demo")
    expect(page.get_by_label("Registrar host")).to_have_value("pbx.demo.example")
    # An access rule the demo fleet sets, shown as set.
    expect(page.get_by_label("Serve over TFTP (access.tftp.enabled)")).to_have_value("true")
    assert_accessible(page)
    page.get_by_label("Registrar host").fill("pbx2.demo.example")
    page.locator("#tenant-form").evaluate("form => form.scrollIntoView()")  # the whole form
    screenshot(page, "tenant")
    page.get_by_role("button", name="Preview the tenant change").click()
    summary = page.locator("#tenant-preview").get_by_role("status")
    # Every phone of the tenant with a line registers there; the first few diffs are shown.
    expect(summary).to_have_text(
        re.compile(r"^\d+ phone\(s\) would get different files; the first 5 are shown\.$")
    )
    expect(page.locator("#tenant-preview section.diff")).to_have_count(5)
    diff = page.get_by_role("region", name=f"phone {MAC}")
    expect(diff).to_contain_text('-    reg.1.server.1.address="pbx.demo.example"')
    expect(diff).to_contain_text('+    reg.1.server.1.address="pbx2.demo.example"')
    # Secrets masked on screen even for an admin (the API would show them to an admin's key).
    expect(page.locator("#tenant-preview")).to_contain_text("<Password_1_>********</Password_1_>")
    expect(page.locator("#tenant-preview")).not_to_contain_text("Meeting-205-pw")
    screenshot(page, "tenant-preview")
    assert_accessible(page)
    assert served(ui) == before  # a preview stores nothing
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved tenant demo.")
    expect(page.get_by_label("Registrar host")).to_have_value("pbx2.demo.example")
    deadline = time.monotonic() + 30
    while b'reg.1.server.1.address="pbx2.demo.example"' not in served(ui):
        assert time.monotonic() < deadline, "the phone port never served the change"
    page.get_by_role("link", name="Audit log").click()
    entry = page.locator("#audit tbody tr").first
    expect(entry).to_contain_text("ui:admin")
    expect(entry).to_contain_text("tenant.replace")
    expect(entry).to_contain_text("pbx2.demo.example")


def test_a_bad_allowlist_shows_the_validation_message_and_changes_nothing(
    page: Page, ui: Ui
) -> None:
    log_in(page, ui, "admin")
    page.goto(ui.url("/ui/tenants/demo"))
    allow = page.get_by_label("HTTP(S) allowed networks (access.http.allow)")
    allow.fill("10.0.0.0/8, 10.0.0.0/33")
    page.get_by_role("button", name="Preview the tenant change").click()
    expect(page.locator("#tenant-preview").get_by_role("status")).to_have_text(
        "The change would be refused."
    )
    alert = page.get_by_role("alert").first
    expect(alert).to_contain_text("access.http.allow")
    expect(alert).to_contain_text("'10.0.0.0/33' is not a network")
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(allow).to_have_value("10.0.0.0/8, 10.0.0.0/33")  # kept for correcting
    assert_accessible(page)
    # A port that is not a number: the API's model says so.
    page.get_by_label("Outbound proxy port", exact=True).fill("50x")
    page.get_by_role("button", name="Preview the tenant change").click()
    expect(page.get_by_role("alert").first).to_contain_text(
        "body.outbound_proxy.port: Input should be a valid integer"
    )
    page.goto(ui.url("/ui/tenants/demo"))
    expect(page.get_by_label("HTTP(S) allowed networks (access.http.allow)")).to_have_value("")
    expect(page.locator("#tenant-settings")).not_to_contain_text("access.http.allow")
    served(ui)  # the phone is still served (no allowlist keeps it out)


def test_a_field_the_form_does_not_send_keeps_its_value(page: Page, ui: Ui) -> None:
    log_in(page, ui, "admin")
    page.goto(ui.url("/ui/tenants/demo"))
    token = page.locator('input[name="csrf"]').first.get_attribute("value") or ""
    form: dict[str, str | float | bool] = {
        "csrf": token,
        "action": "save",
        "description": "Demo tenant, renamed",
    }
    saved = page.request.post(ui.url("/ui/tenants/demo"), form=form, max_redirects=0)
    assert saved.status == 303, saved.text()
    page.goto(ui.url("/ui/tenants/demo"))
    expect(page.locator("dl.facts")).to_contain_text("Demo tenant, renamed")
    expect(page.get_by_label("TFTP allowed networks (access.tftp.allow)")).to_have_value(
        "127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
    )
    expect(page.get_by_label("Outbound proxy host", exact=True)).to_have_value("sbc.demo.example")


def test_a_tenant_operator_sees_only_its_tenant_and_gets_the_apis_refusal(
    page: Page, ui: Ui
) -> None:
    log_in(page, ui, "demo-op")
    page.goto(ui.url("/ui/tenants"))
    expect(page.locator("#tenants tbody tr")).to_have_count(1)
    expect(page.locator("#tenants")).to_contain_text("demo")
    expect(page.get_by_role("button", name="Create tenant")).to_have_count(0)
    answer = page.goto(ui.url("/ui/tenants/other"))
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("alert")).to_have_text("no tenant named 'other'")
    page.goto(ui.url("/ui/tenants/demo"))
    # The tenant's fields are the admin's (PATCH /tenants needs it); its settings are not.
    expect(page.get_by_label("Registrar host")).to_have_count(0)
    expect(page.get_by_label("Setting")).to_be_visible()
    assert_accessible(page)
    token = page.locator('input[name="csrf"]').first.get_attribute("value") or ""
    forged: dict[str, str | float | bool] = {
        "csrf": token,
        "action": "save",
        "sip_domain": "evil.example",
        "platform": "generic",
    }
    for path in ("/ui/tenants/demo", "/ui/tenants"):
        refused = page.request.post(ui.url(path), form={**forged, "name": "x"}, max_redirects=0)
        assert refused.status == 403, (path, refused.status)
        assert "needs the admin role" in refused.text()
    hidden = page.request.post(ui.url("/ui/tenants/other"), form=forged, max_redirects=0)
    assert hidden.status == 404
    page.goto(ui.url("/ui/tenants/demo"))
    expect(page.locator("dl.facts")).to_contain_text("pbx.demo.example")
    # A setting at the tenant's scope: the API lets an operator, so does the page.
    page.get_by_label("Setting").fill("mwi.subscribe")
    page.get_by_label("Value").fill("true")
    page.get_by_role("button", name="Preview the change").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Preview: tenant demo")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved mwi.subscribe.")
    expect(page.locator("#tenant-settings")).to_contain_text("mwi.subscribe")


def test_an_admin_creates_a_tenant(page: Page, ui: Ui) -> None:
    log_in(page, ui, "admin")
    page.goto(ui.url("/ui/tenants"))
    assert_accessible(page)
    page.get_by_label("Name", exact=True).fill("bad name")
    page.get_by_label("SIP domain").fill("pbx.newco.example")
    page.get_by_role("button", name="Create tenant").click()
    expect(page.get_by_role("alert").first).to_contain_text("bad name")
    expect(page.get_by_label("SIP domain")).to_have_value("pbx.newco.example")
    page.get_by_label("Name", exact=True).fill("newco")
    page.get_by_label("Platform preset").select_option("sipxcom")
    page.get_by_role("button", name="Create tenant").click()
    expect(page).to_have_url(ui.url("/ui/tenants/newco?created=1"))
    expect(page.get_by_role("status")).to_have_text("Created tenant newco.")
    expect(page.locator("dl.facts")).to_contain_text("sipxcom")


def test_a_fleet_file_is_previewed_then_applied(page: Page, ui: Ui) -> None:
    log_in(page, ui, "admin")
    page.goto(ui.url("/ui/import"))
    content = page.get_by_label("Fleet file (all or nothing, as provisioner apply)")
    # A file that cannot be read: the API's words beside it, the text kept for correcting.
    content.fill("[[tenants]\n")
    page.get_by_role("button", name="Preview fleet file").click()
    expect(page.get_by_role("alert")).to_contain_text("body.content: Expected ']]'")
    expect(content).to_have_value("[[tenants]\n")
    # One refused only once applied: the preview's problem, and no Apply of it changed.
    content.fill(FLEET.replace('groups = ["ops", "front-desk"]', 'groups = ["missing"]'))
    page.get_by_role("button", name="Preview fleet file").click()
    expect(page.locator("#fleet-report").get_by_role("status")).to_have_text(
        "Preview, nothing is saved yet: the file would be refused."
    )
    expect(page.get_by_role("alert")).to_contain_text("unknown group 'missing' in tenant other")
    assert_accessible(page)
    content.fill(FLEET)
    page.get_by_role("button", name="Preview fleet file").click()
    report = page.locator("#fleet-report")
    expect(report.get_by_role("status")).to_have_text(
        re.compile(r"^Preview, nothing is saved yet: .*group created 1.*; 1 phone\(s\) would get")
    )
    diff = page.get_by_role("region", name=f"phone {OTHER_PHONE}")
    expect(diff).to_contain_text("-account.1.sip_server.1.address = pbx.other.example")
    expect(diff).to_contain_text("+account.1.sip_server.1.address = sip.moved.example")
    expect(diff).to_contain_text("account.1.password = ********")
    expect(diff).not_to_contain_text("other-secret")
    screenshot(page, "fleet-preview")
    assert_accessible(page)
    groups = page.request.get(ui.url("/ui/groups")).text()
    assert "front-desk" not in groups  # a preview stores nothing
    # The file stays in the form: Apply sends it for real.
    page.get_by_role("button", name="Apply fleet file").click()
    expect(report.get_by_role("status")).to_contain_text("Applied: ")
    expect(report.get_by_role("status")).to_contain_text("group created 1")
    page.goto(ui.url("/ui/groups"))
    expect(page.locator("main")).to_contain_text("front-desk")
    page.goto(ui.url("/ui/tenants/other"))
    expect(page.get_by_label("Registrar host")).to_have_value("sip.moved.example")

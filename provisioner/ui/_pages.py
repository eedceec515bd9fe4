"""The UI's pages: each reads and writes through the admin API's routes (:mod:`._calls`).

Every page is a plain URL (filters and paging in GET query parameters), so
it can be bookmarked and back/forward work; every write is a POST form
answered with a redirect (or, for a setting, first with its preview).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from provisioner.apikeys import Role
from provisioner.errors import InputError
from provisioner.mac import parse_mac
from provisioner.ui._admin import ROUTES as ADMIN_ROUTES
from provisioner.ui._bulk import BULK_DONE, bulk
from provisioner.ui._calls import segment
from provisioner.ui._dashboard import dashboard
from provisioner.ui._firmware import ROUTES as FIRMWARE_ROUTES
from provisioner.ui._handler import Page, PageFunction, link, see_other
from provisioner.ui._import import ROUTES as IMPORT_ROUTES
from provisioner.ui._keys import ALL_KEY_TYPES, editor_for, family_key_types, group_member_layout
from provisioner.ui._keys import ROUTES as KEYS_ROUTES
from provisioner.ui._phone_edit import ROUTES as PHONE_EDIT_ROUTES
from provisioner.ui._setting_edit import edit_setting, setting_names
from provisioner.ui._tenants import ROUTES as TENANT_ROUTES

__all__ = ["ROUTES"]

PAGE_SIZE = 50


def _offset(page: Page) -> int:
    text = page.query("page")
    number = int(text) if text.isdigit() and 0 < len(text) < 7 else 1
    return (max(number, 1) - 1) * PAGE_SIZE


def _pages(page: Page, total: int, offset: int) -> dict[str, Any]:
    """Paging links that keep the page's other query parameters."""
    current = offset // PAGE_SIZE + 1
    last = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    kept = {k: v for k, v in page.request.query.items() if k != "page"}

    def at(n: int) -> str:
        return link(page.request.path[3:], **kept, page=n if n > 1 else "")

    return {
        "current": current,
        "last": last,
        "previous": at(current - 1) if current > 1 else "",
        "next": at(current + 1) if current < last else "",
    }


async def _tenants(page: Page) -> list[str]:
    found = await page.caller.get("/tenants", limit=1000)
    return [t["name"] for t in found["items"]]


# --- phones ----------------------------------------------------------------------

# The phone list's filters, as GET /phones names them (so is the page's URL).
PHONE_FILTERS = ("q", "tenant", "group", "model", "firmware", "seen_since", "not_seen_since")
# The last-seen choices offered (any value the API takes works in the URL).
SEEN_SINCE = (("1h", "the last hour"), ("1d", "the last day"), ("7d", "the last 7 days"),
              ("30d", "the last 30 days"))  # fmt: skip
NOT_SEEN_SINCE = (("1d", "a day"), ("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days"))


def _choices(offered: tuple[tuple[str, str], ...], chosen: str) -> list[tuple[str, str]]:
    """A select's options: those offered, and the URL's own value if it is another."""
    values = [value for value, _ in offered]
    return list(offered) + ([(chosen, chosen)] if chosen and chosen not in values else [])


async def phones(page: Page) -> web.Response:
    """Phones: search, filters, paging."""
    offset = _offset(page)
    filters = {k: page.query(k) for k in PHONE_FILTERS}
    found = await page.caller.get(
        "/phones", **filters, limit=PAGE_SIZE, offset=offset, sort=page.query("sort") or None
    )
    sort = page.query("sort")
    return page.render(
        "phones.html",
        title="Phones",
        filters=filters,
        sort=sort,
        sorted_by={
            column: link("/phones", **filters, sort=column if sort != column else f"-{column}")
            for column in ("mac", "tenant", "model", "description")
        },
        tenants=await _tenants(page),
        seen_choices=_choices(SEEN_SINCE, filters["seen_since"]),
        not_seen_choices=_choices(NOT_SEEN_SINCE, filters["not_seen_since"]),
        items=found["items"],
        total=found["total"],
        paging=_pages(page, found["total"], offset),
        deleted=page.query("deleted"),
        # Shown only in the form bulk() writes: a crafted link cannot put words on the page.
        done=page.query("done") if BULK_DONE.fullmatch(page.query("done")) else "",
    )


async def phone(page: Page) -> web.Response:
    """One phone: lines, groups, every setting with its source, files, last fetches, actions,
    history."""
    mac = parse_mac(page.params["mac"])
    data = await page.caller.get(f"/phones/{mac}")
    explained = await page.caller.get(f"/phones/{mac}/explain")
    files = await page.caller.get(f"/phones/{mac}/files", limit=1000)
    history = await page.caller.get("/audit", mac=mac, limit=10)
    seen = await page.caller.get("/devices/seen", mac=mac, limit=20)
    edit: dict[str, Any] = {"keys_editor_state": None, "models": [], "tenant_groups": []}
    if page.at_least(Role.OPERATOR):  # the edit forms' choices (viewers get no form)
        models = await page.caller.get("/catalog/models", limit=1000)
        tenant_groups = await page.caller.get(
            f"/tenants/{segment(data['tenant'])}/groups", limit=1000
        )
        edit = {
            "keys_editor_state": await editor_for(
                page,
                f"phone:{mac}",
                link(f"/phones/{mac}/keys"),
                family_key_types(page, data["model"]),
            ),
            "models": sorted(models["items"], key=lambda m: (m["vendor"], m["label"])),
            "tenant_groups": [g["name"] for g in tenant_groups["items"]],
        }
    return page.render(
        "phone.html",
        title=f"Phone {mac}",
        mac=mac,
        phone=data,
        explain=explained,
        files=files,
        history=history["items"],
        seen=seen["items"],
        setting_names=await setting_names(page),
        saved=page.query("saved"),
        **edit,
    )


async def phone_file(page: Page) -> web.Response:
    """One file as the phone gets it now, secrets masked."""
    mac = parse_mac(page.params["mac"])
    name = page.params["name"]
    # Shown as a viewer would get it: secrets masked on screen for every role (docs/ui.md).
    masked = replace(page.caller, identity=replace(page.session.identity, role=Role.VIEWER))
    found = await masked.get(f"/phones/{mac}/files/{segment(name)}")
    return page.render("file.html", title=name, mac=mac, file=found)


async def phone_action(page: Page) -> web.Response:
    """Send the phone its profile again (resync) or reboot it: a check-sync job."""
    mac = parse_mac(page.params["mac"])
    event = page.field("event")
    if event not in ("resync", "reboot"):
        raise InputError("event must be resync or reboot")
    job = await page.caller.write("POST", "/jobs", {"phones": [mac], "event": event})
    assert job is not None
    return see_other(link(f"/jobs/{job['id']}"))


async def phone_state(page: Page) -> web.Response:
    """Enable or disable a phone (a disabled one gets no files)."""
    mac = parse_mac(page.params["mac"])
    wanted = page.field("state")
    if wanted not in ("enable", "disable"):
        raise InputError("state must be enable or disable")
    await page.caller.write("POST", f"/phones/{mac}/{wanted}")
    return see_other(link(f"/phones/{mac}"))


async def phone_delete(page: Page) -> web.Response:
    """Delete a phone: a GET asks for confirmation, the confirming POST deletes."""
    mac = parse_mac(page.params["mac"])
    if page.form is None:
        data = await page.caller.get(f"/phones/{mac}")
        return page.render("delete.html", title=f"Delete phone {mac}?", mac=mac, phone=data)
    await page.caller.write("DELETE", f"/phones/{mac}")
    return see_other(link("/phones", deleted=mac))


# --- settings (phone and group) --------------------------------------------------


async def phone_setting(page: Page) -> web.Response:
    """Preview (then save) a setting at the phone's scope."""
    mac = parse_mac(page.params["mac"])
    return await edit_setting(page, f"phone:{mac}", link(f"/phones/{mac}"), f"phone {mac}")


# --- groups ----------------------------------------------------------------------


async def groups(page: Page) -> web.Response:
    """Every group of the tenants the account sees, by tenant."""
    by_tenant = []
    for tenant in await _tenants(page):
        found = await page.caller.get(f"/tenants/{segment(tenant)}/groups", limit=1000)
        by_tenant.append((tenant, found["items"]))
    return page.render("groups.html", title="Groups", by_tenant=by_tenant)


async def group(page: Page) -> web.Response:
    """A group: its settings, members, and the settings editor."""
    tenant, name = page.params["tenant"], page.params["group"]
    data = await page.caller.get(f"/tenants/{segment(tenant)}/groups/{segment(name)}")
    members = await page.caller.get("/phones", tenant=tenant, group=name, limit=PAGE_SIZE)
    editor = None
    if page.at_least(Role.OPERATOR):  # viewers get no form
        action = link(f"/groups/{segment(tenant)}/{segment(name)}/keys")
        editor = await editor_for(page, f"group:{tenant}/{name}", action, ALL_KEY_TYPES)
    layout_mac, layout = await group_member_layout(page, tenant, name)
    return page.render(
        "group.html",
        title=f"Group {tenant}/{name}",
        tenant=tenant,
        group=data,
        members=members,
        setting_names=await setting_names(page),
        saved=page.query("saved"),
        keys_editor_state=editor,
        layout_mac=layout_mac,
        layout=layout,
    )


async def group_order(page: Page) -> web.Response:
    """Move a group up or down among its tenant's groups (its weight: higher wins)."""
    tenant, name = page.params["tenant"], page.params["group"]
    way = page.field("move")
    if way not in ("up", "down"):
        raise InputError("move must be up or down")
    await page.caller.write("POST", f"/tenants/{segment(tenant)}/groups/{segment(name)}/{way}")
    return see_other(link("/groups"))


async def group_setting(page: Page) -> web.Response:
    """Preview (then save) a setting of a group."""
    tenant, name = page.params["tenant"], page.params["group"]
    back = link(f"/groups/{segment(tenant)}/{segment(name)}")
    return await edit_setting(page, f"group:{tenant}/{name}", back, f"group {tenant}/{name}")


# --- settings schema ------------------------------------------------------------


async def schema(page: Page) -> web.Response:
    """Every setting with its type, default, what is allowed and its description."""
    family = page.query("family")
    found = await page.caller.get("/catalog/settings", family=family, limit=1000)
    families = await page.caller.get("/catalog/families", limit=1000)
    return page.render(
        "schema.html",
        title="Settings schema",
        family=family,
        families=[f["key"] for f in families["items"]],
        items=found["items"],
    )


# --- unknown devices, audit, jobs ------------------------------------------------


async def devices(page: Page) -> web.Response:
    """Devices held back by their tenant's unknown-device policy."""
    offset = _offset(page)
    found = await page.caller.get("/devices/pending", limit=PAGE_SIZE, offset=offset)
    return page.render(
        "devices.html",
        title="Unknown devices",
        items=found["items"],
        total=found["total"],
        paging=_pages(page, found["total"], offset),
    )


async def device_action(page: Page) -> web.Response:
    """Claim a pending device into a tenant (model, groups, a first line), or reject it."""
    mac = parse_mac(page.params["mac"])
    if page.params["action"] == "reject":
        await page.caller.write("POST", f"/devices/pending/{mac}/reject")
        return see_other(link("/devices"))
    if page.params["action"] != "claim":
        raise InputError("claim or reject")
    body: dict[str, Any] = {}
    for name in ("tenant", "model"):  # left as they are: where it is held, what it was seen as
        if page.field(name).strip():
            body[name] = page.field(name).strip()
    groups = [g.strip() for g in page.field("groups").split(",") if g.strip()]
    if groups:
        body["groups"] = groups
    if page.field("description"):
        body["description"] = page.field("description")
    if page.field("line_user").strip():
        # Created with the phone, in the claim's one write (the API's `lines`).
        line = {"user": page.field("line_user").strip()}
        for field, name in (("line_display_name", "display_name"), ("line_password", "password")):
            if page.field(field):
                line[name] = page.field(field)
        body["lines"] = [line]
    await page.caller.write("POST", f"/devices/pending/{mac}/claim", body)
    return see_other(link(f"/phones/{mac}"))


async def audit(page: Page) -> web.Response:
    """The audit log, newest first, with filters."""
    offset = _offset(page)
    filters = {k: page.query(k) for k in ("since", "tenant", "mac", "actor", "action")}
    found = await page.caller.get("/audit", **filters, limit=PAGE_SIZE, offset=offset)
    return page.render(
        "audit.html",
        title="Audit log",
        filters=filters,
        items=found["items"],
        total=found["total"],
        paging=_pages(page, found["total"], offset),
    )


async def jobs(page: Page) -> web.Response:
    """Check-sync jobs, newest first."""
    offset = _offset(page)
    found = await page.caller.get("/jobs", limit=PAGE_SIZE, offset=offset)
    return page.render(
        "jobs.html",
        title="Jobs",
        items=found["items"],
        total=found["total"],
        paging=_pages(page, found["total"], offset),
    )


async def job(page: Page) -> web.Response:
    """One job with each phone's progress (the page polls itself while it runs)."""
    number = page.params["id"]
    found = await page.caller.get(f"/jobs/{segment(number)}")
    targets = await page.caller.get(f"/jobs/{segment(number)}/phones", limit=1000)
    return page.render("job.html", title=f"Job {found['id']}", job=found, targets=targets)


async def job_cancel(page: Page) -> web.Response:
    """Cancel a running job."""
    number = page.params["id"]
    await page.caller.write("POST", f"/jobs/{segment(number)}/cancel")
    return see_other(link(f"/jobs/{segment(number)}"))


ROUTES: list[tuple[str, str, PageFunction]] = [
    ("GET", "/", dashboard),
    ("GET", "/phones", phones),
    ("POST", "/phones/bulk", bulk),
    ("GET", "/phones/{mac}", phone),
    ("GET", "/phones/{mac}/files/{name}", phone_file),
    ("POST", "/phones/{mac}/action", phone_action),
    ("POST", "/phones/{mac}/setting", phone_setting),
    ("POST", "/phones/{mac}/state", phone_state),
    ("GET", "/phones/{mac}/delete", phone_delete),
    ("POST", "/phones/{mac}/delete", phone_delete),
    ("GET", "/groups", groups),
    ("GET", "/groups/{tenant}/{group}", group),
    ("POST", "/groups/{tenant}/{group}/setting", group_setting),
    ("POST", "/groups/{tenant}/{group}/order", group_order),
    ("GET", "/settings", schema),
    ("GET", "/devices", devices),
    ("POST", "/devices/{mac}/{action}", device_action),
    ("GET", "/audit", audit),
    ("GET", "/jobs", jobs),
    ("GET", "/jobs/{id}", job),
    ("POST", "/jobs/{id}/cancel", job_cancel),
    *FIRMWARE_ROUTES,
    *ADMIN_ROUTES,
    *IMPORT_ROUTES,
    *TENANT_ROUTES,
    *PHONE_EDIT_ROUTES,
    *KEYS_ROUTES,
]

"""Firmware and rollout pages, over the admin API's firmware and rollout routes.

An upload is the browser's ``multipart/form-data`` form handed to the API's
own streamed upload route (``POST /firmware``) untouched: spooled to disk,
size-limited and checked exactly as ``provisioner firmware upload``. Its
CSRF token comes in the form's action URL or the script's header, since the
body is not read before the route streams it (docs/ui.md).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from provisioner.errors import InputError
from provisioner.ui._calls import segment
from provisioner.ui._handler import Page, link, see_other

__all__ = ["ROUTES"]


async def firmware(page: Page) -> web.Response:
    """Every set with its files' SHA-256; the upload form; activate / deactivate."""
    found = await page.caller.get("/firmware", limit=1000)
    vendors = await page.caller.get("/catalog/families", limit=1000)
    return page.render(
        "firmware.html",
        title="Firmware",
        items=found["items"],
        vendors=sorted({f["vendor"] for f in vendors["items"]}),
        uploaded=page.query("uploaded"),
    )


async def firmware_upload(page: Page) -> web.Response:
    """Stream the upload through ``POST /firmware``."""
    made = await page.caller.upload("/firmware", page.request)
    return see_other(link("/firmware", uploaded=f"{made['vendor']}/{made['label']}"))


async def firmware_switch(page: Page) -> web.Response:
    """Activate or deactivate a set."""
    vendor, label, way = page.params["vendor"], page.params["label"], page.params["way"]
    if way not in ("activate", "deactivate"):
        raise InputError("activate or deactivate")
    await page.caller.write("POST", f"/firmware/{segment(vendor)}/{segment(label)}/{way}")
    return see_other(link("/firmware"))


async def _groups(page: Page) -> list[str]:
    names = []
    for tenant in (await page.caller.get("/tenants", limit=1000))["items"]:
        found = await page.caller.get(f"/tenants/{segment(tenant['name'])}/groups", limit=1000)
        names += [f"{tenant['name']}/{g['name']}" for g in found["items"]]
    return names


async def rollouts(page: Page) -> web.Response:
    """Rollouts, newest first, and the form that starts one."""
    found = await page.caller.get("/rollouts", limit=100)
    active = await page.caller.get("/firmware", limit=1000, active=True, kind="firmware")
    return page.render(
        "rollouts.html",
        title="Rollouts",
        items=found["items"],
        sets=[f"{s['vendor']}/{s['label']}" for s in active["items"]],
        groups=await _groups(page),
    )


def _number(page: Page, name: str, kind: type[int] | type[float]) -> Any:
    text = page.field(name).strip()
    try:
        return kind(text)
    except ValueError:
        raise InputError(f"{name}: {text!r} is not a number") from None


async def rollout_start(page: Page) -> web.Response:
    """Start a rollout of an active set to a group's phones of its vendor."""
    vendor, _, label = page.field("set").partition("/")
    body = {
        "vendor": vendor,
        "label": label,
        "group": page.field("group"),
        "canary": _number(page, "canary", int),
        "growth": _number(page, "growth", float),
        "threshold": _number(page, "threshold", float),
        "wave_minutes": _number(page, "wave_minutes", float),
    }
    made = await page.caller.write("POST", "/rollouts", body)
    assert made is not None
    return see_other(link(f"/rollouts/{made['id']}"))


async def rollout(page: Page) -> web.Response:
    """One rollout: each wave and each phone (the page polls itself while it runs)."""
    found = await page.caller.get(f"/rollouts/{segment(page.params['id'])}")
    return page.render("rollout.html", title=f"Rollout {found['id']}", rollout=found)


async def rollout_action(page: Page) -> web.Response:
    """Halt, resume or roll back a rollout."""
    number, action = page.params["id"], page.params["action"]
    if action not in ("halt", "resume", "rollback"):
        raise InputError("halt, resume or rollback")
    await page.caller.write("POST", f"/rollouts/{segment(number)}/{action}")
    return see_other(link(f"/rollouts/{segment(number)}"))


ROUTES = [
    ("GET", "/firmware", firmware),
    ("POST", "/firmware/upload", firmware_upload),
    ("POST", "/firmware/{vendor}/{label}/{way}", firmware_switch),
    ("GET", "/rollouts", rollouts),
    ("POST", "/rollouts", rollout_start),
    ("GET", "/rollouts/{id}", rollout),
    ("POST", "/rollouts/{id}/{action}", rollout_action),
]

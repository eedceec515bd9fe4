"""Bulk actions on the phones list: each one request to the admin API.

Moving, enabling, disabling and deleting go to ``POST /changes`` as one
change set, so they apply to every selected phone or to none (a phone of
another tenant or a missing group refuses the whole set, as the API does).
Sending profiles and rebooting is one check-sync job over the selection
(``POST /jobs``), whose page shows each phone's progress. Deleting first
shows a confirmation page naming every phone.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from provisioner.errors import InputError
from provisioner.mac import parse_mac
from provisioner.ui._calls import segment
from provisioner.ui._handler import Page, link, see_other

__all__ = ["BULK_DONE", "bulk"]

ACTIONS = ("move", "enable", "disable", "resync", "reboot", "delete")
# The phones page's note after a bulk action: ?done=ACTION:COUNT.
BULK_DONE = re.compile(f"(?:{'|'.join(ACTIONS)}):[0-9]{{1,6}}")


def _selected(page: Page) -> list[str]:
    assert page.form is not None
    macs = [parse_mac(m) for m in page.form.getall("mac", [])]
    if not macs:
        raise InputError("select at least one phone")
    return list(dict.fromkeys(macs))


async def _move(page: Page, macs: list[str]) -> list[dict[str, Any]]:
    """Operations that leave each phone in exactly the target group."""
    target = page.field("group").strip()
    if not target:
        raise InputError("group: name the group to move the phones to")
    ops: list[dict[str, Any]] = []
    for mac in macs:
        phone = await page.caller.get(f"/phones/{mac}")
        for old in phone.get("groups") or []:
            if old != target:
                ops.append({"method": "DELETE", "path": f"/phones/{mac}/groups/{segment(old)}"})
        if target not in (phone.get("groups") or []):
            ops.append({"method": "PUT", "path": f"/phones/{mac}/groups/{segment(target)}"})
    return ops


async def bulk(page: Page) -> web.Response:
    """Apply the chosen action to the selected phones (delete after a confirmation page)."""
    macs = _selected(page)
    action = page.field("action")
    if action not in ACTIONS:
        raise InputError(f"action must be one of {', '.join(ACTIONS)}")
    if action in ("resync", "reboot"):
        job = await page.caller.write("POST", "/jobs", {"phones": macs, "event": action})
        assert job is not None
        return see_other(link(f"/jobs/{job['id']}"))
    if action == "delete" and page.field("confirmed") != "yes":
        return page.render("bulk_delete.html", title=f"Delete {len(macs)} phones?", macs=macs)
    if action == "move":
        ops = await _move(page, macs)
    elif action == "delete":
        ops = [{"method": "DELETE", "path": f"/phones/{mac}"} for mac in macs]
    else:
        ops = [{"method": "POST", "path": f"/phones/{mac}/{action}"} for mac in macs]
    if ops:
        await page.caller.write("POST", "/changes", {"operations": ops})
    return see_other(link("/phones", done=f"{action}:{len(macs)}"))

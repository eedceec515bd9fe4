"""The one setting editor of the phone, group and tenant pages: preview, then save.

The form names a setting and a value typed as on the command line; the
setting's own schema reads it (:meth:`provisioner.settings.SettingSpec.coerce`),
then ``PUT`` (or, to unset, ``DELETE``) ``/scopes/{scope}/settings/{name}``
runs first as a dry run, whose per-phone diffs the preview page shows with
Save, and then for real.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from provisioner.ui._calls import segment
from provisioner.ui._handler import Page, see_other

__all__ = ["edit_setting", "setting_names"]


def _setting(page: Page, scope: str) -> tuple[str, dict[str, Any] | None]:
    """The setting the form names, and its body (``None``: unset it)."""
    name = page.field("name").strip()
    catalog = page.caller.api.services.catalog
    spec = catalog.spec(name)
    if page.field("unset"):
        return name, None
    value = spec.coerce(page.field("value"), scope=scope, from_text=True)
    return name, {"value": value, "locked": bool(page.field("locked"))}


async def edit_setting(page: Page, scope: str, back: str, title: str) -> web.Response:
    """Preview the form's change of a setting at ``scope``, or (``action=save``) save it."""
    name, body = _setting(page, scope)
    path = f"/scopes/{segment(scope)}/settings/{segment(name)}"
    method = "DELETE" if body is None else "PUT"
    if page.field("action") == "save":
        await page.caller.write(method, path, body)
        return see_other(f"{back}?saved={segment(name)}")
    preview = await page.caller.write(method, path, body, dry_run=True)
    return page.render(
        "preview.html",
        title=f"Preview: {title}",
        scope=scope,
        back=back,
        name=name,
        value=page.field("value"),
        locked=page.field("locked"),
        unset=page.field("unset"),
        preview=preview,
    )


async def setting_names(page: Page) -> list[str]:
    """Every setting's name, for the editor's suggestions."""
    found = await page.caller.get("/catalog/settings", limit=1000)
    return [s["name"] for s in found["items"]]

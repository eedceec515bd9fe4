"""The one setting editor of the phone, group and tenant pages: preview, then save.

The form names a setting and a value typed as on the command line; the
setting's own schema reads it (:meth:`provisioner.settings.SettingSpec.coerce`),
then ``PUT`` (or, to unset, ``DELETE``) ``/scopes/{scope}/settings/{name}``
runs first as a dry run, whose per-phone diffs the preview page shows with
Save, and then for real (:func:`provisioner.ui._write.preview_or_save`, the
path of every editor).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from provisioner.ui._calls import segment
from provisioner.ui._handler import Page
from provisioner.ui._write import preview_or_save

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
    value, locked = page.field("value"), bool(page.field("locked"))
    fields = [("name", name), ("value", value)]
    if body is None:
        summary = f"Remove {name} from {scope}."
        fields.append(("unset", "1"))
    else:
        summary = f"Set {name} to {value}{' (locked)' if locked else ''} at {scope}."
        fields += [("locked", "1")] if locked else []
    return await preview_or_save(
        page,
        "DELETE" if body is None else "PUT",
        path,
        body,
        title=title,
        summary=summary,
        back=back,
        saved=name,
        fields=fields,
    )


async def setting_names(page: Page) -> list[str]:
    """Every setting's name, for the editor's suggestions."""
    found = await page.caller.get("/catalog/settings", limit=1000)
    return [s["name"] for s in found["items"]]

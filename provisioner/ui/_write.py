"""A write from a form: first its dry run shown (per-phone diffs), then, confirmed, made.

Every editor of the UI (a setting, the phone's own fields, a line, the keys)
goes through :func:`preview_or_save`: the form's first POST answers the
API's preview of the write (``dry_run``, :mod:`provisioner.preview`) with a
Save form carrying the same fields, whose POST (``action=save``) makes it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from provisioner.ui._calls import segment
from provisioner.ui._handler import Page, see_other

__all__ = ["preview_or_save"]


async def preview_or_save(
    page: Page,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    *,
    title: str,
    summary: str,
    back: str,
    saved: str,
    fields: list[tuple[str, str]],
) -> web.Response:
    """Make the write when the form says ``save``; otherwise show its preview.

    ``fields`` are the form's own fields, carried by the preview's Save form;
    ``saved`` names what the page at ``back`` reports saved.
    """
    if page.field("action") == "save":
        await page.caller.write(method, path, body)
        return see_other(f"{back}?saved={segment(saved)}")
    preview = await page.caller.write(method, path, body, dry_run=True)
    return page.render(
        "preview.html",
        title=f"Preview: {title}",
        summary=summary,
        back=back,
        fields=fields,
        preview=preview,
    )

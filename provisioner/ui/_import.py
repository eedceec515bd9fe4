"""The Import page: sipXcom's CSV file (with its dry-run preview) and fleet files.

A CSV file is the browser's ``multipart/form-data`` body streamed to the
API's ``POST /import/csv`` route unread, so the tenant and ``dry_run`` come in
the form's action URL (that route takes only the ``file`` part). Preview and
Import are two buttons of the same form: a browser cannot keep a chosen file
from one page to the next, so the preview page offers the form again. A
fleet file goes as text to ``POST /fleet/apply`` (all or nothing): Preview
sends it with ``dry_run`` (the API answers what would change and each
affected phone's diffs, storing nothing), Apply for real; being text, it
stays in the form between the two.
"""

from __future__ import annotations

from aiohttp import web

from provisioner.api._bodies import Problem
from provisioner.errors import ProvisionerError
from provisioner.ui._handler import Page, refusal

__all__ = ["ROUTES"]

FLEET_PHONES_SHOWN = 20  # diffs shown of a fleet file's preview; the count says all


async def _tenants(page: Page) -> list[str]:
    found = await page.caller.get("/tenants", limit=1000)
    return [t["name"] for t in found["items"]]


async def import_page(page: Page) -> web.Response:
    """The forms: tenant, CSV file (Preview / Import), fleet file (Preview / Apply)."""
    return page.render(
        "import.html",
        title="Import",
        tenants=await _tenants(page),
        tenant=page.query("tenant"),
        report=None,
        fleet=None,
        fleet_form=None,
    )


async def import_csv(page: Page) -> web.Response:
    """Import (or preview) a CSV file into the tenant of the action URL."""
    tenant = page.query("tenant")
    dry_run = page.query("dry_run") == "1"
    report = await page.caller.upload(
        "/import/csv", page.request, tenant=tenant, dry_run="true" if dry_run else "false"
    )
    return page.render(
        "import.html",
        title="Import preview" if dry_run else "Imported",
        tenants=await _tenants(page),
        tenant=tenant,
        report=report,
        fleet=None,
        fleet_form=None,
    )


async def import_fleet(page: Page) -> web.Response:
    """Preview (``action=preview``) or apply a fleet file (TOML or JSON), all or nothing."""
    body = {
        "format": page.field("format") or "toml",
        "content": page.field("content"),
        "prune": bool(page.field("prune")),
    }
    dry_run = page.field("action") == "preview"
    try:
        answer = await page.caller.write("POST", "/fleet/apply", body, query={"dry_run": dry_run})
    except (Problem, ProvisionerError) as exc:
        # Refused (unreadable, or refused once applied): the API's words beside the file.
        status, errors = refusal(exc)
        return page.render(
            "import.html",
            status,
            title="Fleet file refused",
            tenants=await _tenants(page),
            tenant="",
            report=None,
            fleet=None,
            fleet_form=body,
            fleet_errors=errors,
        )
    return page.render(
        "import.html",
        title="Fleet file preview" if dry_run else "Fleet file applied",
        tenants=await _tenants(page),
        tenant="",
        report=None,
        fleet=answer,
        # A preview offers the same file again, for Apply (or another change).
        fleet_form=body if dry_run else None,
        shown=FLEET_PHONES_SHOWN,
    )


ROUTES = [
    ("GET", "/import", import_page),
    ("POST", "/import/csv", import_csv),
    ("POST", "/import/fleet", import_fleet),
]

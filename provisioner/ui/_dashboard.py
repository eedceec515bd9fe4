"""The dashboard: the fleet at a glance, from the admin API's summary and bans.

The counts are ``GET /summary``'s, made by the database (phones by tenant and
model; by vendor, model and firmware as each phone last reported them; phones
not seen for N days; failed fetches of the last hour; unknown devices
waiting), so the page costs the same at 100 phones or 100,000. Bans are
``GET /bans`` (those in force and those made in the last hour), which the API
refuses to an account limited to a tenant: a ban is per address, not per
tenant, and the page then says so. Everything goes through :mod:`._calls` (the
API's routes, its role check and tenant filter); nothing here reads the store.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiohttp import web

from provisioner.api._bodies import Problem
from provisioner.problems import FORBIDDEN
from provisioner.ui._handler import Page

__all__ = ["dashboard"]

DEFAULT_STALE_DAYS = 7
LISTED = 50  # stale phones, failed fetches and bans listed on the page
# What counted towards a ban, by the event the API names as its reason.
REASONS = {
    "lookup_failed": "files asked for in vain",
    "api_key_failed": "wrong API keys",
    "ui_login_failed": "wrong web UI passwords",
    "ftp_login_failed": "wrong FTP logins",
    "malformed_request": "malformed requests",
}


def _stale_days(page: Page) -> int:
    text = page.query("days")
    return int(text) if text.isdigit() and 0 < int(text) <= 3650 else DEFAULT_STALE_DAYS


async def _bans(page: Page) -> dict[str, Any] | None:
    """Bans in force or made in the last hour; None when the API refuses this account."""
    try:
        return await page.caller.get("/bans", limit=LISTED)
    except Problem as exc:
        if exc.info.code == FORBIDDEN:
            return None
        raise


async def dashboard(page: Page) -> web.Response:
    """Phones by model and reported firmware, stale phones, failures, bans, waiting devices,
    jobs, rollouts, latest changes."""
    days = _stale_days(page)
    summary = await page.caller.get("/summary", days=days, first=LISTED)
    bans = await _bans(page)
    jobs = await page.caller.get("/jobs", limit=20, state="running")
    rollouts = await page.caller.get("/rollouts", limit=20, state="running")
    halted = await page.caller.get("/rollouts", limit=20, state="halted")
    audit = await page.caller.get("/audit", limit=10)
    by_model: Counter[str] = Counter()
    for row in summary["by_model"]:
        by_model[row["model"]] += row["phones"]
    by_vendor: Counter[str] = Counter()
    for row in summary["reported"]:
        by_vendor[row["vendor"] or "?"] += row["phones"]
    return page.render(
        "dashboard.html",
        title="Dashboard",
        summary=summary,
        by_model=by_model.most_common(),
        by_vendor=by_vendor.most_common(),
        days=days,
        bans=bans,
        reasons=REASONS,
        jobs=jobs["items"],
        rollouts=rollouts["items"] + halted["items"],
        changes=audit["items"],
    )

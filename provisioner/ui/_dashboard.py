"""The dashboard: the fleet at a glance, counted from the admin API's own lists.

Phones by model come from ``GET /phones``; vendor and firmware are what the
phones last said in their User-Agent (``GET /devices/seen``, newest first),
so a phone that never fetched counts as "never seen". Failed fetches are
seen records of the last hour whose status is not ``ok``. Everything goes
through :mod:`._calls` (the API's routes, its role check and tenant
filter); nothing here reads the store.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from aiohttp import web

from provisioner.ui._handler import Page

__all__ = ["dashboard"]

# The API's largest page; the lists below are read a page at a time.
_BATCH = 1000
# Seen records read at most (newest first) for the breakdowns: enough for
# 10,000 phones fetching a few files each, a bounded cost for a busy fleet.
_SEEN_CAP = 50_000
DEFAULT_STALE_DAYS = 7


async def _all(page: Page, path: str, cap: int, **query: Any) -> list[dict[str, Any]]:
    """Every item of a list route, a page at a time, up to ``cap`` items."""
    items: list[dict[str, Any]] = []
    while len(items) < cap:
        found = await page.caller.get(path, **query, limit=_BATCH, offset=len(items))
        items.extend(found["items"])
        if len(found["items"]) < _BATCH:
            break
    return items


def _stale_days(page: Page) -> int:
    text = page.query("days")
    return int(text) if text.isdigit() and 0 < int(text) <= 3650 else DEFAULT_STALE_DAYS


async def dashboard(page: Page) -> web.Response:
    """Phones by vendor/model/firmware, stale phones, failures, waiting devices, jobs, rollouts."""
    now = time.time()
    days = _stale_days(page)
    phones = await _all(page, "/phones", 1_000_000)
    seen = await _all(page, "/devices/seen", _SEEN_CAP)
    latest: dict[str, dict[str, Any]] = {}
    for record in seen:  # newest first: the first record of a MAC is its latest
        if record["known"] and record["mac"] and record["mac"] not in latest:
            latest[record["mac"]] = record
    failed = [r for r in seen if r["status"] != "ok" and r["last_seen"] >= now - 3600]
    stale_before = now - days * 86400
    stale = [
        (p, latest.get(p["mac"]))
        for p in phones
        if p["mac"] not in latest or latest[p["mac"]]["last_seen"] < stale_before
    ]
    pending = await page.caller.get("/devices/pending", limit=1, state="pending")
    jobs = await page.caller.get("/jobs", limit=20, state="running")
    rollouts = await page.caller.get("/rollouts", limit=20, state="running")
    halted = await page.caller.get("/rollouts", limit=20, state="halted")
    audit = await page.caller.get("/audit", limit=10)
    seen_latest = list(latest.values())
    return page.render(
        "dashboard.html",
        title="Dashboard",
        phones=len(phones),
        by_model=Counter(p["model"] for p in phones).most_common(),
        by_vendor=Counter(r["vendor"] or "?" for r in seen_latest).most_common(),
        by_firmware=Counter(
            (r["vendor"] or "?", r["model"] or "?", r["firmware"] or "?") for r in seen_latest
        ).most_common(),
        days=days,
        stale=stale[:50],
        stale_total=len(stale),
        failed=failed[:50],
        failed_total=len(failed),
        pending=pending["total"],
        jobs=jobs["items"],
        rollouts=rollouts["items"] + halted["items"],
        changes=audit["items"],
    )

"""Admin-only pages: API keys (over the API's ``/apikeys`` routes) and UI accounts.

Accounts have no API route (a key cannot make a password login): their page
calls the same :class:`provisioner.accounts.Accounts` service as ``provisioner
user create/passwd/rm``, after the same admin check the API makes, with the
logged-in account as the audited actor.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from provisioner.actor import Actor, ActorKind
from provisioner.api._bodies import problem
from provisioner.apikeys import Role
from provisioner.errors import InputError
from provisioner.problems import FORBIDDEN
from provisioner.ui._calls import segment
from provisioner.ui._handler import Page, link, see_other

__all__ = ["ROUTES"]


def _admin_only(page: Page) -> None:
    if not page.at_least(Role.ADMIN):
        raise problem(FORBIDDEN, "this page is for admin accounts")


def _actor(page: Page) -> Actor:
    return Actor(ActorKind.UI, page.session.identity.name, None, page.caller.request_id)


async def apikeys(page: Page) -> web.Response:
    """Every key (never the secret), revoke, and the form that makes one."""
    return await _apikeys_page(page, None)


async def apikey_create(page: Page) -> web.Response:
    """Make a key; its secret is shown on this answer only (as the API does)."""
    body: dict[str, Any] = {"name": page.field("name").strip(), "role": page.field("role")}
    if page.field("tenant"):
        body["tenant"] = page.field("tenant")
    if page.field("expires_days").strip():
        try:
            body["expires_days"] = float(page.field("expires_days"))
        except ValueError:
            raise InputError("expires_days: a number of days") from None
    made = await page.caller.write("POST", "/apikeys", body)
    return await _apikeys_page(page, made)


async def _apikeys_page(page: Page, made: dict[str, Any] | None) -> web.Response:
    """The keys page, with a key just made (its one showing of the secret) or none."""
    found = await page.caller.get("/apikeys", limit=1000)
    tenants = await page.caller.get("/tenants", limit=1000)
    return page.render(
        "apikeys.html",
        title="API keys",
        items=found["items"],
        tenants=[t["name"] for t in tenants["items"]],
        made=made,
    )


async def apikey_revoke(page: Page) -> web.Response:
    """Revoke a key."""
    await page.caller.write("DELETE", f"/apikeys/{segment(page.params['id'])}")
    return see_other(link("/apikeys"))


async def accounts(page: Page) -> web.Response:
    """Every UI account (never its hash), and the forms that manage them."""
    _admin_only(page)
    service = page.handler.accounts
    records = await page.run(service.store.accounts.all)
    tenants = await page.caller.get("/tenants", limit=1000)
    shown = [
        {
            "name": r.name,
            "role": r.role,
            "tenant": r.tenant,
            "created_at": r.created_at,
            "created_by": r.created_by,
            "throttled_until": r.throttled_until,
        }
        for r in records
    ]
    return page.render(
        "accounts.html",
        title="Accounts",
        items=shown,
        tenants=[t["name"] for t in tenants["items"]],
        done=page.query("done"),
    )


async def account_create(page: Page) -> web.Response:
    """Make an account (the password typed twice)."""
    _admin_only(page)
    name, password = page.field("name").strip(), page.field("password")
    if password != page.field("again"):
        raise InputError("the two passwords differ")
    tenant = page.field("tenant") or None
    service, actor = page.handler.accounts, _actor(page)
    await page.run(lambda: service.create(name, page.field("role"), password, actor, tenant=tenant))
    return see_other(link("/accounts", done=f"created {name}"))


async def account_action(page: Page) -> web.Response:
    """Set an account's password, or remove it; either ends its open sessions."""
    _admin_only(page)
    name, action = page.params["name"], page.params["action"]
    service, actor = page.handler.accounts, _actor(page)
    if action == "passwd":
        password = page.field("password")
        if password != page.field("again"):
            raise InputError("the two passwords differ")
        await page.run(lambda: service.set_password(name, password, actor))
        return see_other(link("/accounts", done=f"new password for {name}"))
    if action != "remove":
        raise InputError("passwd or remove")
    if name == page.session.identity.name:
        raise InputError("you cannot remove the account you are logged in with")
    await page.run(lambda: service.remove(name, actor))
    return see_other(link("/accounts", done=f"removed {name}"))


ROUTES = [
    ("GET", "/apikeys", apikeys),
    ("POST", "/apikeys", apikey_create),
    ("POST", "/apikeys/{id}/revoke", apikey_revoke),
    ("GET", "/accounts", accounts),
    ("POST", "/accounts", account_create),
    ("POST", "/accounts/{name}/{action}", account_action),
]

"""Tenants: the list (admins create one), and a tenant's page with its editor.

A tenant's own fields (SIP domain, platform preset, description, registrar,
outbound proxies) and its access rules (the ``access.*`` settings at the
tenant's scope) are one form, sent as one write, ``PUT /tenants/{tenant}``
(the tenant as the API answers it, with the form's fields): first with
``dry_run`` (the API's preview, the same as every other write's), whose
count of phones and first diffs the page shows with Save, which sends the
same fields again for real. The API decides who may (an admin), validates
the values and says what is wrong. Operators get the setting editor at the
tenant's scope, as the API lets them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from provisioner.api._bodies import Problem
from provisioner.apikeys import Role
from provisioner.catalog import Catalog
from provisioner.errors import ProvisionerError
from provisioner.settings import SettingSpec, SettingType
from provisioner.ui._calls import segment
from provisioner.ui._handler import Page, link, refusal, see_other
from provisioner.ui._setting_edit import edit_setting, setting_names

__all__ = ["ROUTES"]

# The fleet file's endpoint shorthands (docs/fleet-file.md) and the parts the form offers.
ENDPOINTS = {
    "registrar": ("host", "port", "transport"),
    "outbound_proxy": ("host", "port"),
    "secondary_outbound_proxy": ("host", "port"),
}
# The access rules the form offers (any other setting: the setting editor).
ACCESS = (
    "access.http.allow",
    "access.tftp.enabled",
    "access.tftp.allow",
    "access.ftp.enabled",
    "access.ftp.allow",
    "access.tls_required",
    "access.client_cert",
)
FIELDS = ("sip_domain", "platform", "description")
PREVIEWED_PHONES = 5  # diffs shown of a preview; the count says how many phones change


def _form_names() -> list[str]:
    """Every field of the tenant form, in order."""
    endpoint_fields = [f"{key}.{part}" for key, parts in ENDPOINTS.items() for part in parts]
    return [*FIELDS, *endpoint_fields, *ACCESS]


def _stored_values(tenant: dict[str, Any]) -> dict[str, str]:
    """The form's fields filled from the tenant as the API answers it."""
    values = {name: str(tenant.get(name) or "") for name in FIELDS}
    for key, parts in ENDPOINTS.items():
        endpoint = tenant.get(key) or {}
        for part in parts:
            given = endpoint.get(part)
            values[f"{key}.{part}"] = "" if given is None else str(given)
    settings = tenant.get("settings") or {}
    for name in ACCESS:
        given = settings.get(name)
        if isinstance(given, bool):
            values[name] = "true" if given else "false"  # the select's choices
        else:
            values[name] = "" if given is None else str(given)
    return values


def _part(text: str) -> object:
    """An endpoint part as the write carries it: a port number as a number; anything else
    as typed, for the API to judge (``None``: leave it out)."""
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) < 7 else text


def _setting_value(spec: SettingSpec, text: str) -> object:
    """An access rule as typed (``None``: not set at the tenant); a boolean's choice as a
    JSON boolean, the rest as text for the API to check against the schema."""
    if not text:
        return None
    if spec.type is SettingType.BOOL and text in ("true", "false"):
        return text == "true"
    return text


def _entry(catalog: Catalog, stored: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The tenant as ``PUT /tenants/{tenant}`` takes it: as stored, with the form's fields.

    A replace rather than a merge patch, since taking an access rule away means
    leaving it out (a patch's settings cannot name one as null). The secrets the
    API never shows are kept by the API itself.
    """
    entry = {k: v for k, v in stored.items() if v is not None and k != "secret_settings"}
    entry.update(sip_domain=values["sip_domain"], platform=values["platform"])
    _put(entry, "description", values["description"] or None)
    for key, parts in ENDPOINTS.items():
        endpoint = {part: _part(values[f"{key}.{part}"]) for part in parts}
        _put(entry, key, {k: v for k, v in endpoint.items() if v is not None} or None)
    settings = dict(entry.get("settings") or {})
    for name in ACCESS:
        _put(settings, name, _setting_value(catalog.spec(name), values[name]))
    _put(entry, "settings", settings or None)
    return entry


def _put(target: dict[str, Any], key: str, value: object) -> None:
    """Set ``key``, or (``None``) leave it out."""
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value


async def tenants(page: Page) -> web.Response:
    """The tenants the account sees; admins also get the form that creates one."""
    return await _list(page, {}, [])


async def _list(
    page: Page, typed: dict[str, str], errors: list[str], status: int = 200
) -> web.Response:
    found = await page.caller.get("/tenants", limit=1000)
    return page.render(
        "tenants.html",
        status,
        title="Tenants",
        items=found["items"],
        is_admin=page.at_least(Role.ADMIN),
        platforms=_platforms(page),
        typed=typed,
        errors=errors,
    )


async def create_tenant(page: Page) -> web.Response:
    """Create a tenant (``POST /tenants``: the API lets admins only)."""
    typed = {name: page.field(name).strip() for name in ("name", *FIELDS)}
    body: dict[str, Any] = {k: v for k, v in typed.items() if v}
    body.setdefault("name", "")
    body.setdefault("sip_domain", "")
    try:
        await page.caller.write("POST", "/tenants", body)
    except (Problem, ProvisionerError) as exc:
        status, errors = refusal(exc)
        return await _list(page, typed, errors, status)
    return see_other(link(f"/tenants/{segment(typed['name'])}", created="1"))


async def tenant(page: Page) -> web.Response:
    """A tenant: its fields, access rules and settings, their editors."""
    name = page.params["tenant"]
    stored = await page.caller.get(f"/tenants/{segment(name)}")
    return await _tenant_page(page, stored, _stored_values(stored))


async def _tenant_page(
    page: Page,
    stored: dict[str, Any],
    values: dict[str, str],
    *,
    preview: dict[str, Any] | None = None,
    errors: tuple[str, ...] | list[str] = (),
    status: int = 200,
) -> web.Response:
    name = stored["name"]
    phones = await page.caller.get("/phones", tenant=name, limit=1)
    catalog = page.caller.api.services.catalog
    return page.render(
        "tenant.html",
        status,
        title=f"Tenant {name}",
        tenant=stored,
        values=values,
        fields=_form_names(),
        endpoints=ENDPOINTS,
        transports=catalog.spec("sip.registrar.transport").choices,
        access=[catalog.spec(n) for n in ACCESS],
        platforms=_platforms(page),
        phone_count=phones["total"],
        is_admin=page.at_least(Role.ADMIN),
        preview=preview,
        shown=PREVIEWED_PHONES,
        errors=list(errors),
        saved=page.query("saved"),
        created=page.query("created"),
        setting_names=await setting_names(page),
    )


async def edit_tenant(page: Page) -> web.Response:
    """Preview the form's change of the tenant (every phone it reaches), or save it."""
    name = page.params["tenant"]
    path = f"/tenants/{segment(name)}"
    stored = await page.caller.get(path)
    # A field the form does not send keeps its stored value (an empty one clears it).
    sent = page.form
    values = {
        f: sent[f].strip() if sent is not None and f in sent else v
        for f, v in _stored_values(stored).items()
    }
    entry = _entry(page.caller.api.services.catalog, stored, values)
    saving = page.field("action") == "save"
    try:
        preview = await page.caller.write("PUT", path, entry, dry_run=not saving)
    except (Problem, ProvisionerError) as exc:
        status, errors = refusal(exc)
        return await _tenant_page(page, stored, values, errors=errors, status=status)
    if saving:
        return see_other(link(f"/tenants/{segment(name)}", saved=f"tenant {name}"))
    assert preview is not None
    errors = [
        message
        for problem in preview["problems"]
        for message in [problem["detail"], *_field_messages(problem)]
    ]
    return await _tenant_page(
        page, stored, values, preview=preview, errors=errors, status=422 if errors else 200
    )


def _field_messages(problem: dict[str, Any]) -> list[str]:
    """Each wrong field of a previewed problem, when it names several."""
    listed = problem.get("errors") or []
    return [f"{e['field']}: {e['message']}" for e in listed] if len(listed) > 1 else []


async def tenant_setting(page: Page) -> web.Response:
    """Preview (then save) a setting at the tenant's scope (operators may, as in the API)."""
    name = page.params["tenant"]
    back = link(f"/tenants/{segment(name)}")
    return await edit_setting(page, f"tenant:{name}", back, f"tenant {name}")


def _platforms(page: Page) -> list[tuple[str, str]]:
    """The platform presets (name, label) of the catalog."""
    presets = page.caller.api.services.catalog.presets
    return [(name, preset.label) for name, preset in sorted(presets.items())]


ROUTES = [
    ("GET", "/tenants", tenants),
    ("POST", "/tenants", create_tenant),
    ("GET", "/tenants/{tenant}", tenant),
    ("POST", "/tenants/{tenant}", edit_tenant),
    ("POST", "/tenants/{tenant}/setting", tenant_setting),
]

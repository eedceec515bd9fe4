"""sipXconfig's ``/phones`` paths (seed 003 §12.15) over the ``/api/v1`` operations.

Beans are sipXconfig's property names: a phone is ``id``, ``serialNo``,
``description``, ``model`` (``modelId``, ``label``, ``vendor``), ``lines``
and ``groups``; a line ``id`` (its position), ``uri``, ``user``, ``userId``,
``displayName``, ``registrationServer``, ``registrationServerPort``.
"""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from provisioner import sip_users
from provisioner.api._files import PhoneFile
from provisioner.api._models import Group, Line, Phone, Tenant
from provisioner.api._sipx import (
    Sipx,
    SipxRoute,
    bad_body,
    bad_query,
    forward,
    forward_all,
    ok,
    only_fields,
    query_names,
    seg,
)
from provisioner.api._sipx_settings import setting_routes
from provisioner.apikeys import Role

__all__ = ["ROUTES", "group_bean", "model_bean"]

_PHONE_FIELDS = {"id", "serialNo", "deviceVersion", "description", "model", "lines", "groups"}
_LINE_FIELDS = {
    "id",
    "uri",
    "user",
    "userId",
    "extension",
    "displayName",
    "password",
    "registrationServer",
    "registrationServerPort",
    "voicemail",
}


def model_bean(x: Sipx, ident: str) -> dict[str, str]:
    """A catalog model as sipXconfig's ModelBean."""
    catalog = x.call.services.catalog
    model = catalog.model(ident)
    return {
        "modelId": model.id,
        "label": model.label,
        "vendor": catalog.family_of(model).vendor,
    }


def group_bean(group: Group, ids: dict[str, int]) -> dict[str, Any]:
    """A group as sipXconfig's GroupBean."""
    bean: dict[str, Any] = {"id": ids.get(group.name, 0), "name": group.name}
    if group.description:
        bean["description"] = group.description
    bean["weight"] = group.weight
    return bean


def line_bean(line: Line, domain: str) -> dict[str, Any]:
    """A line as sipXconfig's LineBean (its password is never shown, as in /api/v1)."""
    bean: dict[str, Any] = {
        "id": line.position,
        "uri": f"sip:{line.user}@{domain}",
        "user": line.auth_user or line.user,
        "userId": line.user,
    }
    if line.display_name:
        bean["displayName"] = line.display_name
    registrar = line.registrar
    bean["registrationServer"] = registrar.host if registrar and registrar.host else domain
    if registrar and registrar.port:
        bean["registrationServerPort"] = str(registrar.port)
    return bean


async def _domain(x: Sipx) -> str:
    tenant = await forward(x, "GET", f"/tenants/{seg(await x.tenant())}")
    assert isinstance(tenant, Tenant)
    return tenant.sip_domain


async def _groups(x: Sipx) -> dict[str, Group]:
    found = await forward_all(x, f"/tenants/{seg(await x.tenant())}/groups")
    return {g.name: g for g in found}


async def _phone_beans(x: Sipx, phones: list[Phone]) -> list[dict[str, Any]]:
    group_ids, phone_ids = await x.row_ids()
    groups = await _groups(x) if any(p.groups for p in phones) else {}
    domain = await _domain(x) if any(p.lines for p in phones) else ""
    beans = []
    for phone in phones:
        bean: dict[str, Any] = {"id": phone_ids.get(phone.mac, 0), "serialNo": phone.mac}
        if phone.description:
            bean["description"] = phone.description
        bean["model"] = model_bean(x, phone.model)
        if phone.lines:
            bean["lines"] = [line_bean(line, domain) for line in phone.lines]
        if phone.groups:
            bean["groups"] = [group_bean(groups[name], group_ids) for name in phone.groups]
        beans.append(bean)
    return beans


def _model_id(given: object, where: str = "body.model") -> str:
    if isinstance(given, dict) and isinstance(given.get("modelId"), str):
        return str(given["modelId"])
    if isinstance(given, str) and given:
        return given
    raise bad_body(where, 'give the model as {"modelId": "..."} (GET /phones/models)')


def _group_names(given: object) -> list[str]:
    if not isinstance(given, list):
        raise bad_body("body.groups", 'a list of {"name": "..."}')
    names = []
    for index, item in enumerate(given):
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name:
            raise bad_body(f"body.groups[{index}].name", "each group needs a name")
        names.append(name)
    return names


async def line_entry(x: Sipx, given: object, where: str) -> dict[str, Any]:
    """A LineBean as a v1 line (the v1 rules then check it).

    A line that brings no password names a user of the tenant (sipXcom's
    lines refer to users): the password, authentication name and display
    name come from the user (:mod:`provisioner.sip_users`), and an unknown
    user is a 404 naming it. A line with a password carries its own fields.
    """
    if not isinstance(given, dict):
        raise bad_body(where, "a line is an object")
    only_fields(given, _LINE_FIELDS, where)
    user = given.get("userId") or given.get("user")
    if not isinstance(user, str) or not user:
        raise bad_body(f"{where}.userId", "a line needs userId (or user): the SIP user name")
    if given.get("password") is None:
        tenant, store = await x.tenant(), x.call.services.store
        known = await x.call.run(lambda: sip_users.get_user(store, tenant, user))
        given = {
            **given,
            "password": known.password,
            "displayName": given.get("displayName") or known.display_name or None,
        }
        if known.auth_user:
            given = {**given, "user": known.auth_user, "userId": user}
    entry: dict[str, Any] = {"user": user}
    if isinstance(given.get("user"), str) and given.get("userId") not in (None, given["user"]):
        entry["auth_user"] = given["user"]
    for ours, theirs in (
        ("display_name", "displayName"),
        ("password", "password"),
        ("voicemail_number", "voicemail"),
    ):
        if given.get(theirs) is not None:
            entry[ours] = given[theirs]
    if given.get("registrationServer"):
        registrar: dict[str, Any] = {"host": given["registrationServer"]}
        port = given.get("registrationServerPort")
        if port not in (None, ""):
            text = str(port)
            if not text.isdigit():
                raise bad_body(f"{where}.registrationServerPort", f"a port number, not {text!r}")
            registrar["port"] = int(text)
        entry["registrar"] = registrar
    return entry


async def _with_groups(x: Sipx, names: list[str], op: dict[str, Any]) -> None:
    """Run ``op`` after creating the groups of ``names`` the tenant lacks, in one transaction."""
    tenant = await x.tenant()
    groups, _ = await x.row_ids()
    ops: list[dict[str, Any]] = [
        {"method": "POST", "path": f"/api/v1/tenants/{seg(tenant)}/groups", "body": {"name": n}}
        for n in dict.fromkeys(names)
        if n not in groups
    ]
    if not ops:
        await forward(x, op["method"], op["path"].removeprefix("/api/v1"), op.get("body"))
        return
    await forward(x, "POST", "/changes", {"operations": [*ops, op]})


async def list_phones(x: Sipx) -> web.Response:
    """All phones of the tenant (``start``/``limit``: a window, as sipXconfig's paging)."""
    tenant = await x.tenant()
    start, limit = _window(x)
    if limit is None:
        found = await forward_all(x, "/phones", {"tenant": tenant, "sort": "mac"})
    else:
        page = await forward(
            x, "GET", "/phones",
            query={"tenant": tenant, "sort": "mac", "offset": str(start), "limit": str(limit)},
        )  # fmt: skip
        found = list(getattr(page, "items"))  # noqa: B009
    return ok({"phones": await _phone_beans(x, found)})


def _window(x: Sipx) -> tuple[int, int | None]:
    query_names(x, ("start", "limit"))
    values = []
    for name in ("start", "limit"):
        text = x.query.get(name)
        if text is not None and (not text.isdigit() or len(text) > 9):
            raise bad_query(name, f"a whole number, not {text!r}")
        values.append(int(text) if text is not None else None)
    start, limit = values
    if limit is not None and not 1 <= limit <= 1000:
        raise bad_query("limit", "from 1 to 1000")
    return start or 0, limit


async def create_phone(x: Sipx) -> web.Response:
    """A new phone (groups created if missing, as sipXconfig does); answers its id."""
    given = x.sent_object()
    only_fields(given, _PHONE_FIELDS, "body")
    serial = given.get("serialNo")
    if not isinstance(serial, str) or not serial:
        raise bad_body("body.serialNo", "the phone's MAC address is needed")
    entry: dict[str, Any] = {
        "tenant": await x.tenant(),
        "mac": serial,
        "model": _model_id(given.get("model")),
    }
    if given.get("description") is not None:
        entry["description"] = given["description"]
    names = _group_names(given["groups"]) if given.get("groups") is not None else []
    if names:
        entry["groups"] = list(dict.fromkeys(names))
    if given.get("lines"):
        if not isinstance(given["lines"], list):
            raise bad_body("body.lines", "a list of lines")
        entry["lines"] = [
            await line_entry(x, v, f"body.lines[{i}]") for i, v in enumerate(given["lines"])
        ]
    await _with_groups(x, names, {"method": "POST", "path": "/api/v1/phones", "body": entry})
    return await _id_of(x, serial)


async def _id_of(x: Sipx, ident: str) -> web.Response:
    mac = await x.mac(ident)
    _, phones = await x.row_ids()
    return ok(phones[mac])


async def get_phone(x: Sipx) -> web.Response:
    """One phone by id or MAC."""
    mac = await x.mac()
    phone = await forward(x, "GET", f"/phones/{mac}")
    assert isinstance(phone, Phone)
    return ok((await _phone_beans(x, [phone]))[0])


async def update_phone(x: Sipx) -> web.Response:
    """Change description, model, serial number (refused: it is the phone's identity) and add
    groups, as sipXconfig's update does (lines are left alone: use ``/lines``)."""
    mac = await x.mac()
    given = x.sent_object()
    only_fields(given, _PHONE_FIELDS, "body")
    patch: dict[str, Any] = {}
    if given.get("serialNo") is not None:
        patch["mac"] = given["serialNo"]
    if given.get("description") is not None:
        patch["description"] = given["description"]
    if given.get("model") is not None:
        patch["model"] = _model_id(given["model"])
    names = _group_names(given["groups"]) if given.get("groups") is not None else []
    if names:
        phone = await forward(x, "GET", f"/phones/{mac}")
        assert isinstance(phone, Phone)
        patch["groups"] = list(dict.fromkeys([*(phone.groups or []), *names]))
    await _with_groups(x, names, {"method": "PATCH", "path": f"/api/v1/phones/{mac}",
                                  "body": patch})  # fmt: skip
    return await _id_of(x, mac)


async def delete_phone(x: Sipx) -> web.Response:
    """Delete a phone with its lines."""
    mac = await x.mac()
    await forward(x, "DELETE", f"/phones/{mac}")
    return ok()


def _send(restart: bool) -> Any:
    async def send(x: Sipx) -> web.Response:
        mac = await x.mac()
        await forward(x, "POST", "/jobs", {"phones": [mac], "event": _event(restart)})
        return ok()

    send.__doc__ = "Send the phone its profile (check-sync NOTIFY)" + (
        ", rebooting it." if restart else "."
    )
    return send


def _send_many(restart: bool) -> Any:
    async def send(x: Sipx) -> web.Response:
        given = x.sent_object()
        only_fields(given, {"ids"}, "body")
        ids = given.get("ids")
        if not isinstance(ids, list) or not ids or len(ids) > 1000:
            raise bad_body("body.ids", "a list of 1 to 1000 phone ids or MACs")
        macs = [await x.mac(str(i)) for i in ids]
        await forward(x, "POST", "/jobs", {"phones": macs, "event": _event(restart)})
        return ok()

    send.__doc__ = 'Send several phones their profiles (``{"ids": [...]}``).'
    return send


def _event(restart: bool) -> str:
    return "reboot" if restart else "resync"


async def get_profile(x: Sipx) -> web.Response:
    """One file the phone would fetch now (secrets masked unless the key is an admin's)."""
    mac = await x.mac()
    found = await forward(x, "GET", f"/phones/{mac}/files/{seg(x.params['name'])}")
    assert isinstance(found, PhoneFile)
    data = found.text.encode("utf-8") if found.text is not None else b""
    if found.base64 is not None:
        data = base64.b64decode(found.base64)
    return web.Response(
        body=data,
        headers={"Content-Type": found.content_type, "Cache-Control": "no-store"},
    )


async def list_models(x: Sipx) -> web.Response:
    """The catalog's models (``page``, ``pagesize``, ``sortdir``, ``sortby``)."""
    query_names(x, ("page", "pagesize", "sortdir", "sortby"))
    sortby = x.query.get("sortby", "name")
    sortdir = x.query.get("sortdir", "forward")
    if sortby not in ("name", "description"):
        raise bad_query("sortby", f"name or description, not {sortby!r}")
    if sortdir not in ("forward", "reverse"):
        raise bad_query("sortdir", f"forward or reverse, not {sortdir!r}")
    numbers = {}
    for name, least in (("page", 1), ("pagesize", 1)):
        text = x.query.get(name)
        if text is not None and (not text.isdigit() or len(text) > 6 or int(text) < least):
            raise bad_query(name, f"a whole number from {least}, not {text!r}")
        numbers[name] = int(text) if text is not None else None
    models = await forward_all(x, "/catalog/models")
    beans = [model_bean(x, m.id) for m in models]
    key = "modelId" if sortby == "name" else "label"
    beans.sort(key=lambda b: (b[key].lower(), b["modelId"]), reverse=sortdir == "reverse")
    size = numbers["pagesize"]
    if size is not None:
        first = ((numbers["page"] or 1) - 1) * size
        beans = beans[first : first + size]
    return ok({"models": beans})


async def phone_groups(x: Sipx) -> web.Response:
    """The phone's groups."""
    mac = await x.mac()
    phone = await forward(x, "GET", f"/phones/{mac}")
    assert isinstance(phone, Phone)
    groups = await _groups(x)
    ids, _ = await x.row_ids()
    return ok({"groups": [group_bean(groups[n], ids) for n in phone.groups or []]})


async def leave_all_groups(x: Sipx) -> web.Response:
    """Take the phone out of every group."""
    mac = await x.mac()
    await forward(x, "PATCH", f"/phones/{mac}", {"groups": []})
    return ok()


async def join_group(x: Sipx) -> web.Response:
    """Put the phone in a group (created if missing, as sipXconfig does)."""
    mac = await x.mac()
    name = x.params["name"]
    path = f"/api/v1/phones/{mac}/groups/{seg(name)}"
    await _with_groups(x, [name], {"method": "PUT", "path": path})
    return ok()


async def leave_group(x: Sipx) -> web.Response:
    """Take the phone out of a group."""
    mac = await x.mac()
    await forward(x, "DELETE", f"/phones/{mac}/groups/{seg(x.params['name'])}")
    return ok()


async def list_lines(x: Sipx) -> web.Response:
    """The phone's lines."""
    mac = await x.mac()
    phone = await forward(x, "GET", f"/phones/{mac}")
    assert isinstance(phone, Phone)
    domain = await _domain(x) if phone.lines else ""
    return ok({"lines": [line_bean(line, domain) for line in phone.lines or []]})


async def add_line(x: Sipx) -> web.Response:
    """Add a line (at the first free position); answers its id (the position)."""
    mac = await x.mac()
    entry = await line_entry(x, x.sent_object(), "body")
    line = await forward(x, "POST", f"/phones/{mac}/lines", entry)
    assert isinstance(line, Line)
    return ok(line.position)


async def delete_lines(x: Sipx) -> web.Response:
    """Delete every line of the phone."""
    mac = await x.mac()
    await forward(x, "PATCH", f"/phones/{mac}", {"lines": []})
    return ok()


async def delete_line(x: Sipx) -> web.Response:
    """Delete one line (its id is its position)."""
    mac = await x.mac()
    await forward(x, "DELETE", f"/phones/{mac}/lines/{seg(x.params['line'])}")
    return ok()


VIEWER, OPERATOR = Role.VIEWER, Role.OPERATOR
ROUTES = [
    SipxRoute("GET", "/phones", list_phones, VIEWER),
    SipxRoute("POST", "/phones", create_phone, OPERATOR, "json"),
    SipxRoute("GET", "/phones/models", list_models, VIEWER),
    SipxRoute("PUT", "/phones/sendProfile", _send_many(False), OPERATOR, "json"),
    SipxRoute("PUT", "/phones/sendProfile/restart", _send_many(True), OPERATOR, "json"),
    SipxRoute("GET", "/phones/{phone}", get_phone, VIEWER),
    SipxRoute("PUT", "/phones/{phone}", update_phone, OPERATOR, "json"),
    SipxRoute("DELETE", "/phones/{phone}", delete_phone, OPERATOR),
    SipxRoute("PUT", "/phones/{phone}/sendProfile", _send(False), OPERATOR),
    SipxRoute("PUT", "/phones/{phone}/sendProfile/restart", _send(True), OPERATOR),
    SipxRoute("GET", "/phones/{phone}/profile/{name*}", get_profile, VIEWER),
    SipxRoute("GET", "/phones/{phone}/groups", phone_groups, VIEWER),
    SipxRoute("DELETE", "/phones/{phone}/groups", leave_all_groups, OPERATOR),
    SipxRoute("POST", "/phones/{phone}/groups/{name}", join_group, OPERATOR),
    SipxRoute("DELETE", "/phones/{phone}/groups/{name}", leave_group, OPERATOR),
    SipxRoute("GET", "/phones/{phone}/lines", list_lines, VIEWER),
    SipxRoute("POST", "/phones/{phone}/lines", add_line, OPERATOR, "json"),
    SipxRoute("DELETE", "/phones/{phone}/lines", delete_lines, OPERATOR),
    SipxRoute("DELETE", "/phones/{phone}/lines/{line}", delete_line, OPERATOR),
    *setting_routes(),
]

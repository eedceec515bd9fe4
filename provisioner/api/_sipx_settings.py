"""Settings by path on sipXconfig's phones, lines and phone groups (seed 003 §12.15.9, §12.15.11,
§12.17.6–7), over ``/api/v1/scopes/{scope}/settings``.

A sipXconfig setting path (``time/zone``) is our setting name with ``/`` for
``.`` (``time.zone``); a dotted name works too. A value is written as text
(``text/plain``, as sipXconfig takes it) and read back in the same spelling:
``true``/``false``, a number, text, a list as ``a,b``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from provisioner.api._models import SettingInfo, wire_value
from provisioner.api._sipx import (
    Sipx,
    SipxRoute,
    bad_body,
    forward,
    forward_all,
    ok,
    only_fields,
    seg,
)
from provisioner.apikeys import Role
from provisioner.errors import NotFoundError
from provisioner.settings import SettingSpec

__all__ = ["Scope", "setting_name", "setting_routes", "settings_of", "text_of"]

Scope = Callable[[Sipx], Awaitable[str]]  # the v1 scope (``phone:MAC``) a request names


def setting_name(path: str) -> str:
    """Our setting name of a sipXconfig setting path."""
    return path.strip("/").replace("/", ".")


def text_of(value: object) -> str | None:
    """A value as sipXconfig's text (what a PUT of it takes back)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    if isinstance(value, list):  # keys: objects, shown as JSON (written through /api/v1)
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def bean(spec: SettingSpec, path: str, value: object, secret_set: bool = False) -> dict[str, Any]:
    """A setting as sipXconfig's SettingBean (secret values never shown, as in /api/v1)."""
    found: dict[str, Any] = {"path": path, "type": str(spec.type)}
    if spec.secret:
        found["value"] = "********" if secret_set else None
    else:
        found["value"] = text_of(value)
    if not (spec.secret or spec.generated):
        found["defaultValue"] = text_of(wire_value(spec.default))
    found["label"] = spec.label
    if spec.description:
        found["description"] = spec.description
    return found


def typed(x: Sipx, name: str, text: str, scope: str) -> object:
    """The text a client sent as the JSON value ``/api/v1`` takes (the catalog's rule)."""
    spec = x.call.services.catalog.spec(name)
    return wire_value(spec.coerce(text, scope=scope, from_text=True))


async def settings_of(
    x: Sipx, scope: str, keep: Callable[[str], bool] = lambda _: True
) -> web.Response:
    """The settings set at ``scope`` as SettingBeans."""
    catalog = x.call.services.catalog
    rows = await forward_all(x, f"/scopes/{seg(scope)}/settings")
    beans = [
        bean(catalog.spec(r.name), r.name.replace(".", "/"), r.value, secret_set=True)
        for r in rows
        if keep(r.name)
    ]
    return ok({"settings": beans})


async def get_one(x: Sipx, scope: str) -> web.Response:
    """One setting at ``scope``: the value in effect there, its default, label, type."""
    name = setting_name(x.params["path"])
    info = await forward(x, "GET", f"/scopes/{seg(scope)}/settings/{seg(name)}")
    assert isinstance(info, SettingInfo)
    spec = x.call.services.catalog.spec(name)
    return ok(bean(spec, x.params["path"], info.value, secret_set=info.value_set))


async def put_one(x: Sipx, scope: str) -> web.Response:
    """Set one setting at ``scope`` from the text body."""
    name = setting_name(x.params["path"])
    value = typed(x, name, str(x.sent), scope)
    await forward(x, "PUT", f"/scopes/{seg(scope)}/settings/{seg(name)}", {"value": value})
    return ok()


async def delete_one(x: Sipx, scope: str) -> web.Response:
    """Remove one setting from ``scope`` (the inherited value or the default applies)."""
    name = setting_name(x.params["path"])
    await forward(x, "DELETE", f"/scopes/{seg(scope)}/settings/{seg(name)}")
    return ok()


async def put_many(x: Sipx, scope: str, check: Callable[[str], None]) -> web.Response:
    """Set several settings (sipXconfig's SettingsList) in one transaction."""
    given = x.sent_object()
    only_fields(given, {"settings"}, "body")
    items = given.get("settings")
    if not isinstance(items, list) or not items:
        raise bad_body("body.settings", 'a list of {"path": "...", "value": "..."}')
    ops: list[dict[str, object]] = []
    for index, item in enumerate(items):
        where = f"body.settings[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise bad_body(f"{where}.path", "a setting needs its path")
        only_fields(item, {"path", "value", "type", "defaultValue", "label", "description"},
                    where)  # fmt: skip
        name = setting_name(item["path"])
        check(name)
        value = item.get("value")
        path = f"/api/v1/scopes/{seg(scope)}/settings/{seg(name)}"
        if value is None:
            ops.append({"method": "DELETE", "path": path})
        else:
            ops.append({"method": "PUT", "path": path,
                        "body": {"value": typed(x, name, str(value), scope)}})  # fmt: skip
    await forward(x, "POST", "/changes", {"operations": ops})
    return ok()


def _by(scope: Scope) -> dict[str, Callable[[Sipx], Awaitable[web.Response]]]:
    async def list_all(x: Sipx) -> web.Response:
        return await settings_of(x, await scope(x))

    async def get(x: Sipx) -> web.Response:
        return await get_one(x, await scope(x))

    async def put(x: Sipx) -> web.Response:
        return await put_one(x, await scope(x))

    async def delete(x: Sipx) -> web.Response:
        return await delete_one(x, await scope(x))

    return {"list": list_all, "GET": get, "PUT": put, "DELETE": delete}


async def _phone(x: Sipx) -> str:
    return f"phone:{await x.mac()}"


async def _line(x: Sipx) -> str:
    position = x.params["line"]
    if not position.isdigit() or not 1 <= int(position) <= 1000:
        raise NotFoundError(f"no line {position!r}: a line's id is its position, 1, 2, …")
    return f"line:{await x.mac()}/{int(position)}"


def setting_routes() -> list[SipxRoute]:
    """Settings by path on phones and lines."""
    routes = []
    for base, scope in (("/phones/{phone}", _phone), ("/phones/{phone}/lines/{line}", _line)):
        ops = _by(scope)
        routes += [
            SipxRoute("GET", f"{base}/settings", ops["list"], Role.VIEWER),
            SipxRoute("GET", f"{base}/settings/{{path*}}", ops["GET"], Role.VIEWER),
            SipxRoute("PUT", f"{base}/settings/{{path*}}", ops["PUT"], Role.OPERATOR, "text"),
            SipxRoute("DELETE", f"{base}/settings/{{path*}}", ops["DELETE"], Role.OPERATOR),
        ]
    return routes

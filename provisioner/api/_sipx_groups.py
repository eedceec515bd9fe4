"""sipXconfig's ``/phoneGroups`` (seed 003 §12.17) and ``/phonebook`` (§12.16) paths.

A group is named by its numeric id or its name, as sipXconfig takes both.
Our group settings are not per model: ``/model/{modelId}/settings`` reads
and writes the group's own settings, limited to those the model's family
has (docs/sipxcom-rest.md).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from provisioner.api._models import Group, Phone
from provisioner.api._phonebooks import Phonebook
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
from provisioner.api._sipx_phones import group_bean, model_bean
from provisioner.api._sipx_settings import delete_one, get_one, put_many, put_one, settings_of
from provisioner.apikeys import Role
from provisioner.errors import InputError

__all__ = ["ROUTES"]

_GROUP_FIELDS = {"id", "name", "description", "weight"}


async def _path(x: Sipx, group: str | None = None) -> str:
    name = group if group is not None else await x.group()
    return f"/tenants/{seg(await x.tenant())}/groups/{seg(name)}"


async def list_groups(x: Sipx) -> web.Response:
    """The tenant's phone groups, highest weight first (the order phones see them in)."""
    found = await forward_all(x, f"/tenants/{seg(await x.tenant())}/groups", {"sort": "-weight"})
    ids, _ = await x.row_ids()
    return ok({"groups": [group_bean(g, ids) for g in found]})


def _fields(given: dict[str, Any]) -> dict[str, Any]:
    only_fields(given, _GROUP_FIELDS, "body")
    return {k: given[k] for k in ("name", "description", "weight") if given.get(k) is not None}


async def create_group(x: Sipx) -> web.Response:
    """A new phone group; answers its id."""
    fields = _fields(x.sent_object())
    if not isinstance(fields.get("name"), str):
        raise bad_body("body.name", "a phone group needs a name")
    await forward(x, "POST", f"/tenants/{seg(await x.tenant())}/groups", fields)
    ids, _ = await x.row_ids()
    return ok(ids[fields["name"]])


async def get_group(x: Sipx) -> web.Response:
    """One phone group by id or name."""
    group = await forward(x, "GET", await _path(x))
    assert isinstance(group, Group)
    ids, _ = await x.row_ids()
    return ok(group_bean(group, ids))


async def update_group(x: Sipx) -> web.Response:
    """Change a group's description and weight (a new name is refused: renaming is not ours)."""
    await forward(x, "PATCH", await _path(x), _fields(x.sent_object()))
    return ok()


async def delete_group(x: Sipx) -> web.Response:
    """Delete a group; its phones leave it."""
    await forward(x, "DELETE", await _path(x))
    return ok()


def _mover(up: bool) -> Any:
    async def move(x: Sipx) -> web.Response:
        await forward(x, "POST", await _path(x) + ("/up" if up else "/down"))
        return ok()

    move.__doc__ = f"Move a group one place {'up' if up else 'down'}."
    return move


async def group_models(x: Sipx) -> web.Response:
    """The models of the group's phones."""
    group = await x.group()
    phones: list[Phone] = await forward_all(
        x, "/phones", {"tenant": await x.tenant(), "group": group, "sort": "model"}
    )
    models = dict.fromkeys(p.model for p in phones)
    return ok({"models": [model_bean(x, m) for m in models]})


async def _scope(x: Sipx) -> str:
    return f"group:{await x.tenant()}/{await x.group()}"


def _family_check(x: Sipx) -> Any:
    """A check that a setting name applies to the path's model (its family's settings)."""
    catalog = x.call.services.catalog
    model = catalog.model(x.params["model"])
    specs = catalog.specs_for(model.family)

    def check(name: str) -> None:
        catalog.spec(name)  # an unknown name: the catalog's own error
        if name not in specs:
            raise InputError(f"setting {name} does not apply to model {model.id}")

    return check


async def model_settings(x: Sipx) -> web.Response:
    """The group's settings that apply to the model."""
    check = _family_check(x)

    def applies(name: str) -> bool:
        try:
            check(name)
        except InputError:
            return False
        return True

    return await settings_of(x, await _scope(x), applies)


async def put_model_settings(x: Sipx) -> web.Response:
    """Set several of the group's settings (a SettingsList) at once."""
    return await put_many(x, await _scope(x), _family_check(x))


async def get_model_setting(x: Sipx) -> web.Response:
    """One setting of the group."""
    _family_check(x)(x.params["path"].strip("/").replace("/", "."))
    return await get_one(x, await _scope(x))


async def put_model_setting(x: Sipx) -> web.Response:
    """Set one setting of the group from the text body."""
    _family_check(x)(x.params["path"].strip("/").replace("/", "."))
    return await put_one(x, await _scope(x))


async def delete_model_setting(x: Sipx) -> web.Response:
    """Remove one setting from the group."""
    _family_check(x)(x.params["path"].strip("/").replace("/", "."))
    return await delete_one(x, await _scope(x))


async def list_phonebooks(x: Sipx) -> web.Response:
    """The tenant's phonebooks by name."""
    found = await forward_all(x, f"/tenants/{seg(await x.tenant())}/phonebooks")
    return ok({"phonebooks": [b.name for b in found]})


_NUMBER_ORDER = ("work", "mobile", "home", "other")


async def get_phonebook(x: Sipx) -> web.Response:
    """A phonebook's entries: ``firstName``, ``lastName``, ``number`` (the first of work, mobile,
    home, other) and every number by kind."""
    path = f"/tenants/{seg(await x.tenant())}/phonebooks/{seg(x.params['name'])}"
    book = await forward(x, "GET", path)
    assert isinstance(book, Phonebook)
    entries = []
    for e in book.entries:
        kinds = sorted(e.numbers, key=lambda k: (*_NUMBER_ORDER, k).index(k))
        entry: dict[str, Any] = {"firstName": e.first_name, "lastName": e.last_name}
        entry["number"] = e.numbers[kinds[0]] if kinds else ""
        if e.organisation:
            entry["organisation"] = e.organisation
        entry["numbers"] = {k: e.numbers[k] for k in kinds}
        entries.append(entry)
    return ok({"name": book.name, "entries": entries})


VIEWER, OPERATOR = Role.VIEWER, Role.OPERATOR
_MODEL = "/phoneGroups/{group}/model/{model}/settings"
ROUTES = [
    SipxRoute("GET", "/phoneGroups", list_groups, VIEWER),
    SipxRoute("POST", "/phoneGroups", create_group, OPERATOR, "json"),
    SipxRoute("GET", "/phoneGroups/{group}", get_group, VIEWER),
    SipxRoute("PUT", "/phoneGroups/{group}", update_group, OPERATOR, "json"),
    SipxRoute("DELETE", "/phoneGroups/{group}", delete_group, OPERATOR),
    SipxRoute("PUT", "/phoneGroups/{group}/up", _mover(True), OPERATOR),
    SipxRoute("PUT", "/phoneGroups/{group}/down", _mover(False), OPERATOR),
    SipxRoute("GET", "/phoneGroups/{group}/models", group_models, VIEWER),
    SipxRoute("GET", _MODEL, model_settings, VIEWER),
    SipxRoute("PUT", _MODEL, put_model_settings, OPERATOR, "json"),
    SipxRoute("GET", _MODEL + "/{path*}", get_model_setting, VIEWER),
    SipxRoute("PUT", _MODEL + "/{path*}", put_model_setting, OPERATOR, "text"),
    SipxRoute("DELETE", _MODEL + "/{path*}", delete_model_setting, OPERATOR),
    SipxRoute("GET", "/phonebook", list_phonebooks, VIEWER),
    SipxRoute("GET", "/phonebook/{name}", get_phonebook, VIEWER),
]

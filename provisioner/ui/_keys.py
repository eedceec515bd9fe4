"""The keys editor of the phone and group pages (docs/ui.md "Keys editor").

The ``keys`` setting (docs/settings.md "Keys") is an ordered list of keys,
edited here as a draft that lives in the form itself: each row's fields are
named by a stable row id (``type-3``, ``label-3``) and the hidden ``order``
field lists the ids in the order the keys will have. Without the script,
Up, Down, Remove and "Add a key" are submit buttons whose POST answers the
editor with the draft rearranged (nothing stored); with it
(``static/ui.js``), rows are dragged or moved in place and ``order`` kept
in step. Preview shows the API's dry run of ``PUT /scopes/{scope}/settings/keys``
(or of its ``DELETE``); Save makes exactly the draft that was previewed: the
preview's digest of the draft travels in the form, and a draft changed since
(a row dragged after the preview) is previewed again instead of saved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from provisioner.errors import InputError
from provisioner.mac import parse_mac
from provisioner.settings import MAX_KEYS, KeyType
from provisioner.ui._calls import segment
from provisioner.ui._handler import Page, PageFunction, link, see_other

__all__ = [
    "ALL_KEY_TYPES",
    "ROUTES",
    "Editor",
    "editor_for",
    "family_key_types",
    "group_member_layout",
]

FIELDS = ("type", "value", "label", "line", "module", "page")
_NUMBERS = ("line", "module", "page")
ALL_KEY_TYPES = [str(t.value) for t in KeyType]
# A phone's MAC and its placed keys (explain's "keys"), shown beside the editor;
# ("", None) for a group without members.
Placed = tuple[str, dict[str, Any] | None]
PlacedOf = Callable[[Page], Awaitable[Placed]]


@dataclass(frozen=True, slots=True)
class Editor:
    """What the ``keys_editor`` macro shows: the draft's rows and how to post it."""

    action: str  # the form's URL
    rows: list[dict[str, str]]  # each key's fields as text, plus its row "id"
    types: list[str]  # the key types offered (the family's, or every type for a group)
    lockable: bool  # a group's list may be locked; a phone's has no lower scope
    locked: bool
    note: str  # where the list in effect comes from, when this scope sets none
    previewed: str = ""  # the digest of the draft whose preview had no problem
    unset: bool = False  # the draft is "remove this scope's list"

    @property
    def order(self) -> str:
        """The hidden ``order`` field: the row ids in list order."""
        return ",".join(r["id"] for r in self.rows)


def family_key_types(page: Page, model: str) -> list[str]:
    """The key types the model's family can express (the catalog's ``[keys] types``)."""
    catalog = page.caller.api.services.catalog
    types = list(catalog.family_of(catalog.model(model)).keys.types)
    return types or ALL_KEY_TYPES


def _rows(keys: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    return [
        {"id": str(n), **{f: str(k[f]) for f in FIELDS if f in k}} for n, k in enumerate(keys or [])
    ]


def _setting_path(scope: str) -> str:
    return f"/scopes/{segment(scope)}/settings/keys"


async def editor_for(page: Page, scope: str, action: str, types: list[str]) -> Editor:
    """The editor of ``scope``'s list as stored, or of the list in effect when it sets none."""
    info = await page.caller.get(_setting_path(scope))
    note = ""
    if not info["set_here"]:
        source = info["source"] or {}
        where = " ".join(x for x in (source.get("kind", ""), source.get("scope", "")) if x)
        note = (
            f"This scope sets no keys list: the one in effect comes from {where or 'the default'}. "
            "The editor starts from it; saving makes it this scope's own list."
        )
    keys = info["stored"] if info["set_here"] else info["value"]
    return Editor(
        action=action,
        rows=_rows(keys if isinstance(keys, list) else []),
        types=types,
        lockable=not scope.startswith("phone:"),
        locked=bool(info["locked_here"]),
        note=note,
    )


def _draft(page: Page) -> list[dict[str, str]]:
    """The rows of the posted draft, in the order of its ``order`` field."""
    ids = [x for x in page.field("order").split(",") if x]
    if len(ids) > MAX_KEYS or len(set(ids)) != len(ids) or not all(x.isdigit() for x in ids):
        raise InputError("the keys form is damaged: reload the page")
    return [{"id": x, **{f: page.field(f"{f}-{x}") for f in FIELDS}} for x in ids]


def _rearranged(rows: list[dict[str, str]], action: str) -> list[dict[str, str]]:
    """The draft after an Up, Down, Remove or Add button."""
    if action == "add":
        if len(rows) >= MAX_KEYS:
            raise InputError(f"a phone takes at most {MAX_KEYS} keys")
        fresh = str(max((int(r["id"]) for r in rows), default=-1) + 1)
        return [*rows, {"id": fresh, "type": str(KeyType.BLF.value)}]
    what, _, row = action.partition(":")
    at = next((n for n, r in enumerate(rows) if r["id"] == row), None)
    if at is None or what not in ("up", "down", "remove"):
        raise InputError("the keys form is damaged: reload the page")
    moved = list(rows)
    if what == "remove":
        del moved[at]
    else:
        to = at - 1 if what == "up" else at + 1
        if 0 <= to < len(moved):
            moved[at], moved[to] = moved[to], moved[at]
    return moved


def _keys(rows: list[dict[str, str]]) -> list[dict[str, str | int]]:
    """The draft as the ``keys`` value (the schema checks it; empty fields are left out)."""
    keys = []
    for n, row in enumerate(rows, start=1):
        key: dict[str, str | int] = {}
        for name in FIELDS:
            text = row.get(name, "").strip() if name in _NUMBERS else row.get(name, "")
            if not text:
                continue
            if name in _NUMBERS:
                if not text.isdigit() or len(text) > 3:
                    raise InputError(f"key {n}: {name} must be a whole number")
                key[name] = int(text)
            else:
                key[name] = text
        keys.append(key)
    return keys


def _digest(keys: list[dict[str, str | int]], unset: bool, locked: bool) -> str:
    draft = json.dumps([keys, unset, locked], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(draft.encode()).hexdigest()


async def _post(
    page: Page, scope: str, *, back: str, title: str, types: list[str], placed: PlacedOf
) -> web.Response:
    """One POST of the editor: rearrange the draft, preview it, or save what was previewed."""
    path = _setting_path(scope)
    page.caller.authorize("PUT", path)  # a viewer is refused here, as by the API
    action = page.field("action")
    rows = _draft(page)
    unset = action == "unset" or (action in ("preview", "save") and bool(page.field("unset")))
    if action not in ("preview", "save", "unset"):
        rows = _rearranged(rows, action)
    keys = _keys(rows)
    locked = bool(page.field("locked"))
    digest = _digest(keys, unset, locked)
    method, body = ("DELETE", None) if unset else ("PUT", {"value": keys, "locked": locked})
    if action == "save" and page.field("previewed") == digest:
        await page.caller.write(method, path, body)
        return see_other(f"{back}?saved=keys")
    preview = None
    if action in ("preview", "save", "unset"):
        preview = await page.caller.write(method, path, body, dry_run=True)
    previewed = digest if preview is not None and not preview["problems"] else ""
    editor = Editor(
        action=page.request.rel_url.raw_path,  # a group name may hold an encoded slash
        rows=rows,
        types=types,
        lockable=not scope.startswith("phone:"),
        locked=locked,
        note="",
        previewed=previewed,
        unset=unset,
    )
    where, layout = await placed(page)
    return page.render(
        "keys.html",
        title=f"Keys of {title}",
        editor=editor,
        preview=preview,
        stale=action == "save",  # a Save of a draft changed since its preview
        scope=scope,
        back=back,
        placed_on=where,
        placed=layout,
    )


async def placed_on(page: Page, mac: str) -> dict[str, Any]:
    """The keys as ``explain`` places them on the phone now."""
    explained = await page.caller.get(f"/phones/{mac}/explain")
    found: dict[str, Any] = explained["keys"]
    return found


async def phone_keys(page: Page) -> web.Response:
    """The phone's keys editor (its POSTs)."""
    mac = parse_mac(page.params["mac"])
    data = await page.caller.get(f"/phones/{mac}")

    async def placed(page: Page) -> Placed:
        return mac, await placed_on(page, mac)

    return await _post(
        page,
        f"phone:{mac}",
        back=link(f"/phones/{mac}"),
        title=f"phone {mac}",
        types=family_key_types(page, data["model"]),
        placed=placed,
    )


async def group_member_layout(page: Page, tenant: str, name: str) -> Placed:
    """One member's placed keys, as a sample of the group's layout ("" and None: no member)."""
    members = await page.caller.get("/phones", tenant=tenant, group=name, limit=1)
    if not members["items"]:
        return "", None
    mac = members["items"][0]["mac"]
    return mac, await placed_on(page, mac)


async def group_keys(page: Page) -> web.Response:
    """A group's keys editor (its POSTs)."""
    tenant, name = page.params["tenant"], page.params["group"]

    async def placed(page: Page) -> Placed:
        return await group_member_layout(page, tenant, name)

    return await _post(
        page,
        f"group:{tenant}/{name}",
        back=link(f"/groups/{segment(tenant)}/{segment(name)}"),
        title=f"group {tenant}/{name}",
        types=ALL_KEY_TYPES,
        placed=placed,
    )


ROUTES: list[tuple[str, str, PageFunction]] = [
    ("POST", "/phones/{mac}/keys", phone_keys),
    ("POST", "/groups/{tenant}/{group}/keys", group_keys),
]

"""Edits of a phone itself: its own fields and its lines, each previewed before it is saved.

The phone's description, model and groups are one ``PATCH /phones/{mac}``
(only the fields that changed); a line is added with ``POST …/lines``,
changed with ``PATCH …/lines/{position}`` and removed with ``DELETE``. Each
first answers its dry run (:func:`provisioner.ui._write.preview_or_save`).
A line's password is never shown: the form says whether one is set, and a
password is sent only when one was typed (the API keeps the stored one).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from provisioner.errors import InputError
from provisioner.mac import parse_mac
from provisioner.ui._handler import Page, PageFunction, link
from provisioner.ui._write import preview_or_save

__all__ = ["ROUTES"]

# A line's text fields as the form names them (the API's names).
LINE_FIELDS = ("user", "auth_user", "display_name", "label")


def _quoted(value: object) -> str:
    return "(none)" if value in (None, "", []) else repr(value)


async def phone_fields(page: Page) -> web.Response:
    """Change the phone's description, model and groups (preview, then save)."""
    mac = parse_mac(page.params["mac"])
    stored = await page.caller.get(f"/phones/{mac}")
    assert page.form is not None
    wanted: dict[str, Any] = {
        "description": page.field("description") or None,
        "model": page.field("model") or stored["model"],
        "groups": page.form.getall("groups", []),
    }
    body = {
        k: v for k, v in wanted.items() if v != (stored.get(k) or ([] if k == "groups" else None))
    }
    changes = [f"{k} {_quoted(stored.get(k))} → {_quoted(v)}" for k, v in body.items()]
    fields = [("description", page.field("description")), ("model", wanted["model"])]
    fields += [("groups", g) for g in wanted["groups"]]
    return await preview_or_save(
        page,
        "PATCH",
        f"/phones/{mac}",
        body,
        title=f"phone {mac}",
        summary=f"Change phone {mac}: {'; '.join(changes) or 'nothing'}.",
        back=link(f"/phones/{mac}"),
        saved="the phone",
        fields=fields,
    )


def _line_form(page: Page) -> tuple[dict[str, str], str]:
    """The line form's text fields, and the password typed ('' when none was)."""
    return {k: page.field(k).strip() for k in LINE_FIELDS}, page.field("password")


def _carried(given: dict[str, str], password: str) -> list[tuple[str, str]]:
    # The preview's Save form carries what was typed, the password too: the
    # page is no-store and goes only to the account that typed it.
    return [*given.items(), *([("password", password)] if password else [])]


async def add_line(page: Page) -> web.Response:
    """Add a line to the phone (preview, then save)."""
    mac = parse_mac(page.params["mac"])
    given, password = _line_form(page)
    body: dict[str, Any] = {k: v for k, v in given.items() if v}
    if password:
        body["password"] = password
    return await preview_or_save(
        page,
        "POST",
        f"/phones/{mac}/lines",
        body,
        title=f"a new line of phone {mac}",
        summary=f"Add line {given['user']!r} to phone {mac}.",
        back=link(f"/phones/{mac}"),
        saved="the new line",
        fields=_carried(given, password),
    )


def _position(page: Page) -> int:
    text = page.params["position"]
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise InputError(f"no line {text!r}: positions are 1, 2, …")
    return int(text)


async def line(page: Page) -> web.Response:
    """One line's form: its fields, whether a password is set, and Remove."""
    mac = parse_mac(page.params["mac"])
    position = _position(page)
    found = await page.caller.get(f"/phones/{mac}/lines/{position}")
    return page.render("line.html", title=f"Line {position} of phone {mac}", mac=mac, line=found)


async def change_line(page: Page) -> web.Response:
    """Change (or remove) a line: preview, then save."""
    mac = parse_mac(page.params["mac"])
    position = _position(page)
    path = f"/phones/{mac}/lines/{position}"
    back = link(f"/phones/{mac}")
    if page.field("remove"):
        return await preview_or_save(
            page,
            "DELETE",
            path,
            None,
            title=f"line {position} of phone {mac}",
            summary=f"Remove line {position} from phone {mac}.",
            back=back,
            saved=f"line {position} removed",
            fields=[("remove", "1")],
        )
    stored = await page.caller.get(path)
    given, password = _line_form(page)
    # Only what changed; an emptied field is removed (null in a merge patch).
    body: dict[str, Any] = {k: v or None for k, v in given.items() if v != (stored.get(k) or "")}
    changes = [f"{k} {_quoted(stored.get(k))} → {_quoted(v)}" for k, v in body.items()]
    if password:
        body["password"] = password
        changes.append("a new password")
    return await preview_or_save(
        page,
        "PATCH",
        path,
        body,
        title=f"line {position} of phone {mac}",
        summary=f"Change line {position} of phone {mac}: {'; '.join(changes) or 'nothing'}.",
        back=back,
        saved=f"line {position}",
        fields=_carried(given, password),
    )


ROUTES: list[tuple[str, str, PageFunction]] = [
    ("POST", "/phones/{mac}/edit", phone_fields),
    ("POST", "/phones/{mac}/lines", add_line),
    ("GET", "/phones/{mac}/lines/{position}", line),
    ("POST", "/phones/{mac}/lines/{position}", change_line),
]

"""Lines of a phone, through :class:`Edits`."""

from __future__ import annotations

from typing import Any

from provisioner.api._call import Call, Reply, etag
from provisioner.api._fleet import (
    LINE_PARAMS,
    MAC_PARAMS,
    OPERATOR,
    VIEWER,
    LinePatch,
    body_entry,
    merge_patch,
    page,
)
from provisioner.api._models import (
    Line,
    LineIn,
    ListQuery,
    page_of,
)
from provisioner.api._phones import clean_patch, phone_tenant, stored_phone
from provisioner.api._routing import PREFIX, Route
from provisioner.api._tenants import tenant_state_of
from provisioner.entities import find_line, find_phone, keep_write_only, redact
from provisioner.errors import ConflictError, NotFoundError
from provisioner.fleet import (
    line_entry,
    parse_line_entry,
)

__all__ = ["ROUTES"]

LinePage = page_of(Line, "LinePage")


def _position(call: Call) -> int:
    text = call.params["position"]
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise NotFoundError(f"no line {text!r}: positions are 1, 2, …")
    return int(text)


async def _line_reply(call: Call, mac: str, position: int, status: int = 200) -> Reply:
    mac, tenant = mac, await call.run(lambda: call.services.store.tenants.tenant_of(mac))
    state = await tenant_state_of(call, tenant, mac)
    entry = line_entry(find_line(find_phone(state, mac), position))
    redacted = redact(call.services.catalog, {"lines": [entry]})["lines"][0]
    reply = Reply(Line.model_validate(redacted), status, etag(call.edits.versions.of(entry)))
    if status == 201:
        reply.location = f"{PREFIX}/phones/{mac}/lines/{position}"
    return reply


async def list_lines(call: Call) -> Reply:
    """A phone's lines."""
    _, _, stored = await stored_phone(call)
    lines = stored.get("lines", [])
    redacted = redact(call.services.catalog, {"lines": lines})["lines"] if lines else []
    window = redacted[call.query.offset : call.query.offset + call.query.limit]
    return page([Line.model_validate(x) for x in window], len(lines), call.query, LinePage)


async def create_line(call: Call) -> Reply:
    """Add a line (at the first free position unless ``position`` is given)."""
    mac, _ = await phone_tenant(call)
    line = parse_line_entry(body_entry(call))
    position = await call.run(lambda: call.edits.lines.add(mac, line))
    return await _line_reply(call, mac, position, 201)


async def get_line(call: Call) -> Reply:
    """One line."""
    mac, _ = await phone_tenant(call)
    return await _line_reply(call, mac, _position(call))


async def _stored_line(call: Call) -> tuple[str, int, dict[str, Any]]:
    mac, tenant = await phone_tenant(call)
    position = _position(call)
    state = await tenant_state_of(call, tenant, mac)
    return mac, position, line_entry(find_line(find_phone(state, mac), position))


async def _write_line(call: Call, mac: str, position: int, entry: dict[str, Any]) -> Reply:
    if entry.get("position", position) != position:
        raise ConflictError(f"the body names line {entry['position']}, the path {position}")
    line = parse_line_entry({**entry, "position": position})
    await call.run(lambda: call.edits.lines.replace(mac, line, expect=call.expect()))
    return await _line_reply(call, mac, position)


async def replace_line(call: Call) -> Reply:
    """Replace a line (a password left out keeps the stored one)."""
    mac, position, stored = await _stored_line(call)
    given = {**body_entry(call), "position": position}
    merged = keep_write_only(call.services.catalog, {"lines": [stored]}, {"lines": [given]})
    return await _write_line(call, mac, position, merged["lines"][0])


async def patch_line(call: Call) -> Reply:
    """Change some of a line's fields (JSON merge patch)."""
    mac, position, stored = await _stored_line(call)
    return await _write_line(call, mac, position, merge_patch(stored, clean_patch(call)))


async def delete_line(call: Call) -> Reply:
    """Delete a line."""
    mac, position, _ = await _stored_line(call)
    await call.run(lambda: call.edits.lines.remove(mac, position, expect=call.expect()))
    return Reply()


ROUTES = [
    Route(
        "GET",
        "/phones/{mac}/lines",
        list_lines,
        "List a phone's lines",
        "lines",
        VIEWER,
        query=ListQuery,
        answer=LinePage,
        params=MAC_PARAMS,
    ),
    Route(
        "POST",
        "/phones/{mac}/lines",
        create_line,
        "Add a line",
        "lines",
        OPERATOR,
        body=LineIn,
        answer=Line,
        status=201,
        etag=True,
        params=MAC_PARAMS,
    ),
    Route(
        "GET",
        "/phones/{mac}/lines/{position}",
        get_line,
        "Read a line",
        "lines",
        VIEWER,
        answer=Line,
        etag=True,
        params=LINE_PARAMS,
    ),
    Route(
        "PUT",
        "/phones/{mac}/lines/{position}",
        replace_line,
        "Replace a line",
        "lines",
        OPERATOR,
        body=LineIn,
        answer=Line,
        etag=True,
        params=LINE_PARAMS,
    ),
    Route(
        "PATCH",
        "/phones/{mac}/lines/{position}",
        patch_line,
        "Change a line",
        "lines",
        OPERATOR,
        body=LinePatch,
        answer=Line,
        etag=True,
        params=LINE_PARAMS,
    ),
    Route(
        "DELETE",
        "/phones/{mac}/lines/{position}",
        delete_line,
        "Delete a line",
        "lines",
        OPERATOR,
        etag=True,
        params=LINE_PARAMS,
    ),
]

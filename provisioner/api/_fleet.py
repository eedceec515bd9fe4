"""What the fleet resources share: bodies in the fleet file's shape, patches, sorting, pages."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from provisioner.api._call import Call, Reply
from provisioner.api._models import (
    GroupIn,
    LineIn,
    ListQuery,
    PhoneIn,
    TenantIn,
    partial,
)
from provisioner.apikeys import Role
from provisioner.errors import InputError

__all__ = [
    "ADMIN",
    "GROUP_PARAMS",
    "LINE_PARAMS",
    "MAC_PARAMS",
    "OPERATOR",
    "READ_ONLY",
    "TENANT_PARAMS",
    "VIEWER",
    "GroupPatch",
    "LinePatch",
    "PhonePatch",
    "TenantPatch",
    "body_entry",
    "merge_patch",
    "page",
    "sort_key",
    "sorted_rows",
]

TenantPatch = partial(TenantIn, "TenantPatch")
GroupPatch = partial(GroupIn, "GroupPatch")
PhonePatch = partial(PhoneIn, "PhonePatch")
LinePatch = partial(LineIn, "LinePatch")
READ_ONLY = ("secret_settings", "password_set")


def body_entry(call: Call) -> dict[str, Any]:
    """The body as a fleet entry: unset, null and read-only fields left out."""
    cleaned: dict[str, Any] = _clean(call.sent)
    return cleaned


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None and k not in READ_ONLY}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396: objects merge, null removes, anything else replaces."""
    result = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_patch(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def sort_key(query: ListQuery, allowed: tuple[str, ...]) -> tuple[str, bool]:
    """The field and direction ``sort`` names, among ``allowed`` (the first is the default)."""
    text = query.sort or allowed[0]
    field = text.removeprefix("-")
    if field not in allowed:
        raise InputError(f"sort: cannot sort by {field!r}; use one of {', '.join(allowed)}")
    return field, text.startswith("-")


def page(items: Sequence[BaseModel], total: int, query: ListQuery, model: type[BaseModel]) -> Reply:
    """A list answer."""
    return Reply(model(items=items, total=total, limit=query.limit, offset=query.offset))


def sorted_rows(
    rows: list[dict[str, Any]], query: ListQuery, allowed: tuple[str, ...]
) -> list[dict[str, Any]]:
    field, descending = sort_key(query, allowed)
    ordered = sorted(rows, key=lambda r: (str(r.get(field, "")), str(r.get(allowed[0], ""))))
    if descending:
        ordered.reverse()
    return ordered[query.offset : query.offset + query.limit]


VIEWER, OPERATOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ADMIN

# Path parameters of the fleet resources, as the OpenAPI document describes them.
TENANT_PARAMS = {"tenant": "tenant name"}
GROUP_PARAMS = {"tenant": "tenant name", "group": "group name"}
MAC_PARAMS = {"mac": "MAC in any spelling"}
LINE_PARAMS = {"mac": "MAC in any spelling", "position": "line position, from 1"}

"""The API's declarative route table and the OpenAPI 3.1 document generated from it.

Each :class:`Route` names its method, path template, minimum role, and the
pydantic models of its query, body and answer; handlers never parse or
check these themselves. The same table matches requests
(:class:`Router`) and produces the OpenAPI document (:func:`openapi`), so
the document cannot drift from what is served. pydantic's JSON Schema is
draft 2020-12, which OpenAPI 3.1 uses as is.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from provisioner.apikeys import Role
from provisioner.problems import CODES

if TYPE_CHECKING:
    from provisioner.api._call import Call, Reply

__all__ = ["PREFIX", "Route", "Router", "openapi"]

PREFIX = "/api/v1"
Handler = Callable[["Call"], Awaitable["Reply"]]
_PARAM = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True, slots=True)
class Route:
    """One operation."""

    method: str
    path: str  # under PREFIX, with {name} parameters (one path segment each)
    handler: Handler
    summary: str
    tag: str
    role: Role  # the least role allowed
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None  # None: 204 No Content
    status: int = 200
    etag: bool = False  # the answer carries an ETag; a write takes If-Match
    description: str = ""
    params: dict[str, str] = field(default_factory=dict)  # path parameter descriptions
    # A multipart/form-data body the handler streams itself (from ``Call.request``);
    # the model describes its parts for the OpenAPI document.
    form: type[BaseModel] | None = None
    # The answer is a file of this media type (Reply.raw), not JSON: e.g. text/csv.
    media: str | None = None
    # The JSON body may be as large as the server's fleet-file limit
    # (Services.max_fleet_body) instead of provisioner.api._bodies.MAX_BODY.
    large_body: bool = False
    # What it answers belongs to no tenant (bans are per address): a key limited
    # to a tenant is refused (403), whatever its role.
    unscoped: bool = False

    @property
    def operation_id(self) -> str:
        """The handler's name: stable, unique, what clients generate methods from."""
        return self.handler.__name__.lstrip("_")


class Router:
    """Finds the route of a method and path."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        self._compiled = [
            (
                route,
                re.compile(
                    "^" + _PARAM.sub(r"(?P<\1>[^/]+)", route.path.replace(".", r"\.")) + "$"
                ),
            )
            for route in routes
        ]

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """The route for ``method`` and ``path`` (under PREFIX), its parameters, and the
        methods the path allows (for 405 when the route is None but the path exists)."""
        allowed: list[str] = []
        for route, pattern in self._compiled:
            found = pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict(), []
            allowed.append(route.method)
        return None, {}, allowed


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "RFC 9457 problem details; `code` is stable (docs/api.md).",
        "required": ["type", "title", "status", "code", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "code": {"type": "integer", "enum": sorted({c.code for c in CODES})},
            "detail": {"type": "string"},
            "field": {"type": "string"},
            "instance": {"type": "string"},
            "request_id": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }


_PROBLEM = {
    "description": "a problem (RFC 9457)",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
_ETAG_HEADER = {"ETag": {"schema": {"type": "string"}, "description": "the entity's version"}}


def _query_parameters(model: type[BaseModel], defs: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs.update(schema.get("$defs", {}))
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {k: v for k, v in prop.items() if k != "title"},
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation(
    route: Route, refs: dict[type[BaseModel], Any], defs: dict[str, Any]
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "description": (route.description + "\n\n" if route.description else "")
        + f"Least role: `{route.role.value}`."
        + (" Refused to a key limited to a tenant." if route.unscoped else ""),
    }
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            **({"description": route.params[name]} if name in route.params else {}),
        }
        for name in _PARAM.findall(route.path)
    ]
    if route.query is not None:
        parameters += _query_parameters(route.query, defs)
    if route.etag and route.method in ("PUT", "PATCH", "DELETE", "POST"):
        parameters.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "the ETag last read; 412 when the entity changed since",
            }
        )
    if parameters:
        op["parameters"] = parameters
    if route.form is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": refs[route.form]}},
        }
    if route.body is not None:
        media = "application/merge-patch+json" if route.method == "PATCH" else "application/json"
        content = {"schema": refs[route.body]}
        op["requestBody"] = {
            "required": True,
            "content": {
                media: content,
                **({"application/json": content} if media != "application/json" else {}),
            },
        }
    responses: dict[str, Any] = {}
    if route.media is not None:
        responses[str(route.status)] = {
            "description": "OK",
            "content": {route.media: {"schema": {"type": "string"}}},
        }
    elif route.answer is None:
        responses["204"] = {"description": "done"}
    else:
        ok: dict[str, Any] = {
            "description": "created" if route.status == 201 else "OK",
            "content": {"application/json": {"schema": refs[route.answer]}},
        }
        headers: dict[str, Any] = dict(_ETAG_HEADER) if route.etag else {}
        if route.status == 201:
            headers["Location"] = {"schema": {"type": "string"}, "description": "the new resource"}
        if headers:
            ok["headers"] = headers
        responses[str(route.status)] = ok
    for status in _problem_statuses(route):
        responses[status] = _PROBLEM
    op["responses"] = responses
    return op


def _problem_statuses(route: Route) -> list[str]:
    statuses = ["400", "401", "403", "404", "405", "413", "415", "422", "429", "500"]
    if route.method != "GET":
        statuses += ["409"]
    if route.etag and route.method != "GET":
        statuses += ["412"]
    return sorted(statuses)


def openapi(routes: list[Route], title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``."""
    models = {m for r in routes for m in (r.body, r.answer, r.form) if m is not None}
    # One mode per model: request models are read as sent, answers as written.
    keyed: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (m, "validation" if any(m in (r.body, r.form) for r in routes) else "serialization")
        for m in sorted(models, key=lambda m: m.__name__)
    ]
    refs_by_key, top = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
    refs = {m: refs_by_key[(m, mode)] for m, mode in keyed}
    defs: dict[str, Any] = dict(top.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(PREFIX + route.path, {})[route.method.lower()] = _operation(
            route, refs, defs
        )
    defs["Problem"] = _problem_schema()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "The admin API of provisioner (docs/api.md). Authenticate with "
            "`X-API-Key: KEY` or `Authorization: Bearer KEY`.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"apiKey": []}, {"bearer": []}],
    }

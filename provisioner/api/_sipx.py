"""The sipXconfig-compatible REST paths (``/sipxconfig/api/…``): routing, forwarding, beans.

sipXcom's scripts talk to ``/sipxconfig/api/phones``, ``/phoneGroups`` and
``/phonebook`` (seed 003 §12.15–§12.17). These paths own no rule: each one
translates its request into one or more ``/api/v1`` operations and runs them
through the API's own router (:func:`forward`), so the roles, the checks,
the audit log and the error documents are those of ``/api/v1``; several
writes that belong together go through ``POST /api/v1/changes`` (one
transaction). What maps one to one and what differs: docs/sipxcom-rest.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, unquote

from aiohttp import web
from pydantic import BaseModel, ValidationError

from provisioner.api._bodies import MAX_BODY, Problem, invalid, json_body, problem
from provisioner.api._call import Call
from provisioner.api._routing import PREFIX
from provisioner.apikeys import Role
from provisioner.errors import ConflictError, NotFoundError
from provisioner.mac import parse_mac
from provisioner.problems import (
    BODY_TOO_LARGE,
    FORBIDDEN,
    INVALID_PARAMETER,
    MALFORMED_BODY,
    METHOD_NOT_ALLOWED,
    NO_SUCH_ROUTE,
    NOT_ACCEPTABLE,
    UNSUPPORTED_MEDIA_TYPE,
    VALIDATION_FAILED,
    FieldProblem,
    ProblemInfo,
)

__all__ = [
    "SIPX_PREFIX",
    "Sipx",
    "SipxRoute",
    "acceptable",
    "bad_body",
    "bad_query",
    "forward",
    "match",
    "ok",
    "only_fields",
    "query_names",
    "serve",
    "table",
]

SIPX_PREFIX = "/sipxconfig/api"
# sipXcom's own tenant name is not a thing; a key not limited to a tenant
# works on the tenant of this name, or on the only tenant there is.
DEFAULT_TENANT = "default"
_MAX_INT = 2**31 - 1  # sipXconfig ids are Java ints: anything longer is a MAC
_PARAM = re.compile(r"\{([a-zA-Z_]+)(\*?)\}")
Handler = Callable[["Sipx"], Awaitable[web.Response]]


@dataclass(frozen=True, slots=True)
class SipxRoute:
    """One sipXconfig path: method, template (``{name}`` one segment, ``{name*}`` the rest)."""

    method: str
    path: str
    handler: Handler
    role: Role
    body: Literal["json", "text"] | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        """The template as a regular expression over the raw (undecoded) path."""
        regex = _PARAM.sub(
            lambda m: f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})", self.path
        )
        return re.compile("^" + regex + "$")


@dataclass(slots=True)
class Sipx:
    """One authenticated sipXconfig request: the v1 call it makes, its query and body."""

    call: Call
    query: Mapping[str, str]
    sent: Any = None  # the JSON body, or the text of a text/plain one
    _tenant: str | None = field(default=None)

    @property
    def params(self) -> dict[str, str]:
        """The path's parameters, decoded."""
        return self.call.params

    async def tenant(self) -> str:
        """The tenant these paths work on (sipXcom has one; docs/sipxcom-rest.md "Tenant")."""
        if self._tenant is None:
            self._tenant = await self._choose_tenant()
        return self._tenant

    async def _choose_tenant(self) -> str:
        if self.call.key.tenant is not None:
            return self.call.key.tenant
        names = await self.call.run(self.call.services.store.tenants.names)
        if DEFAULT_TENANT in names:
            return DEFAULT_TENANT
        if len(names) == 1:
            return names[0]
        raise ConflictError(
            f"the sipXconfig paths work on one tenant: the key is not limited to a tenant, "
            f"and there are {len(names)} tenants, none named {DEFAULT_TENANT!r}; "
            "use a key made with "
            "`provisioner apikey create --name NAME --role operator --tenant TENANT`"
        )

    async def row_ids(self) -> tuple[dict[str, int], dict[str, int]]:
        """The tenant's group ids by name and phone ids by MAC."""
        tenant = await self.tenant()
        return await self.call.run(lambda: self.call.services.store.tenants.row_ids(tenant))

    async def mac(self, ident: str | None = None) -> str:
        """The phone a ``{phoneId}`` names: a sipXconfig numeric id or a MAC, in the tenant."""
        text = self.params["phone"] if ident is None else ident
        if text.isdigit() and len(text) <= 10 and int(text) <= _MAX_INT:
            number = int(text)
            _, phones = await self.row_ids()
            found = next((mac for mac, row in phones.items() if row == number), None)
            if found is None:
                raise NotFoundError(f"no phone with id {number}")
            return found
        mac = parse_mac(text)
        tenant = await self.tenant()
        owner = await self.call.run(lambda: self.call.services.store.tenants.tenant_of(mac))
        if owner != tenant:
            raise NotFoundError(f"no phone with MAC {mac}")
        return mac

    async def group(self, ident: str | None = None) -> str:
        """The group a ``{groupId}`` names: its numeric id or its name, in the tenant."""
        text = self.params["group"] if ident is None else ident
        groups, _ = await self.row_ids()
        if text in groups:
            return text
        if text.isdigit():
            found = next((name for name, row in groups.items() if str(row) == text), None)
            if found is not None:
                return found
        raise NotFoundError(f"no phone group {text!r} in tenant {await self.tenant()!r}")

    def sent_object(self) -> dict[str, Any]:
        """The JSON body (a JSON object)."""
        assert isinstance(self.sent, dict)
        return self.sent


def seg(text: str) -> str:
    """One path segment of a v1 path, URL-encoded (the router decodes it again)."""
    return quote(text, safe="")


async def forward(
    x: Sipx,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
) -> BaseModel | None:
    """Run the ``/api/v1`` operation ``method path`` (under the prefix, encoded) as this key.

    The operation is routed, authorised and its query and body validated by
    the API's handler exactly as its own request would be.
    """
    dispatcher = x.call.dispatcher
    assert dispatcher is not None
    route, params = dispatcher.resolve(method, path)
    dispatcher.authorize(x.call, route, method, PREFIX + path)
    sub = Call(
        services=x.call.services,
        key=x.call.key,
        actor=x.call.actor,
        params=params,
        dispatcher=dispatcher,
    )
    if route.query is not None:
        try:
            sub.query = route.query.model_validate(query or {})
        except ValidationError as exc:
            raise invalid(exc, "query", INVALID_PARAMETER) from None
    if route.body is not None:
        sub.sent = body or {}
        sub.body = dispatcher.validate(route, sub.sent)
    reply = await route.handler(sub)
    return reply.body


async def forward_all(x: Sipx, path: str, query: dict[str, str] | None = None) -> list[Any]:
    """Every item of a paged ``/api/v1`` list (pages of 1,000)."""
    items: list[Any] = []
    while True:
        page = await forward(x, "GET", path, query={**(query or {}), "limit": "1000",
                                                    "offset": str(len(items))})  # fmt: skip
        assert page is not None
        got = list(getattr(page, "items"))  # noqa: B009 (a page model made by page_of)
        items += got
        if not got or len(items) >= int(getattr(page, "total")):  # noqa: B009
            return items


def match(
    routes: list[tuple[SipxRoute, re.Pattern[str]]], method: str, raw: str
) -> tuple[SipxRoute, dict[str, str]]:
    """The route of ``method`` on ``raw`` (the path under the prefix, undecoded)."""
    allowed: list[str] = []
    for route, pattern in routes:
        found = pattern.match(raw)
        if found is None:
            continue
        if route.method == method:
            try:
                params = {k: unquote(v, errors="strict") for k, v in found.groupdict().items()}
            except UnicodeDecodeError:
                raise problem(
                    INVALID_PARAMETER, "a path segment is not UTF-8 once decoded"
                ) from None
            return route, params
        allowed.append(route.method)
    if allowed:
        raise Problem(
            ProblemInfo(METHOD_NOT_ALLOWED, f"{method} is not allowed on {SIPX_PREFIX}{raw}"),
            {"Allow": ", ".join(sorted(set(allowed)))},
        )
    raise problem(NO_SUCH_ROUTE, f"no resource at {SIPX_PREFIX}{raw}")


def acceptable(request: web.BaseRequest) -> None:
    """Refuse (406) a client that accepts no JSON: these paths answer JSON only."""
    accept = request.headers.get("Accept", "").strip()
    if not accept:
        return
    kinds = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    if kinds & {"*/*", "application/*", "application/json", "text/plain"}:
        return
    raise problem(
        NOT_ACCEPTABLE,
        f"these paths answer application/json only, and the request accepts {accept[:100]}",
    )


async def read_body(request: web.BaseRequest, kind: Literal["json", "text"]) -> Any:
    """The request's body: a JSON object, or the text of a ``text/plain`` one."""
    if kind == "json":
        return await json_body(request, MAX_BODY)
    # curl -d sends form-urlencoded unless told otherwise: its body is the value as typed.
    texts = ("text/plain", "application/octet-stream", "application/x-www-form-urlencoded", "")
    if request.content_type not in texts:
        raise problem(
            UNSUPPORTED_MEDIA_TYPE,
            f"the body must be text/plain (the value), not {request.content_type}",
        )
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise problem(BODY_TOO_LARGE, f"the body is over the limit of {MAX_BODY} bytes", close=True)
    try:
        return raw.decode("utf-8").strip("\r\n")
    except UnicodeDecodeError:
        raise problem(MALFORMED_BODY, "the body is not UTF-8") from None


def ok(data: object = None) -> web.Response:
    """A JSON answer (``None``: an empty 200, as sipXconfig answers a write)."""
    headers = {"Cache-Control": "no-store"}
    if data is None:
        return web.Response(headers=headers)
    return web.Response(
        body=json.dumps(data, ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
        headers=headers,
    )


def bad_body(field: str, message: str) -> Problem:
    """A body's wrong field, as ``/api/v1`` answers one (422, code 1003, the field named)."""
    return Problem(
        ProblemInfo(
            VALIDATION_FAILED, f"{field}: {message}", field, (FieldProblem(field, message),)
        )
    )


def bad_query(name: str, message: str) -> Problem:
    """A wrong query parameter, as ``/api/v1`` answers one (400, code 1104)."""
    return problem(INVALID_PARAMETER, f"query.{name}: {message}", f"query.{name}")


def query_names(x: Sipx, known: tuple[str, ...]) -> None:
    """Refuse a query parameter the path does not take (as ``/api/v1``)."""
    for name in x.query:
        if name not in known:
            raise problem(
                INVALID_PARAMETER, f"unknown query parameter {name} ({', '.join(known)})", name
            )


def only_fields(given: dict[str, Any], allowed: set[str], where: str) -> None:
    """Refuse a body with fields these paths do not know (naming the first, as pydantic)."""
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise bad_body(
            f"{where}.{unknown[0]}",
            f"extra inputs are not permitted (known: {', '.join(sorted(allowed))})",
        )


def table() -> list[tuple[SipxRoute, re.Pattern[str]]]:
    """Every sipXconfig path, compiled."""
    from provisioner.api import _sipx_groups, _sipx_phones

    return [(route, route.pattern) for route in (*_sipx_phones.ROUTES, *_sipx_groups.ROUTES)]


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


async def serve(request: web.BaseRequest, route: SipxRoute, call: Call) -> web.Response:
    """Answer one request to a sipXconfig path, its key already checked."""
    if _RANK[call.key.role] < _RANK[route.role]:
        raise problem(
            FORBIDDEN,
            f"{request.method} {request.path} needs the {route.role.value} role; "
            f"key {call.key.name} is {call.key.role.value}",
        )
    acceptable(request)
    names = [name for name, _ in request.query.items()]  # every one, repeats too
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise problem(INVALID_PARAMETER, f"query parameter {repeated[0]} is given twice")
    x = Sipx(call, {k: request.query[k] for k in names})
    if route.body is not None:
        x.sent = await read_body(request, route.body)
    return await route.handler(x)

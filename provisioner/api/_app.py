"""The API's request handler: request IDs, authentication, roles, bodies, problems.

Everything a route needs before its handler runs is done here once, from
the route table (:mod:`provisioner.api._routing`): the key is checked (a
failed key counts towards its address's ban, as a phone's failed lookup
does), the role compared, the query and body parsed into the route's
pydantic models. Every error becomes an RFC 9457 problem document through
:func:`provisioner.problems.problem_of`; an unexpected exception is logged
with its request ID and answered 500 without a traceback.
"""

from __future__ import annotations

import json
import logging
import re
import time
import typing
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from pydantic import BaseModel, ValidationError

from provisioner import __version__
from provisioner.actor import Actor, ActorKind
from provisioner.api import _docs, _sipx
from provisioner.api._bodies import MAX_BODY, Problem, invalid, json_body, problem, validated
from provisioner.api._call import Call, Reply
from provisioner.api._credentials import presented_key
from provisioner.api._preview import PREVIEW_PARAM, preview_call, previewable, with_previews
from provisioner.api._routing import PREFIX, Route, Router, openapi
from provisioner.api._services import Services
from provisioner.api._soap import SOAP_PATH, PhoneService
from provisioner.apikeys import Verified
from provisioner.errors import ProvisionerError
from provisioner.problems import (
    BANNED,
    FORBIDDEN,
    INTERNAL_ERROR,
    INVALID_PARAMETER,
    METHOD_NOT_ALLOWED,
    NO_SUCH_ROUTE,
    UNAUTHENTICATED,
    ProblemInfo,
    problem_of,
)
from provisioner.serve._forwarded import forwarded_client
from provisioner.serve._front import FrontGateway
from provisioner.serve._model import Network, Protocol

__all__ = ["ApiHandler"]

log = logging.getLogger("provisioner.api")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ApiHandler:
    """The aiohttp request handler of the API listener (low-level server, our router)."""

    def __init__(
        self,
        services: Services,
        routes: list[Route],
        gateway: FrontGateway,
        trusted_proxies: tuple[Network, ...] = (),
    ) -> None:
        self.services = services
        self.router = Router(routes)
        self.sipx = _sipx.table()
        self.gateway = gateway
        self.trusted_proxies = trusted_proxies
        document = with_previews(openapi(routes, "provisioner admin API", __version__), routes)
        self._openapi = json.dumps(document, ensure_ascii=False).encode("utf-8")
        self.soap = PhoneService(services, self.verify, gateway.banned)
        # The web UI (provisioner.ui), answered here under /ui/ when the listener sets it.
        self.ui: UiAnswer | None = None

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request; every answer carries its ``X-Request-ID``."""
        started = time.monotonic()
        request_id = request.headers.get("X-Request-ID", "")
        if _REQUEST_ID.fullmatch(request_id) is None:
            request_id = uuid.uuid4().hex
        who = "-"
        try:
            response, who = await self._answer(request, request_id)
        except Problem as exc:
            response = _problem_response(exc.info, request, request_id, exc.headers)
        except ProvisionerError as exc:  # the service layer's own errors, as the CLI prints them
            response = _problem_response(problem_of(exc), request, request_id, {})
        except Exception:  # the one place an unexpected error stops: logged, answered 500
            log.exception("event=api_error request_id=%s path=%s", request_id, request.path)
            info = ProblemInfo(INTERNAL_ERROR, f"internal error; see the server log ({request_id})")
            response = _problem_response(info, request, request_id, {})
        response.headers["X-Request-ID"] = request_id
        log.info(
            "event=api_request request_id=%s method=%s path=%s status=%d key=%s ms=%.1f",
            request_id,
            request.method,
            request.path,
            response.status,
            who,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _client(self, request: web.BaseRequest) -> str:
        """The client: the TCP peer, or whom a trusted proxy's X-Forwarded-For names."""
        peer = request.remote or ""
        if not self.trusted_proxies:
            return peer
        forwarded = request.headers.getall("X-Forwarded-For", ())
        return forwarded_client(peer, forwarded, self.trusted_proxies)

    async def _answer(
        self, request: web.BaseRequest, request_id: str
    ) -> tuple[web.StreamResponse, str]:
        client = self._client(request)
        if request.path == SOAP_PATH:  # sipXconfig's SOAP service answers in SOAP, even refusals
            return await self.soap(request, client, request_id)
        if self.gateway.banned(client):
            raise Problem(
                ProblemInfo(BANNED, "this address is banned for repeated failures"),
                {"Connection": "close"},
            )
        path = request.path
        if path == _docs.DOCS or path.startswith(_docs.DOCS + "/"):
            return _docs_response(path), "-"
        if self.ui is not None and (path == "/ui" or path.startswith("/ui/")):
            return await self.ui.answer(request, client, request_id), "ui"
        if path == PREFIX + "/openapi.json" and request.method in ("GET", "HEAD"):
            return web.Response(body=self._openapi, content_type="application/json"), "-"
        if path == _sipx.SIPX_PREFIX or path.startswith(_sipx.SIPX_PREFIX + "/"):
            return await self._sipx(request, client, request_id)
        if not path.startswith(PREFIX + "/"):
            raise problem(NO_SUCH_ROUTE, f"no resource at {path}; the API is under {PREFIX}/")
        method = "GET" if request.method == "HEAD" else request.method
        # Matched undecoded, so an encoded slash (group:acme%2Fsales) stays in its segment.
        raw = request.rel_url.raw_path
        route, params = self.resolve(method, raw[len(PREFIX) :], request.method)
        key = await self._authenticate(request, client)
        call = Call(
            services=self.services,
            key=key,
            actor=Actor(ActorKind.API, key.name, key.id, request_id),
            params=params,
            if_match=request.headers.get("If-Match"),
            request=request if route.form is not None else None,
            dispatcher=self,
        )
        self.authorize(call, route, request.method, path)
        dry_run = previewable(route) and _dry_run(request)
        call.query = _query(route, request, skip=(PREVIEW_PARAM,) if previewable(route) else ())
        if route.body is not None:
            call.sent = await json_body(request, self._body_limit(route))
            call.body = self.validate(route, call.sent)
        reply = await (preview_call(call, route) if dry_run else route.handler(call))
        if method in _WRITES and not dry_run and self.services.committed is not None:
            self.services.committed()  # the server refreshes its cache now, not at its next poll
        return _response(route, reply), f"{key.name}#{key.id}"

    async def _sipx(
        self, request: web.BaseRequest, client: str, request_id: str
    ) -> tuple[web.StreamResponse, str]:
        """A sipXconfig-compatible path (docs/sipxcom-rest.md): HTTP Basic with a key too."""
        method = "GET" if request.method == "HEAD" else request.method
        raw = request.rel_url.raw_path[len(_sipx.SIPX_PREFIX) :]
        route, params = _sipx.match(self.sipx, method, raw)
        key = await self._authenticate(request, client, basic=True)
        call = Call(
            services=self.services,
            key=key,
            actor=Actor(ActorKind.API, key.name, key.id, request_id),
            params=params,
            dispatcher=self,
        )
        response = await _sipx.serve(request, route, call)
        if method in _WRITES and self.services.committed is not None:
            self.services.committed()
        return response, f"{key.name}#{key.id}"

    def resolve(self, method: str, path: str, asked: str = "") -> tuple[Route, dict[str, str]]:
        """The route of ``method`` on ``path`` (under the prefix, undecoded), its parameters."""
        route, params, allowed = self.router.match(method, path)
        try:
            params = {name: unquote(value, errors="strict") for name, value in params.items()}
        except UnicodeDecodeError:
            raise problem(INVALID_PARAMETER, "a path segment is not UTF-8 once decoded") from None
        if route is None:
            if allowed:
                raise Problem(
                    ProblemInfo(
                        METHOD_NOT_ALLOWED, f"{asked or method} is not allowed on {PREFIX}{path}"
                    ),
                    {"Allow": ", ".join(sorted(allowed))},
                )
            raise problem(NO_SUCH_ROUTE, f"no resource at {PREFIX}{path}")
        return route, params

    def authorize(self, call: Call, route: Route, method: str, path: str) -> None:
        """Refuse a key whose role is below the route's, or limited to a tenant when the
        route answers what belongs to no tenant."""
        if not call.at_least(route.role):
            raise problem(
                FORBIDDEN,
                f"{method} {path} needs the {route.role.value} role; "
                f"key {call.key.name} is {call.key.role.value}",
            )
        if route.unscoped and call.key.tenant is not None:
            raise problem(
                FORBIDDEN,
                f"{method} {path} answers what belongs to no tenant; "
                f"key {call.key.name} is limited to tenant {call.key.tenant}",
            )

    def _body_limit(self, route: Route) -> int:
        """The most bytes of the route's JSON body."""
        return self.services.max_fleet_body if route.large_body else MAX_BODY

    def validate(self, route: Route, sent: dict[str, Any]) -> BaseModel:
        """A body as the route's model (a 422 problem naming each wrong field)."""
        assert route.body is not None
        return validated(route.body, sent)

    async def _authenticate(
        self, request: web.BaseRequest, client: str, basic: bool = False
    ) -> Verified:
        """The request's key, or 401 (a wrong key counts towards the address's ban).

        With ``basic`` (the sipXconfig paths, whose clients send HTTP Basic,
        RFC 7617), the Basic password is the key and the user name is ignored.
        """
        if basic:
            challenge = 'Basic realm="sipxconfig"'
            means = "X-API-Key, Bearer or Basic (the key as password)"
        else:
            challenge, means = 'Bearer realm="provisioner"', "X-API-Key or Bearer"
        return await self.verify(
            presented_key(request, basic=basic),
            request,
            client,
            {"WWW-Authenticate": challenge},
            means,
        )

    async def verify(
        self,
        presented: str | None,
        request: web.BaseRequest,
        client: str,
        challenge: dict[str, str],
        means: str = "X-API-Key or Bearer",
    ) -> Verified:
        """The key ``presented``, or 401 with ``challenge`` (a wrong key counts towards a ban);
        ``means`` says how a key is given."""
        if not presented:
            raise Problem(
                ProblemInfo(UNAUTHENTICATED, f"an API key is needed: {means}"),
                challenge,
            )
        keys = self.services.keys
        found = await self.services.db.run(lambda: keys.verify(presented))
        if found is None:
            protocol = Protocol.HTTPS if request.secure else Protocol.HTTP
            self.gateway.failed(client, protocol, "api_key_failed")
            raise Problem(
                ProblemInfo(UNAUTHENTICATED, "the API key is unknown, revoked or expired"),
                challenge,
            )
        return found


def _dry_run(request: web.BaseRequest) -> bool:
    """Whether ``?dry_run=`` asks for a preview (``true``/``false``, ``1``/``0``)."""
    given = request.query.getall(PREVIEW_PARAM, [])
    if not given:
        return False
    if len(given) > 1 or given[0] not in ("true", "false", "1", "0"):
        raise problem(
            INVALID_PARAMETER, f"{PREVIEW_PARAM} must be true or false, once", PREVIEW_PARAM
        )
    return given[0] in ("true", "1")


def _query(route: Route, request: web.BaseRequest, skip: tuple[str, ...] = ()) -> BaseModel | None:
    names = [n for n, _ in request.query.items() if n not in skip]  # repeats too
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise problem(INVALID_PARAMETER, f"query parameter {repeated[0]} is given twice")
    if route.query is None:
        if names:
            raise problem(INVALID_PARAMETER, f"unknown query parameter {names[0]}", names[0])
        return None
    try:
        return route.query.model_validate({k: request.query[k] for k in names})
    except ValidationError as exc:
        raise invalid(exc, "query", INVALID_PARAMETER) from None


def _response(route: Route, reply: Reply) -> web.Response:
    headers: dict[str, str] = {"Cache-Control": "no-store"}
    if reply.etag is not None:
        headers["ETag"] = reply.etag
    if reply.location is not None:
        headers["Location"] = reply.location
    if reply.raw is not None:
        assert route.media is not None, "a route answering a file names its media type"
        if reply.filename is not None:
            headers["Content-Disposition"] = f'attachment; filename="{reply.filename}"'
        return web.Response(
            status=reply.status,
            body=reply.raw,
            content_type=route.media,
            charset="utf-8" if route.media.startswith("text/") else None,
            headers=headers,
        )
    if reply.body is None:
        return web.Response(status=204, headers=headers)
    return web.Response(
        status=reply.status,
        body=reply.body.model_dump_json(exclude_unset=True).encode("utf-8"),
        content_type="application/json",
        headers=headers,
    )


def _problem_response(
    info: ProblemInfo, request: web.BaseRequest, request_id: str, headers: dict[str, str]
) -> web.Response:
    response = web.Response(
        status=info.code.status,
        body=json.dumps(info.document(request.path, request_id), ensure_ascii=False).encode(),
        content_type="application/problem+json",
        headers={"Cache-Control": "no-store", **headers},
    )
    if headers.get("Connection") == "close":
        response.force_close()
    return response


def _docs_response(path: str) -> web.Response:
    headers = {"Content-Security-Policy": _docs.CSP, "Cache-Control": "no-cache"}
    if path in (_docs.DOCS, _docs.DOCS + "/"):
        return web.Response(body=_docs.page(), content_type="text/html", headers=headers)
    found = _docs.asset(path[len(_docs.DOCS) + 1 :])
    if found is None:
        raise problem(NO_SUCH_ROUTE, f"no resource at {path}")
    return web.Response(body=found[0], content_type=found[1], headers=headers)


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class UiAnswer(typing.Protocol):
    """What answers the web UI's requests (:class:`provisioner.ui.UiHandler`)."""

    async def answer(
        self, request: web.BaseRequest, client: str, request_id: str
    ) -> web.Response: ...

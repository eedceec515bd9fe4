"""sipXconfig's SOAP PhoneService at ``/sipxconfig/services/PhoneService`` (seed 003 §13.6).

Served on the API listener beside ``/api/v1`` (docs/sipxcom-soap.md). The
WSDL is the copy shipped in the package (``provisioner/api/wsdl/``, from
``shared/sipxconfig/PhoneService.wsdl``), answered at ``?wsdl`` with its
``soap:address`` set to this server's URL as the request reached it.

A request is authenticated by HTTP Basic whose password is an API key (the
user name is not checked: sipXcom scripts send their admin's name, and the
key alone says who is asking); ``X-API-Key`` and ``Bearer`` work as on the
REST API. A wrong key counts towards the address's ban like any other.
``findPhone`` needs a viewer key, ``addPhone`` and ``managePhone`` an
operator's. Each request acts in one tenant: the key's, or the server's
only tenant when the key is not limited to one.

Every error is a SOAP 1.1 Fault carrying the REST API's problem (the same
code, title and message, :func:`provisioner.problems.problem_of`), answered
500 as SOAP 1.1 §6.2 and WS-I Basic Profile 1.1 R1126 require; refusals
before the envelope is read keep their HTTP status (401, 405, 413, 415,
429) with the same Fault as body.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from importlib import resources
from typing import Any

from aiohttp import web
from lxml import etree

from provisioner.actor import Actor, ActorKind
from provisioner.api._bodies import MAX_BODY, Problem, bounded_body, problem
from provisioner.api._credentials import presented_key
from provisioner.api._services import Services
from provisioner.api._soap_xml import (
    envelope,
    fault,
    find_phone_response,
    read_add_phone,
    read_find_phone,
    read_manage_phone,
    read_request,
)
from provisioner.apikeys import Role, Verified
from provisioner.edits import Edits
from provisioner.errors import InputError, NotFoundError, ProvisionerError
from provisioner.problems import (
    BANNED,
    FORBIDDEN,
    INTERNAL_ERROR,
    MALFORMED_BODY,
    METHOD_NOT_ALLOWED,
    NO_SUCH_ROUTE,
    UNSUPPORTED_MEDIA_TYPE,
    ProblemInfo,
    problem_of,
)
from provisioner.sipx_phones import add_phone, find_phones, manage_phones
from provisioner.store import Store

__all__ = ["SOAP_PATH", "PhoneService", "soap_tenant", "wsdl"]

SOAP_PATH = "/sipxconfig/services/PhoneService"
_PLACEHOLDER = "https://localhost/sipxconfig/services/PhoneService"
_WSDLSOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
_ROLES = {"AddPhone": Role.OPERATOR, "FindPhone": Role.VIEWER, "ManagePhone": Role.OPERATOR}
_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
_XML_TYPES = ("text/xml", "application/xml")
log = logging.getLogger("provisioner.api")

# (presented key, request, client) → the key, or a Problem (401, counted towards a ban).
Verify = Callable[[str | None, web.BaseRequest, str, dict[str, str], str], Awaitable[Verified]]


@functools.cache
def _shipped_wsdl() -> bytes:
    return resources.files("provisioner.api").joinpath("wsdl/PhoneService.wsdl").read_bytes()


def wsdl(base_url: str) -> bytes:
    """The shipped WSDL with its service address set to ``base_url`` + the service path."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(_shipped_wsdl(), parser)
    for address in root.iter(f"{{{_WSDLSOAP}}}address"):
        if address.get("location") == _PLACEHOLDER:
            address.set("location", base_url + SOAP_PATH)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


class PhoneService:
    """The endpoint: WSDL, authentication, dispatch to :mod:`provisioner.sipx_phones`."""

    def __init__(
        self,
        services: Services,
        verify: Verify,
        banned: Callable[[str], bool],
    ) -> None:
        self.services = services
        self.verify = verify
        self.banned = banned

    async def __call__(
        self, request: web.BaseRequest, client: str, request_id: str
    ) -> tuple[web.StreamResponse, str]:
        """Answer one request to the service path (never raises)."""
        who = "-"
        try:
            if self.banned(client):
                raise Problem(
                    ProblemInfo(BANNED, "this address is banned for repeated failures"),
                    {"Connection": "close"},
                )
            if request.method in ("GET", "HEAD"):
                return self._wsdl(request), who
            if request.method != "POST":
                raise Problem(
                    ProblemInfo(
                        METHOD_NOT_ALLOWED, f"{request.method} is not allowed on {SOAP_PATH}"
                    ),
                    {"Allow": "GET, HEAD, POST"},
                )
            key = await self.verify(
                presented_key(request, basic=True),
                request,
                client,
                {"WWW-Authenticate": _CHALLENGE},
                "HTTP Basic with the key as password (or X-API-Key, Bearer)",
            )
            who = f"{key.name}#{key.id}"
            return await self._call(request, key, request_id), who
        except Problem as exc:
            status = exc.info.code.status if exc.info.code.status in _HTTP_LEVEL else 500
            return _fault_response(exc.info, request_id, status, exc.headers), who
        except ProvisionerError as exc:
            return _fault_response(problem_of(exc), request_id, 500, {}), who
        except Exception:  # logged with its request ID; the client gets no traceback
            log.exception("event=soap_error request_id=%s", request_id)
            info = ProblemInfo(INTERNAL_ERROR, f"internal error; see the server log ({request_id})")
            return _fault_response(info, request_id, 500, {}), who

    def _wsdl(self, request: web.BaseRequest) -> web.Response:
        if {k.lower() for k in request.query} != {"wsdl"}:
            raise Problem(
                ProblemInfo(
                    METHOD_NOT_ALLOWED,
                    "the PhoneService takes SOAP requests by POST; "
                    f"its WSDL is at {SOAP_PATH}?wsdl",
                ),
                {"Allow": "POST"},
            )
        base = f"{'https' if request.secure else 'http'}://{request.host}"
        return web.Response(
            body=wsdl(base), content_type="text/xml", charset="utf-8", headers=_NO_STORE
        )

    async def _call(self, request: web.BaseRequest, key: Verified, request_id: str) -> web.Response:
        if request.content_type not in _XML_TYPES:
            raise problem(
                UNSUPPORTED_MEDIA_TYPE,
                f"a SOAP 1.1 request is text/xml, not {request.content_type or 'none'}",
            )
        raw = await bounded_body(request, MAX_BODY)
        try:
            parsed = read_request(raw)
        except InputError as exc:
            raise problem(MALFORMED_BODY, str(exc)) from None
        role = _ROLES.get(parsed.operation)
        if role is None:
            raise problem(
                NO_SUCH_ROUTE,
                f"the PhoneService has no operation {parsed.operation}; "
                "it has AddPhone, FindPhone and ManagePhone",
            )
        if _RANK[key.role] < _RANK[role]:
            raise problem(
                FORBIDDEN,
                f"{parsed.operation} needs the {role.value} role; "
                f"key {key.name} is {key.role.value}",
            )
        actor = Actor(ActorKind.API, key.name, key.id, request_id)
        edits = self.services.edits.by(actor)
        tenant = await self._run(partial(soap_tenant, self.services.store, key))
        element = parsed.element
        if parsed.operation == "FindPhone":
            search = read_find_phone(element)
            phones = await self._run(lambda: find_phones(self.services.store, tenant, search))
            return _ok(envelope(find_phone_response(phones)))
        if parsed.operation == "AddPhone":
            phone = read_add_phone(element)
            await self._run(lambda: self._add(edits, tenant, phone))
        else:
            manage = read_manage_phone(element)
            await self._run(
                lambda: manage_phones(self.services.store, edits, tenant, manage, time.time())
            )
        if self.services.committed is not None:
            self.services.committed()  # phones get the change now, not at the next poll
        return _ok(envelope())

    def _add(self, edits: Edits, tenant: str, phone: Any) -> None:
        add_phone(self.services.store, edits, tenant, phone)

    async def _run(self, work: Callable[[], Any]) -> Any:
        return await self.services.db.run(work)


def soap_tenant(store: Store, key: Verified) -> str:
    """The tenant a request acts in: the key's, else the server's only one."""
    if key.tenant is not None:
        return key.tenant
    names = store.tenants.names()
    if len(names) == 1:
        return names[0]
    if not names:
        raise NotFoundError("there is no tenant yet; create one first (provisioner tenant add)")
    raise InputError(
        f"key {key.name} is not limited to a tenant and this server has {len(names)}; "
        "a sipXcom PhoneService acts in one SIP domain: use a key limited to the tenant "
        "(provisioner apikey create --tenant NAME)"
    )


_CHALLENGE = 'Basic realm="provisioner", charset="UTF-8"'
_HTTP_LEVEL = frozenset({401, 405, 413, 415, 429})
_NO_STORE = {"Cache-Control": "no-store"}


def _ok(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="text/xml", charset="utf-8", headers=_NO_STORE)


def _fault_response(
    info: ProblemInfo, request_id: str, status: int, headers: dict[str, str]
) -> web.Response:
    response = web.Response(
        status=status,
        body=fault(info, SOAP_PATH, request_id),
        content_type="text/xml",
        charset="utf-8",
        headers={**_NO_STORE, **headers},
    )
    if headers.get("Connection") == "close":
        response.force_close()
    return response

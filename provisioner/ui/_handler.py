"""The web UI's request handling: sessions, CSRF, headers, static files, page dispatch.

Served by the API listener under ``/ui/`` (docs/ui.md). Every answer carries
a strict Content-Security-Policy (our own scripts and stylesheets only, no
inline code, no framing), ``no-store`` and ``nosniff``. A page needs a live
session (:mod:`provisioner.accounts`); without one a GET is sent to the login
page and anything else refused. Every POST must carry the session's CSRF
token (synchronizer token pattern); the login form, having no session yet,
carries a token that must equal its cookie's (double submit). The session
cookie is HttpOnly, SameSite=Strict, and Secure when the request came over
HTTPS. A wrong password counts towards the address's ban as a wrong API key
does, and the account is throttled (:meth:`Accounts.login`).
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlencode

import jinja2
from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from provisioner.accounts import Accounts, LoginRefused, Session
from provisioner.api._app import ApiHandler
from provisioner.api._bodies import Problem
from provisioner.apikeys import Role, at_least
from provisioner.errors import InputError, ProvisionerError
from provisioner.problems import problem_of
from provisioner.serve._front import FrontGateway
from provisioner.serve._model import Protocol
from provisioner.ui._calls import Caller

__all__ = [
    "CSP",
    "PREFIX",
    "Page",
    "UiHandler",
    "link",
    "refusal",
    "see_other",
    "template_environment",
]

log = logging.getLogger("provisioner.ui")
PREFIX = "/ui"
SESSION_COOKIE = "prov_ui"
LOGIN_COOKIE = "prov_ui_login"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
_STATIC = {"ui.css": "text/css", "ui.js": "text/javascript"}
_MAX_FORM = 64 * 1024  # bytes of a form body


@dataclass(slots=True)
class Page:
    """One request to a page: who asks, what, and how to answer."""

    request: web.BaseRequest
    session: Session
    caller: Caller
    params: dict[str, str]
    form: MultiDictProxy[str] | None
    handler: UiHandler
    notes: list[str] = field(default_factory=list)

    def at_least(self, role: Role) -> bool:
        """Whether the account's role is ``role`` or above (what the page offers)."""
        return at_least(self.session.identity.role, role)

    def field(self, name: str) -> str:
        """A form field's value ('' when absent)."""
        return "" if self.form is None else self.form.get(name, "")

    def query(self, name: str) -> str:
        """A query parameter's value ('' when absent)."""
        return self.request.query.get(name, "")

    async def run(self, work: Callable[[], T]) -> T:
        """Blocking service work (accounts, password hashing) on the API's worker thread."""
        return await self.handler._db(work)

    def render(self, template: str, status: int = 200, **values: Any) -> web.Response:
        """A page from its template, with the account and CSRF token every page needs."""
        return self.handler.html(
            template,
            status,
            account=self.session.identity,
            csrf=self.session.csrf,
            can_edit=self.at_least(Role.OPERATOR),
            path=self.request.path,
            **values,
        )


T = TypeVar("T")
PageFunction = Callable[[Page], Awaitable[web.Response]]


def refusal(error: Problem | ProvisionerError) -> tuple[int, list[str]]:
    """A refused write as the API answers it, for a page that shows it beside its form: the
    status, and the detail followed, when several fields are wrong, by each one's message."""
    info = error.info if isinstance(error, Problem) else problem_of(error)
    listed = info.errors if len(info.errors) > 1 else ()
    return info.code.status, [info.detail, *(f"{e.field}: {e.message}" for e in listed)]


def see_other(location: str) -> web.Response:
    """A redirect after a POST (303: the browser follows with GET)."""
    return web.Response(status=303, headers={**_HEADERS, "Location": location})


def link(path: str, **query: object) -> str:
    """A UI URL with query parameters (empty ones left out)."""
    given = {k: v for k, v in query.items() if v not in (None, "")}
    return PREFIX + path + (("?" + urlencode(given)) if given else "")


class UiHandler:
    """Answers ``/ui/…`` on the API listener."""

    def __init__(
        self,
        api: ApiHandler,
        accounts: Accounts,
        gateway: FrontGateway,
        routes: list[tuple[str, str, PageFunction]],
    ) -> None:
        """``api``: the API's request handler, whose routes the pages call."""
        self.api = api
        self.accounts = accounts
        self.gateway = gateway
        self.routes = [
            (method, re.compile(pattern.replace("{", "(?P<").replace("}", ">[^/]+)")), page)
            for method, pattern, page in routes
        ]
        self.templates = template_environment()
        self._static = {
            name: resources.files("provisioner.ui").joinpath("static", name).read_bytes()
            for name in _STATIC
        }

    def html(self, template: str, status: int = 200, **values: Any) -> web.Response:
        """Render a template as an HTML answer with the UI's headers."""
        body = self.templates.get_template(template).render(**values)
        return web.Response(
            status=status, text=body, content_type="text/html", charset="utf-8", headers=_HEADERS
        )

    async def answer(self, request: web.BaseRequest, client: str, request_id: str) -> web.Response:
        """Answer one request under ``/ui``; errors become pages, never tracebacks."""
        try:
            return await self._answer(request, client, request_id)
        except Problem as exc:
            return self._error(exc.info.code.status, exc.info.detail)
        except ProvisionerError as exc:
            info = problem_of(exc)
            return self._error(info.code.status, info.detail)
        except Exception:  # logged with the request ID; the page shows no traceback
            log.exception("event=ui_error request_id=%s path=%s", request_id, request.path)
            return self._error(500, f"internal error; see the server log ({request_id})")

    def _error(self, status: int, message: str) -> web.Response:
        return self.html("error.html", status, message=message, account=None)

    async def _answer(self, request: web.BaseRequest, client: str, request_id: str) -> web.Response:
        path = request.path
        if path.startswith(PREFIX + "/static/") and request.method in ("GET", "HEAD"):
            return self._static_file(path[len(PREFIX) + 8 :])
        if path == PREFIX + "/login":
            return await self._login(request, client)
        token = request.cookies.get(SESSION_COOKIE, "")
        session = await self._db(lambda: self.accounts.session(token))
        if session is None:
            if request.method in ("GET", "HEAD"):
                return see_other(link("/login", next=request.path_qs))
            return self._error(403, "your session has ended: log in again")
        form = None
        if request.method == "POST":
            if request.content_type == "multipart/form-data":
                # An upload, streamed to the API's route unread: its token comes in the
                # form's action URL or the script's header instead of the body.
                form = MultiDictProxy(MultiDict[str]())
                given = request.headers.get("X-CSRF-Token") or request.query.get("csrf")
            else:
                form = await _form(request)
                given = form.get("csrf")
            if not Accounts.csrf_ok(session, given):
                log.warning("event=ui_csrf_refused account=%s path=%s", session.identity.name, path)
                return self._error(403, "the form's security token is missing or stale: reload")
        elif request.method not in ("GET", "HEAD"):
            return self._error(405, f"{request.method} is not allowed here")
        if path == PREFIX + "/logout" and request.method == "POST":
            await self._db(lambda: self.accounts.logout(session))
            response = see_other(link("/login"))
            response.del_cookie(SESSION_COOKIE, path=PREFIX + "/")
            return response
        method = "GET" if request.method == "HEAD" else request.method
        # Matched undecoded, so an encoded slash (a file name, a group) stays in its segment.
        tail = request.rel_url.raw_path[len(PREFIX) :] or "/"
        for wanted, pattern, page in self.routes:
            found = pattern.fullmatch(tail)
            if found is not None and wanted == method:
                caller = Caller(self.api, session.identity, request_id)
                params = {k: unquote(v) for k, v in found.groupdict().items()}
                return await page(Page(request, session, caller, params, form, self))
        return self._error(404, f"no page at {path}")

    async def _db(self, work: Callable[[], T]) -> T:
        """Blocking work (database, password hashing) on the API's worker thread."""
        result: T = await self.api.services.db.run(work)
        return result

    def _static_file(self, name: str) -> web.Response:
        if name not in _STATIC:
            return self._error(404, "no such file")
        headers = {**_HEADERS, "Cache-Control": "no-cache"}
        return web.Response(body=self._static[name], content_type=_STATIC[name], headers=headers)

    async def _login(self, request: web.BaseRequest, client: str) -> web.Response:
        target = _local(request.query.get("next", ""))
        if request.method != "POST":
            token = secrets.token_urlsafe(32)
            response = self.html("login.html", login_csrf=token, next=target, message="", name="")
            self._cookie(response, request, LOGIN_COOKIE, token)
            return response
        form = await _form(request)
        target = _local(form.get("next", ""))
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        given = form.get("csrf", "")
        if not cookie or not hmac.compare_digest(cookie.encode(), given.encode("utf-8", "replace")):
            return self._error(403, "the login form's security token is missing: reload the page")
        name = form.get("name", "")
        password = form.get("password", "")
        outcome = await self._db(lambda: self.accounts.login(name, password))
        if outcome.session is None:
            if outcome.refused is LoginRefused.WRONG:
                protocol = Protocol.HTTPS if request.secure else Protocol.HTTP
                self.gateway.failed(client, protocol, "ui_login_failed")
            log.info("event=ui_login_refused reason=%s client=%s", outcome.refused, client)
            message = "wrong name or password"
            if outcome.refused is LoginRefused.THROTTLED:
                message = (
                    f"too many wrong passwords for this account: try again in "
                    f"{max(1, round(outcome.retry_after))} s"
                )
            return self.html(
                "login.html", 401, login_csrf=cookie, next=target, message=message, name=name
            )
        log.info("event=ui_login account=%s client=%s", name, client)
        response = see_other(target or link("/"))
        self._cookie(response, request, SESSION_COOKIE, outcome.token)
        response.del_cookie(LOGIN_COOKIE, path=PREFIX + "/")
        return response

    @staticmethod
    def _cookie(response: web.Response, request: web.BaseRequest, name: str, value: str) -> None:
        response.set_cookie(
            name,
            value,
            path=PREFIX + "/",
            httponly=True,
            samesite="Strict",
            secure=request.secure,
        )


def _local(target: str) -> str:
    """A ``next`` address only when it is a page of ours (no open redirect)."""
    if target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


async def _form(request: web.BaseRequest) -> MultiDictProxy[str]:
    if request.content_length is not None and request.content_length > _MAX_FORM:
        raise InputError(f"the form is larger than {_MAX_FORM} bytes")
    data = await request.post()
    return MultiDictProxy(MultiDict((k, v) for k, v in data.items() if isinstance(v, str)))


def template_environment() -> jinja2.Environment:
    """The pages' templates: autoescaped, strict about undefined names, with the UI's filters."""
    templates = jinja2.Environment(
        loader=jinja2.PackageLoader("provisioner.ui", "templates"),
        autoescape=True,  # every value is text in HTML unless a template says otherwise
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates.globals["link"] = link
    templates.filters["seg"] = lambda v: quote(str(v), safe="")
    templates.filters["utc"] = _utc
    return templates


def _utc(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(timestamp))

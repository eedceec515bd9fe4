"""The UI's one way to read and write: the admin API's own routes, called in process.

A page asks for ``GET /phones?q=…`` or ``PUT /scopes/…/settings/…`` as an
API client would, with the logged-in account as the caller's identity: the
same route table resolves it, the same role check authorises it, the same
models validate it and the same handlers run it (and so the same service
functions, :mod:`provisioner.edits`, :mod:`provisioner.preview`, …). The
account is an :class:`~provisioner.apikeys.Verified` identity like a key,
so tenant scoping is the API's too; its writes are audited as
``ui:<account name>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import ValidationError

from provisioner.actor import Actor, ActorKind
from provisioner.api._app import ApiHandler
from provisioner.api._bodies import invalid
from provisioner.api._call import Call
from provisioner.api._preview import preview_call
from provisioner.api._routing import PREFIX
from provisioner.apikeys import Verified
from provisioner.problems import INVALID_PARAMETER

__all__ = ["Caller", "segment"]


def segment(value: str) -> str:
    """One path segment, URL-encoded as the API's router expects (a slash included)."""
    return quote(value, safe="")


@dataclass(frozen=True, slots=True)
class Caller:
    """The API's routes as the logged-in account calls them."""

    api: ApiHandler
    identity: Verified
    request_id: str

    def _call(self, method: str, path: str) -> tuple[Call, Any]:
        route, params = self.api.resolve(method, path, method)
        call = Call(
            services=self.api.services,
            key=self.identity,
            actor=Actor(ActorKind.UI, self.identity.name, None, self.request_id),
            params=params,
            dispatcher=self.api,
            masked=True,  # previews on screen mask secrets for every role (docs/ui.md)
        )
        self.api.authorize(call, route, method, PREFIX + path)
        return call, route

    def authorize(self, method: str, path: str) -> None:
        """Refuse (as the API would) a write the account may not make, before any work on it:
        a form that only rearranges a draft calls no route, yet must not serve a viewer."""
        self._call(method, path)

    async def get(self, path: str, **query: object) -> dict[str, Any]:
        """``GET path`` (under the API prefix, segments encoded) with query parameters."""
        call, route = self._call("GET", path)
        given = {k: v for k, v in query.items() if v is not None and v != ""}
        if route.query is not None:
            try:
                call.query = route.query.model_validate(given)
            except ValidationError as exc:
                raise invalid(exc, "query", INVALID_PARAMETER) from None
        reply = await route.handler(call)
        assert reply.body is not None
        answer: dict[str, Any] = reply.body.model_dump(mode="json")
        return answer

    async def write(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        dry_run: bool = False,
        query: dict[str, object] | None = None,
    ) -> dict[str, Any] | None:
        """A write; with ``dry_run``, its preview (:func:`provisioner.preview.run_changes`).

        ``query``: the route's own query parameters (a fleet file's ``dry_run``, which
        its route answers itself); the defaults when not given.
        """
        call, route = self._call(method, path)
        if route.body is not None:
            call.sent = dict(body or {})
            call.body = self.api.validate(route, call.sent)
        if route.query is not None:
            try:
                call.query = route.query.model_validate(query or {})
            except ValidationError as exc:
                raise invalid(exc, "query", INVALID_PARAMETER) from None
        reply = await (preview_call(call, route) if dry_run else route.handler(call))
        committed = self.api.services.committed
        if not dry_run and committed is not None:
            committed()  # phones get the change now, not at the next poll (as the API does)
        return None if reply.body is None else reply.body.model_dump(mode="json")

    async def upload(self, path: str, request: web.BaseRequest, **query: object) -> dict[str, Any]:
        """A streamed ``multipart/form-data`` write (a firmware upload, a CSV import): the
        browser's body goes to the route as it arrives, never read into memory here."""
        call, route = self._call("POST", path)
        if route.form is None:
            raise AssertionError(f"{path} takes no streamed form")
        call.request = request
        if route.query is not None:
            given = {k: v for k, v in query.items() if v is not None and v != ""}
            try:
                call.query = route.query.model_validate(given)
            except ValidationError as exc:
                raise invalid(exc, "query", INVALID_PARAMETER) from None
        reply = await route.handler(call)
        committed = self.api.services.committed
        if committed is not None:
            committed()
        assert reply.body is not None
        answer: dict[str, Any] = reply.body.model_dump(mode="json")
        return answer

"""Preview before commit (``?dry_run=true``) and change sets (``POST /api/v1/changes``).

A change set is a list of operations, each a write the API already offers
(``{"method": "PATCH", "path": "/phones/0004f2123456", "body": {…}}``).
Every operation is routed, authorised and validated as the same request on
its own would be, then all of them run, in order, through their own
handlers inside one transaction (:func:`provisioner.preview.run_changes`):
the handlers read and write through that transaction, so a later operation
sees what an earlier one did, and one refused operation stores nothing.

A dry run of a single write is a change set of one. Either answers what
would happen: the problems (the same documents the real request would
get), and for each phone whose files would change, a unified diff of each
file against what it gets now and against what it last fetched
(:class:`Preview`). Secrets in the diffs are masked unless the key is an
admin's. Only writes of the fleet (tenants, groups, phones, lines,
settings) have previews: other writes (API keys) change no phone's files.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from provisioner.api._bodies import Problem
from provisioner.api._call import Call, Reply
from provisioner.api._routing import PREFIX, Route
from provisioner.api._services import Services
from provisioner.apikeys import Role
from provisioner.edits import Edits, TenantWriter
from provisioner.errors import InputError, ProvisionerError
from provisioner.preview import Outcome, run_changes
from provisioner.problems import problem_of
from provisioner.store import Store

__all__ = [
    "PREVIEW_PARAM",
    "ROUTES",
    "Dispatcher",
    "Preview",
    "preview_call",
    "previewable",
    "with_previews",
]

PREVIEW_PARAM = "dry_run"
MAX_OPERATIONS = 5000
# Writes that change what phones fetch, and so have a preview.
_PREVIEWED = frozenset({"tenants", "groups", "phones", "lines", "settings"})


def previewable(route: Route) -> bool:
    """Whether ``route`` is a write of the fleet (it takes ``?dry_run=true``)."""
    return route.method != "GET" and route.tag in _PREVIEWED


class Dispatcher(Protocol):
    """What runs a change set's operations: the API's request handler."""

    def resolve(self, method: str, path: str, asked: str = "") -> tuple[Route, dict[str, str]]: ...

    def authorize(self, call: Call, route: Route, method: str, path: str) -> None: ...

    def validate(self, route: Route, sent: dict[str, Any]) -> BaseModel: ...


# --- bodies ---------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FieldProblemOut(_Out):
    """One wrong field of a problem."""

    field: str
    message: str


class PreviewProblem(_Out):
    """A problem document (RFC 9457), as the real request would have been answered."""

    type: str
    title: str
    status: int
    code: int
    detail: str
    field: str | None = None
    errors: list[FieldProblemOut] | None = None
    instance: str | None = None
    request_id: str | None = None


class LastFetch(_Out):
    """The phone's latest successful fetch of the file."""

    at: int = Field(description="Unix time")
    protocol: str
    etag: str | None = Field(description="the ETag served then (null: not recorded)")


class FileDiff(_Out):
    """One file of a phone: what would change."""

    name: str
    diff_current: str = Field(description="unified diff from what the phone gets now ('': same)")
    diff_last_fetched: str | None = Field(
        description="unified diff from what the phone last fetched; null when that is not "
        "known (the server keeps only the ETag it served: docs/api.md)"
    )
    last_fetched: LastFetch | None = Field(description="null: never fetched")


class PhoneDiff(_Out):
    """A phone whose files would change."""

    mac: str
    tenant: str
    files: list[FileDiff]


class Preview(_Out):
    """What a write would do, stored nowhere."""

    dry_run: bool
    problems: list[PreviewProblem]
    phones: list[PhoneDiff]
    changes: dict[str, int] = Field(description="rows that would be written, by kind")


class ChangeIn(_In):
    """One operation: a write the API offers, as its own request would be."""

    method: Literal["POST", "PUT", "PATCH", "DELETE"]
    path: str = Field(
        max_length=1024,
        description="under /api/v1, URL-encoded as in a request: /phones/0004f2123456, "
        "/scopes/group:acme%2Fsales/settings/time.zone",
    )
    body: dict[str, JsonValue] | None = None
    if_match: str | None = Field(None, max_length=200, description="as the If-Match header")


class ChangesIn(_In):
    """Operations applied in order, in one transaction."""

    operations: list[ChangeIn] = Field(min_length=1, max_length=MAX_OPERATIONS)


class ChangesQuery(BaseModel):
    """Whether to preview the change set."""

    model_config = ConfigDict(extra="forbid")
    dry_run: bool = Field(False, description="answer what would happen; store nothing")


class OperationResult(_Out):
    """What one operation answered."""

    status: int
    location: str | None = None
    etag: str | None = None


class ChangesOut(Preview):
    """A change set's outcome: its preview, or (applied) each operation's answer."""

    results: list[OperationResult]


# --- running operations -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Operation:
    route: Route
    params: dict[str, str]
    sent: dict[str, Any]
    body: Any
    if_match: str | None
    where: str  # "operations[3]" in a change set, "" for a single request
    path: str


class _SessionStore:
    """The store as a change set's handlers see it: tenants through the open transaction."""

    def __init__(self, store: Store, tenants: TenantWriter) -> None:
        self._store = store
        self.tenants = tenants

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class _Failed(Exception):
    """A refused operation of a real change set, with where it is."""

    def __init__(self, error: ProvisionerError, where: str, path: str) -> None:
        self.error, self.where, self.path = error, where, path


async def _each(
    inner: Services, call: Call, edits: Edits, ops: list[_Operation], failed: list[_Operation]
) -> list[OperationResult]:
    results = []
    for op in ops:
        sub = Call(
            services=inner,
            key=call.key,
            actor=edits.actor,
            params=op.params,
            body=op.body,
            sent=op.sent,
            if_match=op.if_match,
            inline=True,
        )
        failed[:] = [op]
        reply = await op.route.handler(sub)
        status = reply.status if reply.body is not None else 204
        results.append(OperationResult(status=status, location=reply.location, etag=reply.etag))
    failed.clear()
    return results


async def _run(call: Call, ops: list[_Operation], *, dry_run: bool) -> Outcome:
    """Run ``ops`` through their handlers in one transaction (worker thread), or preview them."""
    services = call.services
    failed: list[_Operation] = []

    def operations(edits: Edits) -> list[OperationResult]:
        store = cast(Store, _SessionStore(services.store, edits.tenant_writer))
        inner = Services(store, services.catalog, edits, services.keys, services.db)
        # The handlers are coroutines; here they run to the end on this thread,
        # their blocking work inline (Call.inline), inside the transaction.
        return asyncio.run(_each(inner, call, edits, ops, failed))

    try:
        outcome = await call.run(
            lambda: run_changes(
                services.store,
                services.edits.by(call.actor),
                operations,
                dry_run=dry_run,
                reveal_secrets=call.reveals_secrets(),
            )
        )
    except ProvisionerError as exc:
        if failed and failed[0].where:
            raise _Failed(exc, failed[0].where, failed[0].path) from None
        raise
    if outcome.problems and failed:
        outcome.problems = [_Located(e, failed[0].where) for e in outcome.problems]
    return outcome


class _Located(ProvisionerError):
    """A previewed operation's problem, with where it is in the change set."""

    def __init__(self, error: ProvisionerError, where: str) -> None:
        super().__init__(str(error))
        self.error, self.where = error, where


def _document(error: ProvisionerError, call: Call, path: str) -> PreviewProblem:
    where = error.where if isinstance(error, _Located) else ""
    info = problem_of(error.error if isinstance(error, _Located) else error)
    if where:
        field = f"{where}.{info.field}" if info.field else where
        info = replace(info, field=field, detail=f"{where}: {info.detail}")
    return PreviewProblem.model_validate(info.document(path, call.actor.request_id))


def _preview(outcome: Outcome, call: Call, path: str) -> dict[str, Any]:
    phones = [
        PhoneDiff(
            mac=phone.mac,
            tenant=phone.tenant,
            files=[
                FileDiff(
                    name=f.name,
                    diff_current=f.diff_current,
                    diff_last_fetched=f.diff_last_fetched,
                    last_fetched=None
                    if f.last_fetched is None
                    else LastFetch(
                        at=f.last_fetched.at,
                        protocol=f.last_fetched.protocol,
                        etag=f.last_fetched.etag or None,
                    ),
                )
                for f in phone.files
            ],
        )
        for phone in outcome.phones
    ]
    return {
        "dry_run": True,
        "problems": [_document(e, call, path) for e in outcome.problems],
        "phones": phones,
        "changes": dict(outcome.changes),
    }


async def preview_call(call: Call, route: Route) -> Reply:
    """The preview of one write request (``?dry_run=true``): nothing is stored."""
    path = PREFIX + route.path
    op = _Operation(route, call.params, call.sent, call.body, call.if_match, "", path)
    outcome = await _run(call, [op], dry_run=True)
    return Reply(Preview.model_validate(_preview(outcome, call, path)))


async def apply_changes(call: Call) -> Reply:
    """Apply several writes in one transaction (all or nothing), or preview them."""
    assert call.dispatcher is not None
    body: ChangesIn = call.body
    ops = []
    for index, given in enumerate(body.operations):
        where = f"operations[{index}]"
        try:
            ops.append(_prepare(call, call.dispatcher, given, where))
        except ProvisionerError as exc:
            raise _located_error(_Failed(exc, where, given.path)) from None
        except Exception as exc:  # the API's own problems (no such route, role, body)
            raise _relocated(exc, where) from None
    dry_run = bool(call.query.dry_run)
    try:
        outcome = await _run(call, ops, dry_run=dry_run)
    except _Failed as failed:
        raise _located_error(failed) from None
    if dry_run:
        return Reply(ChangesOut(**_preview(outcome, call, PREFIX + "/changes"), results=[]))
    results = cast(list[OperationResult], outcome.value)
    return Reply(
        ChangesOut(
            dry_run=False, problems=[], phones=[], changes=dict(outcome.changes), results=results
        )
    )


def _prepare(call: Call, dispatcher: Dispatcher, given: ChangeIn, where: str) -> _Operation:
    """An operation routed, authorised and its body validated, as its own request would be."""
    path = given.path.removeprefix(PREFIX)
    route, params = dispatcher.resolve(given.method, path.split("?", 1)[0])
    if not previewable(route):
        raise InputError(f"{where}: {given.method} {given.path} cannot be part of a change set")
    dispatcher.authorize(call, route, given.method, given.path)
    sent: dict[str, Any] = copy.deepcopy(given.body) if given.body is not None else {}
    parsed = None
    if route.body is not None:
        if given.body is None:
            raise InputError(f"{where}: {given.method} {given.path} needs a body")
        parsed = dispatcher.validate(route, sent)
    elif given.body is not None:
        raise InputError(f"{where}: {given.method} {given.path} takes no body")
    return _Operation(route, params, sent, parsed, given.if_match, where, PREFIX + path)


def _relocated(exc: Exception, where: str) -> Exception:
    """An API problem raised while preparing an operation, naming the operation."""
    if not isinstance(exc, Problem):
        return exc
    info = exc.info
    field = f"{where}.{info.field}" if info.field else where
    return Problem(replace(info, field=field, detail=f"{where}: {info.detail}"), exc.headers)


def _located_error(failed: _Failed) -> Exception:
    """A refused operation's error as the API answers it, naming the operation."""
    info = problem_of(failed.error)
    field = f"{failed.where}.{info.field}" if info.field else failed.where
    return Problem(replace(info, field=field, detail=f"{failed.where}: {info.detail}"))


# --- the OpenAPI document ---------------------------------------------------------


def with_previews(document: dict[str, Any], routes: list[Route]) -> dict[str, Any]:
    """``document`` with ``dry_run`` and its answer on every previewable write."""
    schema = Preview.model_json_schema(
        ref_template="#/components/schemas/{model}", mode="serialization"
    )
    schemas = document["components"]["schemas"]
    schemas.update(schema.pop("$defs", {}))
    schemas.setdefault("Preview", schema)
    ref = {"$ref": "#/components/schemas/Preview"}
    for route in routes:
        if not previewable(route):
            continue
        op = document["paths"][PREFIX + route.path][route.method.lower()]
        op.setdefault("parameters", []).append(
            {
                "name": PREVIEW_PARAM,
                "in": "query",
                "required": False,
                "schema": {"type": "boolean", "default": False},
                "description": "answer what the write would do (a Preview), store nothing",
            }
        )
        ok = op["responses"].get("200")
        if ok is None:
            op["responses"]["200"] = {
                "description": "the preview (dry_run=true)",
                "content": {"application/json": {"schema": ref}},
            }
        else:
            content = ok["content"]["application/json"]
            content["schema"] = {"anyOf": [content["schema"], ref]}
            ok["description"] += "; with dry_run=true, the preview"
    return document


ROUTES = [
    Route(
        "POST",
        "/changes",
        apply_changes,
        "Apply several writes at once, or preview them",
        "changes",
        Role.OPERATOR,
        body=ChangesIn,
        query=ChangesQuery,
        answer=ChangesOut,
        description="Each operation is a write of tenants, groups, phones, lines or settings "
        "(method, path, body, if_match), checked as its own request would be; all are applied "
        "in order in one transaction, or none. With dry_run=true nothing is stored and the "
        "answer is the preview.",
    ),
]

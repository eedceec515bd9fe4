"""Problems raised while reading a request, and the JSON bodies and models they guard.

The request handler (:mod:`provisioner.api._app`) and the routes that read
their own body (the streamed firmware upload, :mod:`provisioner.api._firmware`)
share these: one :class:`Problem` to raise from anywhere in a request, one
way to turn a pydantic validation error into a problem naming every wrong
field, and one bounded JSON body reader.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from provisioner.problems import (
    BODY_TOO_LARGE,
    MALFORMED_BODY,
    UNSUPPORTED_MEDIA_TYPE,
    VALIDATION_FAILED,
    Code,
    FieldProblem,
    ProblemInfo,
)

__all__ = [
    "MAX_BODY",
    "MAX_DEPTH",
    "Problem",
    "bounded_body",
    "field_problems",
    "invalid",
    "json_body",
    "problem",
    "validated",
]

MAX_BODY = 1 << 20  # bytes of a JSON request body (a route may allow more: Route.max_body)
MAX_DEPTH = 32  # nesting of a JSON body (a phone with lines and settings needs 4)
_JSON_TYPES = ("application/json", "application/merge-patch+json")


class Problem(Exception):
    """An answer with a problem document, raised from anywhere in a request."""

    def __init__(self, info: ProblemInfo, headers: dict[str, str] | None = None) -> None:
        super().__init__(info.detail)
        self.info = info
        self.headers = headers or {}


def problem(code: Code, detail: str, field: str | None = None, *, close: bool = False) -> Problem:
    """A problem with ``code``; ``close`` ends the connection (its body was not read to the end)."""
    return Problem(ProblemInfo(code, detail, field), {"Connection": "close"} if close else None)


def field_problems(exc: ValidationError, root: str) -> tuple[FieldProblem, ...]:
    """Each wrong field of ``exc``, its path under ``root`` (``body.lines[0].user``)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        path = root
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        problems.append(FieldProblem(path, error["msg"]))
    return tuple(problems)


def invalid(exc: ValidationError, root: str, code: Code) -> Problem:
    """The problem of a failed validation: the first wrong field named, all of them listed."""
    problems = field_problems(exc, root)
    first = f"{problems[0].field}: {problems[0].message}"
    summary = first if len(problems) == 1 else f"{len(problems)} problems, first {first}"
    return Problem(ProblemInfo(code, summary, problems[0].field, problems))


def validated(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """``data`` as ``model``, or a 422 problem naming each wrong field of the body."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc, "body", VALIDATION_FAILED) from None


async def json_body(request: web.BaseRequest, limit: int = MAX_BODY) -> dict[str, Any]:
    """The body as a JSON object, within ``limit`` bytes and :data:`MAX_DEPTH` levels."""
    if request.content_type not in _JSON_TYPES:
        raise problem(
            UNSUPPORTED_MEDIA_TYPE,
            f"the body must be application/json, not {request.content_type or 'none'}",
        )
    raw = await bounded_body(request, limit)
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise problem(MALFORMED_BODY, "the body is not UTF-8") from None
    except RecursionError:
        raise problem(MALFORMED_BODY, f"the body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise problem(MALFORMED_BODY, f"the body is not JSON: {exc}") from None
    if _depth(data) > MAX_DEPTH:
        raise problem(MALFORMED_BODY, f"the body nests deeper than {MAX_DEPTH} levels")
    if not isinstance(data, dict):
        raise problem(MALFORMED_BODY, "the body must be a JSON object", "body")
    return data


async def bounded_body(request: web.BaseRequest, limit: int = MAX_BODY) -> bytes:
    """The whole body, or a 413 problem as soon as it is known to pass ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before anything
    is read; a chunked body is refused at the chunk that crosses it. Either
    way the connection is closed (the rest of the body is never read).
    """
    too_large = f"the body is over the limit of {limit} bytes for {request.path}"
    if request.content_length is not None and request.content_length > limit:
        raise problem(BODY_TOO_LARGE, too_large, close=True)
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise problem(BODY_TOO_LARGE, too_large, close=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _depth(value: object) -> int:
    """How deeply ``value`` nests (iteratively: a hostile body cannot exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest

"""What went wrong, for people and programs: the one mapping from errors to problems.

Every error an admin can cause is a :class:`provisioner.errors.ProvisionerError`
whose message names what was wrong. :func:`problem_of` turns one into a
:class:`ProblemInfo`: the HTTP status and stable numeric code the admin API
answers with (an RFC 9457 problem document), and the exit status the command
line uses. The command line prints the same ``detail`` the API returns, so
both say the same thing in the same words. The table of codes is
:data:`CODES` (documented in docs/api.md); codes never change meaning.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from provisioner.errors import (
    CatalogError,
    ConflictError,
    EncodingError,
    InputError,
    NotFoundError,
    PreconditionFailed,
    ProvisionerError,
    ValidationFailed,
)

__all__ = ["CODES", "Code", "FieldProblem", "ProblemInfo", "problem_of"]


@dataclass(frozen=True, slots=True)
class Code:
    """One entry of the table: code, HTTP status, short title."""

    code: int
    status: int
    title: str


# The stable codes. 10xx: the request's content; 11xx: the request itself;
# 12xx: who is asking; 19xx: the server.
INVALID_VALUE = Code(1001, 422, "Invalid value")
NOT_UTF8 = Code(1002, 400, "Input is not UTF-8")
VALIDATION_FAILED = Code(1003, 422, "Validation failed")
NOT_FOUND = Code(1004, 404, "Not found")
CONFLICT = Code(1005, 409, "Conflict")
PRECONDITION_FAILED = Code(1006, 412, "Precondition failed")
MALFORMED_BODY = Code(1101, 400, "Malformed request body")
BODY_TOO_LARGE = Code(1102, 413, "Request body too large")
UNSUPPORTED_MEDIA_TYPE = Code(1103, 415, "Unsupported media type")
INVALID_PARAMETER = Code(1104, 400, "Invalid parameter")
NO_SUCH_ROUTE = Code(1105, 404, "No such resource")
METHOD_NOT_ALLOWED = Code(1106, 405, "Method not allowed")
NOT_ACCEPTABLE = Code(1107, 406, "Not acceptable")
UNAUTHENTICATED = Code(1201, 401, "Authentication required")
FORBIDDEN = Code(1202, 403, "Forbidden")
BANNED = Code(1203, 429, "Too many failures")
CATALOG_ERROR = Code(1901, 500, "Catalog error")
INTERNAL_ERROR = Code(1999, 500, "Internal error")

CODES: tuple[Code, ...] = (
    INVALID_VALUE,
    NOT_UTF8,
    VALIDATION_FAILED,
    NOT_FOUND,
    CONFLICT,
    PRECONDITION_FAILED,
    MALFORMED_BODY,
    BODY_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    INVALID_PARAMETER,
    NO_SUCH_ROUTE,
    METHOD_NOT_ALLOWED,
    NOT_ACCEPTABLE,
    UNAUTHENTICATED,
    FORBIDDEN,
    BANNED,
    CATALOG_ERROR,
    INTERNAL_ERROR,
)

# Exit statuses of the command line.
EXIT_ERROR = 1
EXIT_USAGE = 2  # as argparse's own usage errors


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One problem with one field: ``field`` is a path such as ``body.lines[0].user``."""

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class ProblemInfo:
    """What an error means to the API and the command line."""

    code: Code
    detail: str
    field: str | None = None
    errors: tuple[FieldProblem, ...] = dataclasses.field(default_factory=tuple)

    @property
    def exit_status(self) -> int:
        """The command line's exit status for it."""
        return EXIT_USAGE if self.code is NOT_UTF8 else EXIT_ERROR

    def document(self, instance: str = "", request_id: str = "") -> dict[str, object]:
        """The RFC 9457 problem document (``application/problem+json``)."""
        doc: dict[str, object] = {
            "type": f"urn:provisioner:problem:{self.code.code}",
            "title": self.code.title,
            "status": self.code.status,
            "code": self.code.code,
            "detail": self.detail,
        }
        if self.field is not None:
            doc["field"] = self.field
        if self.errors:
            doc["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        if instance:
            doc["instance"] = instance
        if request_id:
            doc["request_id"] = request_id
        return doc


def problem_of(exc: ProvisionerError) -> ProblemInfo:
    """The problem an error stands for (the most specific class decides)."""
    if isinstance(exc, ValidationFailed):
        errors = tuple(FieldProblem(p.location, p.message) for p in exc.problems)
        first = errors[0].field if errors and errors[0].field else None
        return ProblemInfo(VALIDATION_FAILED, str(exc), first, errors)
    for kind, code in (
        (EncodingError, NOT_UTF8),
        (InputError, INVALID_VALUE),
        (NotFoundError, NOT_FOUND),
        (PreconditionFailed, PRECONDITION_FAILED),
        (ConflictError, CONFLICT),
        (CatalogError, CATALOG_ERROR),
    ):
        if isinstance(exc, kind):
            return ProblemInfo(code, str(exc))
    return ProblemInfo(INVALID_VALUE, str(exc))

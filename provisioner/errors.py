"""Error types shared across the package.

Every error an admin can cause carries a message meant to be printed as is:
it names what was wrong, where, and what would have been accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CatalogError",
    "ConflictError",
    "InputError",
    "NotFoundError",
    "Problem",
    "ProvisionerError",
    "ValidationFailed",
]


class ProvisionerError(Exception):
    """Base class: an error with a message fit for the admin."""


class InputError(ProvisionerError):
    """A single value given by the admin is malformed or not allowed."""


class NotFoundError(ProvisionerError):
    """A named tenant, group, phone, line or setting does not exist."""


class ConflictError(ProvisionerError):
    """The request contradicts stored state (duplicate, lock, membership)."""


class CatalogError(ProvisionerError):
    """A family definition or template directory is inconsistent."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found while validating a document, with its location.

    ``location`` is a path into the document such as ``phones[2].lines[0].password``.
    """

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ValidationFailed(ProvisionerError):
    """A document (fleet file, request body) had one or more problems.

    Nothing was changed. ``problems`` lists every problem found, in document order.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''}:\n{lines}")

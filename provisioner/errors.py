"""Error types shared across the package.

Every error an admin can cause carries a message meant to be printed as is:
it names what was wrong, where, and what would have been accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CatalogError",
    "ConflictError",
    "EncodingError",
    "InputError",
    "NotFoundError",
    "PreconditionFailed",
    "Problem",
    "ProvisionerError",
    "UsageError",
    "ValidationFailed",
]


class ProvisionerError(Exception):
    """Base class: an error with a message fit for the admin."""


class InputError(ProvisionerError):
    """A single value given by the admin is malformed or not allowed."""


class UsageError(InputError):
    """The command line or a configuration file is wrong: a value out of range, a file missing.

    The command exits with status 2, as argparse does for a malformed option,
    before anything is looked up, stored or served; runtime failures (a port
    in use, a database that cannot be reached) exit with status 1.
    """


class EncodingError(UsageError):
    """Input is not valid UTF-8 text: a command-line argument, standard input or a file.

    A usage error (the command line exits with status 2, as for a malformed
    option), found before anything is looked up or stored.
    """


class NotFoundError(ProvisionerError):
    """A named tenant, group, phone, line or setting does not exist."""


class ConflictError(ProvisionerError):
    """The request contradicts stored state (duplicate, lock, membership)."""


class PreconditionFailed(ConflictError):
    """The entity changed since the caller read it (an API ``If-Match`` that no longer holds)."""


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

    Nothing was changed. ``problems`` lists every problem found, in document
    order. The message is the problem itself when there is one, so it prints
    as one line.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        if len(problems) == 1:
            super().__init__(str(problems[0]))
            return
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{len(problems)} problems:\n{lines}")

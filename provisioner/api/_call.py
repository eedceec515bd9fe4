"""What a handler gets (a :class:`Call`) and gives back (a :class:`Reply`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from provisioner.actor import Actor
from provisioner.apikeys import Role, Verified, at_least
from provisioner.edits import Edits
from provisioner.errors import NotFoundError

if TYPE_CHECKING:
    from provisioner.api._preview import Dispatcher
    from provisioner.api._services import Services

__all__ = ["Call", "Reply"]

T = TypeVar("T")


@dataclass(slots=True)
class Reply:
    """A handler's answer: a model (``None``: 204), status, ETag, Location.

    ``raw`` answers a file instead of a model (its route's ``media`` type),
    with ``filename`` as its Content-Disposition.
    """

    body: BaseModel | None = None
    status: int = 200
    etag: str | None = None
    location: str | None = None
    raw: bytes | None = None
    filename: str | None = None


@dataclass(slots=True)
class Call:
    """One authenticated request, parsed and checked against its route."""

    services: Services
    key: Verified
    actor: Actor
    params: dict[str, str]
    query: Any = None  # the route's query model, validated
    body: Any = None  # the route's body model, validated
    sent: dict[str, Any] = field(default_factory=dict)  # the body as sent (PATCH: which keys)
    if_match: str | None = None
    request: web.BaseRequest | None = None  # only for a route that streams its body (``form``)
    # What runs the operations of a change set (the API's request handler).
    dispatcher: Dispatcher | None = None
    # An operation of a change set already runs on the worker thread, in its transaction.
    inline: bool = False
    # Previews mask secrets whatever the role (the web UI: a screen is read over shoulders).
    masked: bool = False

    async def run(self, work: Callable[[], T]) -> T:
        """Run blocking work (database, rendering) on the API's worker thread."""
        if self.inline:
            return work()
        return await self.services.db.run(work)

    @property
    def edits(self) -> Edits:
        """Edits by this call's actor."""
        return self.services.edits.by(self.actor)

    def at_least(self, role: Role) -> bool:
        """Whether the key's role is ``role`` or above."""
        return at_least(self.key.role, role)

    def reveals_secrets(self) -> bool:
        """Whether a preview's diffs show secret values: to an admin's key, unless masked."""
        return self.at_least(Role.ADMIN) and not self.masked

    def sees(self, tenant: str) -> bool:
        """Whether the key may see ``tenant`` (a tenant-scoped key sees only its own)."""
        return self.key.tenant is None or self.key.tenant == tenant

    def own(self, tenant: str, missing: str) -> None:
        """Refuse a tenant the key may not see exactly as if it did not exist."""
        if not self.sees(tenant):
            raise NotFoundError(missing)

    def expect(self) -> str | None:
        """The version ``If-Match`` names (quotes and ``W/`` removed), or ``None``."""
        if self.if_match is None:
            return None
        tag = self.if_match.strip()
        if tag == "*":
            return None
        if tag.startswith("W/"):
            tag = tag[2:]
        return tag.strip('"')


def etag(version: str) -> str:
    """An ETag header value for a version."""
    return f'"{version}"'

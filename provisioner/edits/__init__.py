"""Single edits of the fleet: add a phone, rename a group, set a setting, and the rest.

Each edit is a small change to a tenant's state handed to the store's one
write path (:meth:`provisioner.store.TenantRepository.change`), which
validates the result and writes the difference in one transaction. The
command line and the admin API call these: the rules of an edit (a phone's
MAC is unique, only tenants and groups lock, a new line takes the first free
position) live here once, one class per kind of entity:
``edits.tenants``, ``.groups``, ``.phones``, ``.lines`` and ``.settings``.

Every edit is made by an :class:`~provisioner.actor.Actor` and recorded in
the audit log in the same transaction (the entity before and after, secrets
redacted). ``expect`` (the API's ``If-Match``) is the version of the entity
the caller last read (:class:`provisioner.entities.Versions`): when the
stored one differs, nothing is written and :class:`PreconditionFailed` is
raised. An actor's ``dry_run`` runs the edit and rolls it back
(:mod:`provisioner.edits._writer`).
"""

from __future__ import annotations

from provisioner.actor import Actor
from provisioner.catalog import Catalog
from provisioner.edits._groups import GroupEdits
from provisioner.edits._lines import LineEdits
from provisioner.edits._phones import PhoneEdits
from provisioner.edits._settings import SettingEdits
from provisioner.edits._tenants import TenantEdits
from provisioner.edits._writer import LINE_FIELDS, EditWriter, TenantWriter
from provisioner.entities import Versions
from provisioner.store import Store

__all__ = [
    "LINE_FIELDS",
    "Edits",
    "GroupEdits",
    "LineEdits",
    "PhoneEdits",
    "SettingEdits",
    "TenantEdits",
    "TenantWriter",
]


class Edits:
    """Single edits by one actor, by kind of entity."""

    def __init__(self, tenants: TenantWriter, catalog: Catalog, actor: Actor | None = None) -> None:
        """Edits by ``actor`` (default: the command line, as the OS user)."""
        self._use(EditWriter(tenants, catalog, actor if actor is not None else Actor.cli()))

    def _use(self, writer: EditWriter) -> None:
        self._writer = writer
        self.tenants = TenantEdits(writer)
        self.groups = GroupEdits(writer)
        self.phones = PhoneEdits(writer)
        self.lines = LineEdits(writer)
        self.settings = SettingEdits(writer)

    @classmethod
    def of(cls, store: Store, actor: Actor | None = None) -> Edits:
        """Edits by ``actor`` through ``store``'s tenants (and the catalog they validate with)."""
        return cls(store.tenants, store.tenants.catalog, actor)

    def by(self, actor: Actor) -> Edits:
        """The same edits made by another actor (one per API request)."""
        edits = Edits.__new__(Edits)
        edits._use(self._writer.by(actor))
        return edits

    @property
    def tenant_writer(self) -> TenantWriter:
        """What these edits write through (the store's tenants, or one open session)."""
        return self._writer.tenants

    @property
    def actor(self) -> Actor:
        """Who makes these edits (what the audit log records)."""
        return self._writer.actor

    @property
    def versions(self) -> Versions:
        """Versions of entities (the API's ETags)."""
        return self._writer.versions

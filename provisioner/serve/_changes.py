"""What a cache refresh changed, as plain data for the server to act on.

The cache never calls up: after a refresh has installed the new state it
puts one :class:`Refreshed` on its ``changes`` queue, and the server's
coordinator (``Server._coordinate``) takes it from there (check-sync jobs
for ``notify.on_change``). Whoever started the refresh — the poll,
the job runner before a send, an auto-registration — the changes reach the
coordinator the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.serve._model import TenantPolicy

__all__ = ["Refreshed", "TenantChange"]


@dataclass(frozen=True, slots=True)
class TenantChange:
    """One tenant re-rendered (or removed), after its new state was installed."""

    tenant_id: int
    policy: TenantPolicy | None  # None: the tenant is gone
    # Phones served before and after whose files differ (by ETag). Phones
    # that appear (new, or enabled again) or disappear are not listed: they
    # have no earlier files to resync against.
    changed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Refreshed:
    """Everything one refresh changed."""

    tenants: tuple[TenantChange, ...]
    catalog_reloaded: bool

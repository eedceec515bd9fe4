"""How long a job waits before its first NOTIFY: tenant policy, read through the resolver."""

from __future__ import annotations

from provisioner.catalog import Catalog
from provisioner.domain import Snapshot
from provisioner.resolve import Resolver
from provisioner.settings import as_int

__all__ = ["notify_delay"]


def notify_delay(catalog: Catalog, heads: Snapshot) -> int:
    """Seconds a job for phones of the tenants in ``heads`` waits before its first NOTIFY.

    The longest ``notify.delay_seconds`` among them (default, platform preset
    or tenant value, as :meth:`Resolver.tenant_settings` resolves it), so
    every tenant's files are in place; 0 for none. ``heads`` needs only the
    tenants and their own settings (:meth:`TenantRepository.heads`).
    """
    resolver = Resolver(catalog, heads)
    return max(
        (
            as_int(resolver.tenant_settings(tenant)["notify.delay_seconds"])
            for tenant in heads.tenants.values()
        ),
        default=0,
    )

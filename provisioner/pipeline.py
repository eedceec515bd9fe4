"""The one-way pipeline: snapshot → resolution → rendering, for every front end.

The ``render`` command and the server's cache both call it and never reach
into the store or the templates themselves. They differ only in what a
failing phone does to the rest (:class:`ErrorPolicy`):

* ``render`` writes a tree other servers serve: half a tree is worse than
  the old one, so any failure writes nothing (``ALL_OR_NOTHING``);
* the cache answers phones: a tenant in which any phone fails keeps serving
  what it had, and the error is logged and counted (``KEEP_LAST_GOOD``,
  applied per tenant by :mod:`provisioner.serve._cache` from
  :func:`render_tenants`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from provisioner.catalog import Catalog
from provisioner.domain import Snapshot, Tenant
from provisioner.phone_warnings import phone_warnings
from provisioner.render import RenderedFile, Renderer, RenderError
from provisioner.resolve import PhoneView, Resolver
from provisioner.settings import Value

__all__ = [
    "ErrorPolicy",
    "RenderResult",
    "TenantRender",
    "render_snapshot",
    "render_tenants",
    "view_warnings",
]

T = TypeVar("T")


class ErrorPolicy(StrEnum):
    """What a phone whose templates fail does to the others."""

    ALL_OR_NOTHING = "all-or-nothing"  # no phone's files at all
    KEEP_LAST_GOOD = "keep-last-good"  # its tenant keeps its previous files


@dataclass(slots=True)
class TenantRender(Generic[T]):
    """One tenant's resolved settings, what its rendered phones were built into, what failed."""

    tenant: Tenant
    settings: dict[str, Value]  # the tenant's resolved settings (tenant layer)
    phones: list[T] = field(default_factory=list)
    errors: list[RenderError] = field(default_factory=list)
    failed: dict[str, list[str]] = field(default_factory=dict)  # MAC → paths it would have had


@dataclass(slots=True)
class RenderResult:
    """Rendered files by phone MAC, the shared files, and every error."""

    phones: dict[str, list[RenderedFile]] = field(default_factory=dict)
    shared: list[RenderedFile] = field(default_factory=list)
    errors: list[RenderError] = field(default_factory=list)
    failed: dict[str, list[str]] = field(default_factory=dict)  # MAC → paths it would have had
    warnings: dict[str, list[str]] = field(default_factory=dict)  # MAC → phone_warnings, if any

    def files(self) -> list[RenderedFile]:
        """Every rendered file: shared ones first, then by MAC."""
        result = list(self.shared)
        for mac in sorted(self.phones):
            result.extend(self.phones[mac])
        return result


def render_tenants(
    catalog: Catalog,
    snapshot: Snapshot,
    build: Callable[[PhoneView, list[RenderedFile]], T],
    *,
    renderer: Renderer | None = None,
    macs: Collection[str] | None = None,
    keep: Callable[[PhoneView], bool] | None = None,
) -> dict[int, TenantRender[T]]:
    """Render the enabled phones of ``snapshot`` (only ``macs`` when given), by tenant id.

    ``keep``, when given, sees each phone resolved and decides whether it is
    rendered: resolution costs far less than rendering, so a caller that can
    tell from the resolved inputs that a phone's files cannot have changed
    (the server's cache, :mod:`provisioner.serve._directory_reads`) skips it.
    Each rendered phone is handed to ``build`` at once and only what it
    returns is kept, so a large tenant never holds every phone's resolved
    view at the same time. Every tenant of the snapshot has an entry, phones
    or not. A phone whose templates fail is in its tenant's ``errors`` and
    ``failed``; the others are rendered regardless: the policy is the caller's.
    """
    renderer = renderer or Renderer(catalog)
    resolver = Resolver(catalog, snapshot)
    tenants: dict[int, TenantRender[T]] = {
        tenant.id: TenantRender(tenant, resolver.tenant_settings(tenant))
        for tenant in snapshot.tenants.values()
    }
    phones = sorted(snapshot.phones.values(), key=lambda p: p.mac)
    views = (resolver.phone(p) for p in phones if p.enabled and (macs is None or p.mac in macs))
    if keep is not None:
        views = (view for view in views if keep(view))
    for view, outcome in renderer.render_phones(views):
        entry = tenants[view.phone.tenant_id]
        if isinstance(outcome, list):
            entry.phones.append(build(view, outcome))
        else:
            entry.errors.append(outcome)
            entry.failed[view.phone.mac] = renderer.phone_paths(view)
    return tenants


def render_snapshot(
    catalog: Catalog,
    snapshot: Snapshot,
    *,
    renderer: Renderer | None = None,
    shared: bool = True,
    macs: Collection[str] | None = None,
    policy: ErrorPolicy = ErrorPolicy.KEEP_LAST_GOOD,
) -> RenderResult:
    """Render the whole snapshot into one result (the ``render`` command, golden files).

    With ``KEEP_LAST_GOOD`` the phones that rendered are in ``phones`` and
    the failed ones in ``failed``, for a writer that keeps their previous
    files; with ``ALL_OR_NOTHING`` any error leaves ``phones`` and
    ``shared`` empty.
    """
    renderer = renderer or Renderer(catalog)
    result = RenderResult()
    if shared:
        result.shared, result.errors = renderer.shared_files()
    renders = render_tenants(
        catalog,
        snapshot,
        lambda view, files: (view.phone.mac, files, view_warnings(view)),
        renderer=renderer,
        macs=macs,
    )
    for tenant in renders.values():
        for mac, files, warnings in tenant.phones:
            result.phones[mac] = files
            if warnings:
                result.warnings[mac] = warnings
        result.errors.extend(tenant.errors)
        result.failed.update(tenant.failed)
    if policy is ErrorPolicy.ALL_OR_NOTHING and result.errors:
        result.phones, result.shared = {}, []
    return result


def view_warnings(view: PhoneView) -> list[str]:
    """What :func:`provisioner.phone_warnings.phone_warnings` says about a resolved phone."""
    if not view.family.warnings:
        return []
    return phone_warnings(view.family, {name: r.value for name, r in view.settings.items()})

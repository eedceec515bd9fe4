"""The one-way pipeline: snapshot → resolution → rendering.

Front ends (the ``render`` command today, the HTTP/TFTP/FTP cache later) call
:func:`render_snapshot` and never reach into the store or templates
themselves.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from provisioner.catalog import Catalog
from provisioner.domain import Snapshot
from provisioner.render import RenderedFile, Renderer, RenderError
from provisioner.resolve import Resolver

__all__ = ["RenderResult", "render_snapshot"]


@dataclass(slots=True)
class RenderResult:
    """Rendered files by phone MAC, the shared files, and every error."""

    phones: dict[str, list[RenderedFile]] = field(default_factory=dict)
    shared: list[RenderedFile] = field(default_factory=list)
    errors: list[RenderError] = field(default_factory=list)
    failed: dict[str, list[str]] = field(default_factory=dict)  # MAC → paths it would have had

    def files(self) -> list[RenderedFile]:
        """Every rendered file: shared ones first, then by MAC."""
        result = list(self.shared)
        for mac in sorted(self.phones):
            result.extend(self.phones[mac])
        return result


def render_snapshot(
    catalog: Catalog,
    snapshot: Snapshot,
    *,
    renderer: Renderer | None = None,
    shared: bool = True,
    macs: Collection[str] | None = None,
) -> RenderResult:
    """Render the enabled phones of ``snapshot`` (only ``macs`` when given).

    A phone whose templates fail is reported in ``errors`` and ``failed`` and
    the others are rendered regardless.
    """
    renderer = renderer or Renderer(catalog)
    resolver = Resolver(catalog, snapshot)
    result = RenderResult()
    if shared:
        result.shared, result.errors = renderer.shared_files()
    phones = sorted(snapshot.phones.values(), key=lambda p: p.mac)
    views = (resolver.phone(p) for p in phones if p.enabled and (macs is None or p.mac in macs))
    for view, outcome in renderer.render_phones(views):
        if isinstance(outcome, list):
            result.phones[view.phone.mac] = outcome
        else:
            result.errors.append(outcome)
            result.failed[view.phone.mac] = renderer.phone_paths(view)
    return result

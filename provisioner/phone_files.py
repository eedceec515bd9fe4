"""The files a phone would get now, with its secrets masked for whoever may not read them.

The admin API's ``/phones/{mac}/files`` calls this; the files come from the
one render pipeline (:func:`provisioner.explain.rendered`), as the front
ends serve them. Masked files are rendered with every secret replaced by
:data:`provisioner.masking.MASK` before the templates see it
(:mod:`provisioner.masking`), so no spelling of a secret can be left in them.
"""

from __future__ import annotations

from provisioner.catalog import Catalog
from provisioner.domain import Snapshot
from provisioner.explain import phone_view, rendered
from provisioner.masking import masked_files
from provisioner.render import RenderedFile, Renderer, RenderError

__all__ = ["phone_files"]


def phone_files(
    catalog: Catalog, snapshot: Snapshot, mac: str, *, reveal: bool = False
) -> tuple[list[RenderedFile], list[RenderError]]:
    """The phone's own files as rendered now (``snapshot`` read for ``mac``), and render errors.

    A disabled phone gets no files. Unless ``reveal``, secrets are masked.
    """
    resolver, view = phone_view(catalog, snapshot, mac)
    if reveal:
        return rendered(catalog, resolver, view)
    if not view.phone.enabled:
        return [], []
    outcome = masked_files(catalog, Renderer(catalog), view)
    if isinstance(outcome, RenderError):
        return [], [outcome]
    return outcome, []

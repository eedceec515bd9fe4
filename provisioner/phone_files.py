"""The files a phone would get now, with its secrets masked for whoever may not read them.

The admin API's ``/phones/{mac}/files`` calls this; the files come from the
one render pipeline (:func:`provisioner.explain.rendered`), as the front
ends serve them. Masking replaces every secret value the phone's files may
carry (its secret settings, generated ones included, and its lines'
passwords) with :data:`provisioner.explain.MASK`, spelled as written and as
XML-escaped; a secret that happens to equal other text masks that text too,
which errs on the safe side.
"""

from __future__ import annotations

import html
from dataclasses import replace

from provisioner.catalog import Catalog
from provisioner.domain import Snapshot
from provisioner.explain import MASK, phone_view, rendered
from provisioner.render import RenderedFile, RenderError
from provisioner.resolve import PhoneView

__all__ = ["phone_files"]


def phone_files(
    catalog: Catalog, snapshot: Snapshot, mac: str, *, reveal: bool = False
) -> tuple[list[RenderedFile], list[RenderError]]:
    """The phone's own files as rendered now (``snapshot`` read for ``mac``), and render errors.

    A disabled phone gets no files. Unless ``reveal``, secrets are masked.
    """
    resolver, view = phone_view(catalog, snapshot, mac)
    files, errors = rendered(catalog, resolver, view)
    if reveal:
        return files, errors
    spellings = _secret_spellings(catalog, view)
    return [_masked(f, spellings) for f in files], errors


def _secret_spellings(catalog: Catalog, view: PhoneView) -> list[bytes]:
    values: set[str] = set()
    scopes = [view.settings, *(lv.settings for lv in view.lines)]
    for settings in scopes:
        for name, resolved in settings.items():
            if catalog.spec(name).secret and resolved.value not in ("", None):
                values.add(str(resolved.value))
    values.update(lv.line.password for lv in view.lines if lv.line.password)
    spellings = {s for v in values for s in (v, html.escape(v, quote=False), html.escape(v))}
    # Longest first, so a secret containing another is masked whole.
    return sorted((s.encode("utf-8") for s in spellings), key=len, reverse=True)


def _masked(file: RenderedFile, spellings: list[bytes]) -> RenderedFile:
    data = file.data
    for spelling in spellings:
        data = data.replace(spelling, MASK.encode())
    return replace(file, data=data) if data != file.data else file

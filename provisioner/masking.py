"""A phone's files as shown to someone who may not read its secrets.

Replacing the secret values in a rendered file's text misses every spelling
of a secret other than the ones searched for: XML-escaped with another
entity (``&#39;`` or ``&apos;`` for ``'``), quoted by a template's
key/value quoting (a backslash before ``"``), URL-encoded, or a value a
template derives from it. So masked files are rendered from a masked view:
the phone's resolved view with every secret value — settings the catalog
marks secret (generated ones included) and line passwords — replaced by
:data:`MASK` before the templates see it. The secret never reaches the
renderer, so no escaping of it can come out.

Two consequences, both on the safe side: a template that tests a secret's
content renders what it does for ``********`` (Yealink leaves out an admin
password containing ``:``); and the secret's literal spellings are still
replaced afterwards, so a secret equal to other text (a password equal to
the SIP user) masks that text too.
"""

from __future__ import annotations

import html
from dataclasses import replace

from provisioner.catalog import Catalog
from provisioner.render import RenderedFile, Renderer, RenderError
from provisioner.resolve import LineView, PhoneView, Resolved

__all__ = ["MASK", "masked_files", "masked_view", "secret_values"]

MASK = "********"


def secret_values(catalog: Catalog, view: PhoneView) -> set[str]:
    """The secret values a phone's files may carry (none empty)."""
    values = {line.line.password for line in view.lines}
    for settings in [view.settings, *(line.settings for line in view.lines)]:
        for name, resolved in settings.items():
            if resolved.value not in ("", None) and catalog.spec(name).secret:
                values.add(str(resolved.value))
    values.discard("")
    return values


def masked_view(catalog: Catalog, view: PhoneView) -> PhoneView:
    """``view`` with every non-empty secret value replaced by :data:`MASK`."""

    def masked(settings: dict[str, Resolved]) -> dict[str, Resolved]:
        return {
            name: resolved._replace(value=MASK)
            if resolved.value not in ("", None) and catalog.spec(name).secret
            else resolved
            for name, resolved in settings.items()
        }

    lines = tuple(
        LineView(
            replace(lv.line, password=MASK) if lv.line.password else lv.line, masked(lv.settings)
        )
        for lv in view.lines
    )
    return replace(view, settings=masked(view.settings), lines=lines)


def masked_files(
    catalog: Catalog, renderer: Renderer, view: PhoneView
) -> list[RenderedFile] | RenderError:
    """The phone's files rendered from :func:`masked_view`, literal spellings masked too."""
    ((_, outcome),) = renderer.render_phones([masked_view(catalog, view)])
    if isinstance(outcome, RenderError):
        return outcome
    spellings = _spellings(secret_values(catalog, view))
    return [_replaced(f, spellings) for f in outcome]


def _spellings(values: set[str]) -> list[bytes]:
    spelled = {s for v in values for s in (v, html.escape(v, quote=False), html.escape(v))}
    # Longest first, so a secret containing another is masked whole.
    return sorted((s.encode("utf-8") for s in spelled), key=len, reverse=True)


def _replaced(file: RenderedFile, spellings: list[bytes]) -> RenderedFile:
    data = file.data
    for spelling in spellings:
        data = data.replace(spelling, MASK.encode())
    return replace(file, data=data) if data != file.data else file

"""Render a phone's files (and the shared files) from resolved settings."""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from jinja2 import Template, TemplateError, TemplateSyntaxError
from lxml import etree

from provisioner.catalog import Catalog, Family, FileDef, FilePer, OutputFormat, expand_path
from provisioner.errors import InputError, ProvisionerError
from provisioner.render._context import phone_context, shared_context
from provisioner.render._env import TemplateValueError, make_environments
from provisioner.render._escape import PrintError
from provisioner.resolve import PhoneView

__all__ = ["RenderError", "RenderFailed", "RenderedFile", "Renderer"]

# Exceptions a template can raise while rendering; anything else is our bug
# and propagates.
_TEMPLATE_ERRORS = (TemplateError, PrintError, TemplateValueError, TypeError, ValueError)


# Distinct shareable renderings kept (a few per tenant and family).
_SHARED_MAX = 256


@dataclass(frozen=True, slots=True)
class RenderedFile:
    """One rendered file: its request path, bytes and how to serve it."""

    path: str
    data: bytes
    content_type: str
    secrets: bool


@dataclass(frozen=True, slots=True)
class RenderError:
    """Why one file could not be rendered: phone (or shared), template and line."""

    mac: str | None
    template: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.template}:{self.line}" if self.line is not None else self.template
        return f"{self.mac or 'shared file'}: {where}: {self.message}"


class RenderFailed(ProvisionerError):
    """Rendering a phone's files failed; ``error`` says where."""

    def __init__(self, error: RenderError) -> None:
        self.error = error
        super().__init__(str(error))


def _template_line(exc: BaseException, filename: str) -> int | None:
    # Jinja rewrites tracebacks so template frames carry the template's file
    # name and line number; the innermost such frame is where it failed.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    return frames[-1].lineno if frames else None


class Renderer:
    """Renders files for one catalog; reusable and safe to share between phones."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._envs = make_environments(catalog.search_path)
        self._templates: dict[tuple[str, str], Template] = {}
        # Renderings of files that `uses` shareable entries only, by identity.
        self._shared: dict[tuple[object, ...], tuple[tuple[object, ...], RenderedFile]] = {}
        self._parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )

    def _template(self, family: Family, file: FileDef) -> Template:
        key = (family.key, file.template)
        template = self._templates.get(key)
        if template is None:
            env = self._envs[file.format]
            template = env.get_template(f"{family.key}/{file.template}")
            self._templates[key] = template
        return template

    def _render(
        self, family: Family, file: FileDef, path: str, context: dict[str, Any], mac: str | None
    ) -> RenderedFile:
        name = f"{family.key}/{file.template}"
        try:
            template = self._template(family, file)
        except TemplateSyntaxError as exc:
            raise RenderFailed(RenderError(mac, name, exc.lineno, exc.message or "")) from exc
        try:
            text = template.render(context)
        except _TEMPLATE_ERRORS as exc:
            line = _template_line(exc, template.filename or "")
            message = getattr(exc, "message", None) or str(exc)
            raise RenderFailed(RenderError(mac, name, line, message)) from exc
        data = text.encode("utf-8")
        if file.format is OutputFormat.XML:
            try:
                etree.fromstring(data, self._parser)
            except etree.XMLSyntaxError as exc:
                raise RenderFailed(
                    RenderError(mac, name, None, f"output is not well-formed XML: {exc}")
                ) from exc
        return RenderedFile(path, data, file.content_type, file.secrets)

    def _render_shared(
        self, family: Family, file: FileDef, path: str, context: dict[str, Any], mac: str
    ) -> RenderedFile:
        """Render a file that ``uses`` only shareable entries, once per distinct value.

        Those entries are the same objects for every phone given the same data
        (the resolver and context hand them out so), so their identities are the
        key; the cached value keeps them alive, so an id is never reused while
        it is a key.
        """
        used = {name: context[name] for name in file.uses}
        key = (family.key, file.template, *(id(v) for v in used.values()))
        hit = self._shared.get(key)
        if hit is None:
            rendered = self._render(family, file, path, used, mac)
            if len(self._shared) >= _SHARED_MAX:
                self._shared.clear()
            hit = self._shared[key] = (tuple(used.values()), rendered)
        return replace(hit[1], path=path)

    def phone_files(self, view: PhoneView) -> list[RenderedFile]:
        """Render every per-phone file of ``view``'s family.

        :raises RenderFailed: on the first template or XML error.
        """
        family = view.family
        mac = view.phone.mac
        if view.missing_phonebooks:
            names = ", ".join(view.missing_phonebooks)
            message = f"setting phonebooks names {names}, which tenant {view.tenant.name} lacks"
            raise RenderFailed(RenderError(mac, "phonebooks", None, message))
        try:
            context = phone_context(view, family)
        except InputError as exc:  # keys that do not fit (provisioner.keylayout)
            raise RenderFailed(RenderError(mac, "keys", None, str(exc))) from exc
        return [
            (self._render_shared if file.uses else self._render)(
                family, file, expand_path(file.path, view.model, mac), context, mac
            )
            for file in family.files
            if file.per is FilePer.PHONE
        ]

    def phone_paths(self, view: PhoneView) -> list[str]:
        """The request paths of ``view``'s per-phone files."""
        return [
            expand_path(file.path, view.model, view.phone.mac)
            for file in view.family.files
            if file.per is FilePer.PHONE
        ]

    def render_phones(
        self, views: Iterable[PhoneView]
    ) -> Iterator[tuple[PhoneView, list[RenderedFile] | RenderError]]:
        """Render many phones; a failing phone yields its error, the rest go on."""
        for view in views:
            try:
                yield view, self.phone_files(view)
            except RenderFailed as failure:
                yield view, failure.error

    def shared_files(self) -> tuple[list[RenderedFile], list[RenderError]]:
        """Render every per-model and per-family file of every family.

        Models that share a path (Yealink T53 and T53W share a common file)
        must render identical bytes; a difference is reported as an error.
        """
        files: dict[str, RenderedFile] = {}
        errors: list[RenderError] = []
        for family in self.catalog.families.values():
            specs = self.catalog.specs_for(family.key)
            defaults = {name: spec.default for name, spec in specs.items()}
            for file in family.files:
                if file.per is FilePer.PHONE:
                    continue
                models = family.models if file.per is FilePer.MODEL else (None,)
                for model in models:
                    path = expand_path(file.path, model) if model is not None else file.path
                    context = shared_context(family, model, defaults)
                    try:
                        rendered = self._render(family, file, path, context, None)
                    except RenderFailed as failure:
                        errors.append(failure.error)
                        continue
                    known = files.setdefault(path, rendered)
                    if known.data != rendered.data:
                        errors.append(
                            RenderError(
                                None,
                                f"{family.key}/{file.template}",
                                None,
                                f"models sharing {path} rendered different content",
                            )
                        )
        return sorted(files.values(), key=lambda f: f.path), errors

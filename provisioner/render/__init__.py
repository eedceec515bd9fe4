"""Rendering: resolved settings → phone files, with format-aware escaping."""

from provisioner.render._context import phone_context, shared_context, tz_context
from provisioner.render._escape import clean_text
from provisioner.render._renderer import RenderedFile, RenderError, Renderer, RenderFailed

__all__ = [
    "RenderError",
    "RenderFailed",
    "RenderedFile",
    "Renderer",
    "clean_text",
    "phone_context",
    "shared_context",
    "tz_context",
]

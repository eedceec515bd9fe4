"""Rendering: resolved settings → phone files, with format-aware escaping."""

from provisioner.render._access import TreeAccess
from provisioner.render._context import phone_context, shared_context, tz_context
from provisioner.render._renderer import RenderedFile, Renderer, RenderError, RenderFailed
from provisioner.render._tree import MARKER, update_files, write_tree

__all__ = [
    "MARKER",
    "RenderError",
    "RenderFailed",
    "RenderedFile",
    "Renderer",
    "TreeAccess",
    "phone_context",
    "shared_context",
    "tz_context",
    "update_files",
    "write_tree",
]

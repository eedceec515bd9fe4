"""A package's heavy public names, imported when first used (PEP 562 module ``__getattr__``).

A package whose light parts every command needs (``provisioner.firmware``'s
image selection for the resolver, ``provisioner.notify``'s job states for the
store) keeps its heavy parts (archive ingestion, the S3 client, SIP) out of
the start of commands that never use them (docs/performance-notes.md, "The
command line's start"). The package still names them in ``__all__`` and
imports them under ``TYPE_CHECKING``, so callers and type checkers see no
difference.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, names: Mapping[str, tuple[str, str]]) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package``: public name -> (module, name in it), imported on use."""

    def attribute(name: str) -> Any:
        try:
            module, inner = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), inner)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    return attribute

"""Sandboxed Jinja environments, one per output format.

The immutable sandbox also stops templates from modifying the data they are
given (contexts share cached parts between phones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from provisioner.catalog import OutputFormat
from provisioner.domain import DirectoryEntry, Phonebook, PhonebookEntry
from provisioner.render._escape import finalize

__all__ = ["TemplateValueError", "make_environments"]


# Every attribute an exact ``dict`` instance has (they have no instance
# ``__dict__``, so these are all): any other name cannot be an attribute.
_DICT_ATTRIBUTES = frozenset(dir(dict))


# Types whose attributes' safety the environment remembers: Jinja's loop
# object and the frozen records contexts hold (none overrides ``__class__``,
# so ``isinstance`` of one of them is decided by its exact type). Only names
# an object of the type has are asked about, so the memory stays small.
_BY_TYPE = frozenset({LoopContext, str, Phonebook, PhonebookEntry, DirectoryEntry})


class _Environment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with a shortcut for the plain dicts contexts are made of.

    ``obj.name`` in a template tries the attribute first, then the item. On
    an exact ``dict`` and a name that is not one of its attributes, the
    attribute lookup always fails (raising and catching an AttributeError,
    the bulk of the cost), so the item is looked up directly: the same
    result, and an item of a dict is what ``obj['name']`` returns without
    any check anyway. Everything else (a dict method, other types, a
    missing item) takes the sandbox's own path with its checks.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._safe: dict[tuple[type, str], bool] = {}

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Subscribe ``obj`` from sandboxed code, preferring the attribute (as the sandbox does)."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """The sandbox's answer, remembered per (type, name) for the types in ``_BY_TYPE``.

        For those types the answer depends on the type and the name only
        (the checks are ``isinstance`` tests of the object and tests of the
        name; the value is not consulted), and loop variables
        (``loop.index``) ask it on every iteration.
        """
        kind = type(obj)
        if kind not in _BY_TYPE:
            return super().is_safe_attribute(obj, attr, value)
        known = self._safe.get((kind, attr))
        if known is None:
            known = self._safe[(kind, attr)] = super().is_safe_attribute(obj, attr, value)
        return known


class TemplateValueError(LookupError):
    """A template asked for something the data does not have (e.g. an unmapped value)."""


def _onezero(value: bool) -> str:
    _expect_bool(value, "onezero")
    return "1" if value else "0"


def _yesno(value: bool) -> str:
    _expect_bool(value, "yesno")
    return "Yes" if value else "No"


def _truefalse(value: bool) -> str:
    _expect_bool(value, "truefalse")
    return "true" if value else "false"


def _expect_bool(value: object, name: str) -> None:
    if not isinstance(value, bool):
        raise TemplateValueError(f"filter {name} expects a boolean, got {value!r}")


@pass_context
def _vmap(context: Context, value: object, map_name: str) -> str:
    """Translate a vendor-neutral value through the family's ``[maps.<name>]`` table."""
    maps: Mapping[str, Mapping[str, str]] = context["maps"]
    table = maps.get(map_name)
    if table is None:
        raise TemplateValueError(f"family has no [maps.{map_name}] table")
    key = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        return table[key]
    except KeyError:
        raise TemplateValueError(f"[maps.{map_name}] has no entry for {key!r}") from None


def _fail(message: str) -> str:
    """Stop rendering with ``message``: for data a format cannot express (see docs/templates.md)."""
    raise TemplateValueError(message)


def make_environments(
    search_path: Sequence[Path],
) -> dict[OutputFormat, ImmutableSandboxedEnvironment]:
    """Build the environments; templates are named ``<vendor>/<family>/<file>``.

    The loader searches ``search_path`` in order, so a site directory placed
    first overrides a built-in template of the same name.
    """
    loader = FileSystemLoader([str(p) for p in search_path])
    envs: dict[OutputFormat, ImmutableSandboxedEnvironment] = {}
    for fmt in OutputFormat:
        env = _Environment(
            loader=loader,
            undefined=StrictUndefined,
            autoescape=fmt is OutputFormat.XML,
            finalize=finalize,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=-1,
        )
        filters: dict[str, Any] = {
            "onezero": _onezero,
            "yesno": _yesno,
            "truefalse": _truefalse,
            "vmap": _vmap,
        }
        env.filters.update(filters)
        env.globals["fail"] = _fail
        # `safe` would let a template bypass format escaping.
        del env.filters["safe"]
        envs[fmt] = env
    return envs

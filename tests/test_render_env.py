"""The sandboxed environments' shortcuts answer as the sandbox does (provisioner/render/_env.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import StrictUndefined, Undefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from provisioner.catalog import OutputFormat
from provisioner.domain import Phonebook, PhonebookEntry
from provisioner.render._env import make_environments

ENV = make_environments([Path(".")])[OutputFormat.KV]
REFERENCE = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
NAMES = st.sampled_from(sorted(set(dir(dict)) | set(dir(type)))) | st.text(max_size=8)


def render(source: str, **context: Any) -> str:
    return ENV.from_string(source).render(context)


def same(a: object, b: object) -> bool:
    if isinstance(a, Undefined) or isinstance(b, Undefined):
        fields = ("_undefined_hint", "_undefined_name", "_undefined_exception")
        return type(a) is type(b) and all(getattr(a, f) == getattr(b, f) for f in fields)
    if callable(a):
        return getattr(a, "__self__", None) is getattr(b, "__self__", None) and getattr(
            a, "__name__", None
        ) == getattr(b, "__name__", None)
    return a is b


@given(st.dictionaries(NAMES, st.integers()), NAMES)
def test_dict_attribute_lookup_answers_as_the_sandbox(data: dict[str, int], name: str) -> None:
    assert same(ENV.getattr(data, name), REFERENCE.getattr(data, name))


def test_dict_items_are_read_as_attributes() -> None:
    assert render("{{ d.position }}/{{ d['position'] }}", d={"position": 3}) == "3/3"


def test_a_missing_item_is_an_error() -> None:
    with pytest.raises(Exception, match="has no attribute 'missing'"):
        render("{{ d.missing }}", d={})


def test_dict_methods_still_win_and_are_checked() -> None:
    assert render("{{ 'method' if d.items is callable else 'item' }}", d={"items": 1}) == "method"
    with pytest.raises(SecurityError):
        render("{{ d.update(x=1) }}", d={"x": 0})
    with pytest.raises(SecurityError):
        render("{{ d.__class__ }}", d={"__class__": 1})


@pytest.mark.parametrize(
    "source",
    [
        "{% for x in [1, 2] %}{{ loop.__class__ }}{% endfor %}",
        "{{ s.__class__ }}{{ s.__class__ }}",
        "{{ e.__class__ }}",
        "{{ b.__class__ }}",
    ],
)
def test_remembered_attribute_checks_still_refuse(source: str) -> None:
    entry = PhonebookEntry("A", "B", "", ())
    book = Phonebook("staff", "", (entry,))
    for _ in range(2):  # the second time from the memory
        with pytest.raises(SecurityError):
            render(source, s="x", e=entry, b=book)


def test_remembered_attribute_checks_still_allow() -> None:
    entry = PhonebookEntry("A", "B", "", ())
    source = "{% for x in [1, 2] %}{{ loop.index }}{{ e.name }}{{ s.upper() }}{% endfor %}"
    assert render(source, e=entry, s="x") == "1A BX2A BX"

"""Warnings about settings a phone would be given but cannot follow.

Families declare them as data (``[[warnings]]`` in ``family.toml``,
docs/templates.md): a setting whose value matches a pattern,
unless a bool setting says the phone copes. ``explain`` and ``render``
print them; the files are rendered all the same (the templates themselves
keep the phone on something it can follow).
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioner.catalog import Family
from provisioner.settings import Value

__all__ = ["phone_warnings"]


def phone_warnings(family: Family, values: Mapping[str, Value]) -> list[str]:
    """The warning texts of ``family`` that apply to a phone with these resolved ``values``."""
    found = []
    for rule in family.warnings:
        value = values.get(rule.setting)
        if value is None or rule.matches.match(str(value)) is None:
            continue
        if rule.unless and values.get(rule.unless) is True:
            continue
        found.append(rule.text)
    return found

"""Applying a fleet file: the one operation behind ``provisioner apply`` (and later the API).

It keeps what rollouts pinned (:func:`provisioner.rollouts.keep_rollout_pins`),
writes all or nothing, and reports what changed entity by entity
(:mod:`provisioner.fleet_changes`) together with firmware labels that point
phones at no active set (:func:`provisioner.firmware.label_note`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from provisioner.edits import Edits
from provisioner.firmware import LABEL_SETTING, label_note
from provisioner.fleet_changes import describe_changes
from provisioner.rollouts import keep_rollout_pins
from provisioner.settings import Value
from provisioner.state import TenantState
from provisioner.store import Changes, Store

__all__ = ["Applied", "apply_fleet"]


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying a fleet did."""

    changes: Changes  # rows written, by kind ("phone created": 3)
    described: list[str]  # one line per tenant, group, phone or phonebook changed, then pins
    warnings: list[str]  # firmware labels no active set has


def apply_fleet(
    store: Store, edits: Edits, states: Sequence[TenantState], *, prune: bool = False
) -> Applied:
    """Make the stored tenants match ``states`` (all or nothing) and say what that changed.

    The write goes through ``edits`` (audited as the edits' actor).

    :raises ValidationFailed: listing every problem; nothing is written.
    """
    before = store.tenants.all_states()
    # Stored phonebooks, read only when the file gives books (docs/phonebooks.md).
    books = store.phonebooks.books() if any(s.phonebooks is not None for s in states) else {}
    notes = keep_rollout_pins(store, states)
    changes = edits.tenants.apply(states, prune=prune)
    sets = store.firmware.sets()
    warnings = [
        note
        for label in sorted(set(_labels_in(states)))
        if (note := label_note(sets, label)) is not None
    ]
    described = describe_changes(before, states, prune=prune, books=books)
    return Applied(changes, described + notes, warnings)


def _labels_in(states: Iterable[TenantState]) -> list[str]:
    """Every firmware.label value the states set, at any scope."""
    scopes: list[dict[str, Value]] = []
    for state in states:
        scopes += [state.settings, *(g.settings for g in state.groups.values())]
        scopes += [p.settings for p in state.phones.values()]
    return [str(s[LABEL_SETTING]) for s in scopes if LABEL_SETTING in s]

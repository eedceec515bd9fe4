"""The audit's changed paths (provisioner.audit.changed)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from provisioner.audit import MAX_PATHS, REDACTED, changed, flatten

_ABSENT = object()

leaves = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["", "a", "b"]))
lines = st.lists(
    st.fixed_dictionaries({"position": st.integers(1, 3), "user": leaves}),
    max_size=3,
    unique_by=lambda line: line["position"],
)
keys = st.sampled_from(["tenant", "phones", "lines", "settings", "x", "y"])
documents = st.recursive(
    st.dictionaries(keys, st.one_of(leaves, lines), max_size=4),
    lambda inner: st.dictionaries(keys, st.one_of(inner, leaves, lines), max_size=4),
    max_leaves=20,
)


def _by_definition(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Every path of both flattened whole, kept where the values differ."""
    old, new = flatten(before), flatten(after)
    paths = [p for p in old.keys() | new.keys() if old.get(p, _ABSENT) != new.get(p, _ABSENT)]
    if len(paths) > MAX_PATHS:
        return {"changed_paths": len(paths)}, {"changed_paths": len(paths)}
    return {p: old[p] for p in paths if p in old}, {p: new[p] for p in paths if p in new}


@given(documents, documents)
def test_changed_paths_are_those_of_the_whole_documents(before: Any, after: Any) -> None:
    assert changed(before, after, lambda _: False) == _by_definition(before, after)


@given(documents, leaves)
def test_a_part_added_to_a_document_is_all_that_shows(before: Any, value: Any) -> None:
    after = {**before, "added": {"phone": {"lines": [{"position": 2, "user": value}]}}}
    added = {"added.phone.lines[2].position": 2, "added.phone.lines[2].user": value}
    assert changed(before, after, lambda _: False) == ({}, added)


def test_a_large_change_keeps_counts_and_secrets_stay_hidden() -> None:
    before = {"phones": {f"m{n}": {"description": "a"} for n in range(MAX_PATHS + 1)}}
    after = {"phones": {f"m{n}": {"description": "b"} for n in range(MAX_PATHS + 1)}}
    counts = {"changed_paths": MAX_PATHS + 1}
    assert changed(before, after, lambda _: False) == (counts, counts)
    secret = changed({"line": {"password": "x"}}, {"line": {"password": "y"}}, lambda p: True)
    assert secret == ({"line.password": REDACTED}, {"line.password": REDACTED})

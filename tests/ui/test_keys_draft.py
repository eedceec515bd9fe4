"""The keys editor's draft (provisioner/ui/_keys.py) without a browser: moves at the edges,
row ids, and the draft as the keys value."""

from __future__ import annotations

import pytest

from provisioner.errors import InputError
from provisioner.ui._keys import _digest, _keys, _rearranged

ROWS = [{"id": "0", "type": "blf", "value": "201"}, {"id": "4", "type": "blf", "value": "202"}]


def ids(rows: list[dict[str, str]]) -> list[str]:
    return [r["id"] for r in rows]


def test_moves_at_the_edges_change_nothing_and_others_swap() -> None:
    assert ids(_rearranged(ROWS, "up:0")) == ["0", "4"]
    assert ids(_rearranged(ROWS, "down:4")) == ["0", "4"]
    assert ids(_rearranged(ROWS, "down:0")) == ["4", "0"]
    assert ids(_rearranged(ROWS, "up:4")) == ["4", "0"]
    assert ids(_rearranged(ROWS, "remove:0")) == ["4"]


def test_an_added_row_gets_a_fresh_id() -> None:
    assert ids(_rearranged(ROWS, "add")) == ["0", "4", "5"]
    assert ids(_rearranged([], "add")) == ["0"]


@pytest.mark.parametrize("action", ["up:9", "left:0", "remove:", "drop"])
def test_a_damaged_action_is_refused(action: str) -> None:
    with pytest.raises(InputError):
        _rearranged(ROWS, action)


def test_the_draft_as_the_keys_value() -> None:
    rows = [
        {"id": "0", "type": "line", "value": "", "label": "", "line": " 2 ", "module": ""},
        {"id": "1", "type": "blf", "value": "201", "label": " Al ", "line": "", "page": "1"},
    ]
    assert _keys(rows) == [
        {"type": "line", "line": 2},
        {"type": "blf", "value": "201", "label": " Al ", "page": 1},
    ]
    with pytest.raises(InputError, match="key 1: line must be a whole number"):
        _keys([{"id": "0", "type": "line", "line": "two"}])


def test_the_digest_tells_drafts_apart() -> None:
    keys = _keys(ROWS)
    assert _digest(keys, False, False) == _digest(_keys(ROWS), False, False)
    assert _digest(keys, False, False) != _digest(keys[::-1], False, False)
    assert _digest(keys, False, False) != _digest(keys, True, False)
    assert _digest(keys, False, False) != _digest(keys, False, True)

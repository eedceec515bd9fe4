"""The one transition table of a send-profiles target: every (state, event) pair."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from provisioner.notify import (
    TRANSITIONS,
    IllegalTransition,
    TargetEvent,
    TargetOutcome,
    TargetState,
    check_sync_event,
    next_state,
)

S, E = TargetState, TargetEvent

# Written out here rather than read from the module, so that a changed table
# fails this test until the change is meant (and docs/notify.md follows).
EXPECTED = {
    (S.QUEUED, E.CLAIMED): S.SENDING,
    (S.QUEUED, E.CANCELLED): S.CANCELLED,
    (S.SENDING, E.ANSWERED): S.OK,
    (S.SENDING, E.RETRY): S.QUEUED,
    (S.SENDING, E.GAVE_UP): S.FAILED,
    (S.SENDING, E.LEASE_EXPIRED): S.QUEUED,
    (S.SENDING, E.LEASE_EXPIRED_SPENT): S.FAILED,
    (S.OK, E.FETCHED): S.CONFIRMED,
    (S.OK, E.WINDOW_PASSED): S.UNCONFIRMED,
}

PAIRS = [(state, event) for state in TargetState for event in TargetEvent]


@pytest.mark.parametrize(("state", "event"), PAIRS, ids=[f"{s}-{e}" for s, e in PAIRS])
def test_every_pair(state: TargetState, event: TargetEvent) -> None:
    expected = EXPECTED.get((state, event))
    if expected is None:
        with pytest.raises(IllegalTransition, match=f"a {state} target cannot move on {event}"):
            next_state(state, event)
    else:
        assert next_state(state, event) is expected


def test_the_table_has_no_other_moves() -> None:
    assert TRANSITIONS == EXPECTED


def test_final_states_have_no_way_out() -> None:
    final = {S.CONFIRMED, S.UNCONFIRMED, S.FAILED, S.CANCELLED, S.COALESCED}
    assert {state for state, _ in TRANSITIONS} == set(TargetState) - final


def test_stored_strings_are_unchanged() -> None:
    """The database holds these strings; renaming one would need a migration."""
    assert [s.value for s in TargetState] == [
        "queued",
        "sending",
        "ok",
        "confirmed",
        "unconfirmed",
        "failed",
        "cancelled",
        "coalesced",
    ]


def test_docs_draw_the_same_table() -> None:
    text = (Path(__file__).parents[2] / "docs" / "notify.md").read_text(encoding="utf-8")
    section = text.split("### Target states", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)`[^|]*\| `(\w+)`", section, re.MULTILINE)
    assert {(S(state), E(event)): S(after) for state, event, after in rows} == EXPECTED
    assert len(rows) == len(EXPECTED)


def test_outcomes_say_what_they_need() -> None:
    assert TargetOutcome(E.RETRY, None, "timeout", retry_at=5.0).retry_at == 5.0
    with pytest.raises(ValueError, match="retry_at is given exactly when a send is retried"):
        TargetOutcome(E.RETRY, 503, "busy")
    with pytest.raises(ValueError, match="retry_at is given exactly when a send is retried"):
        TargetOutcome(E.GAVE_UP, 481, "gone", retry_at=5.0)
    with pytest.raises(ValueError, match="only an answered send waits for confirmation"):
        TargetOutcome(E.GAVE_UP, 481, "gone", confirm_until=60.0)


def test_check_sync_events() -> None:
    assert [check_sync_event(e) for e in ("resync", "reboot")] == ["resync", "reboot"]
    with pytest.raises(ValueError, match="unknown event 'restart': expected resync or reboot"):
        check_sync_event("restart")

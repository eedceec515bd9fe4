"""The non-INVITE client transaction (RFC 3261 §17.1.2) driven with a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.sip import (
    ClientTransaction,
    Headers,
    Request,
    Response,
    State,
    Timers,
    encode,
    notify_request,
)

BRANCH = "z9hG4bKfeed"


def request(branch: str = BRANCH) -> Request:
    return notify_request(
        request_uri="sip:201@10.0.0.7",
        to_uri="sip:201@pbx",
        from_uri="sip:provisioner@pbx",
        from_tag="t",
        call_id="c",
        cseq=1,
        branch=branch,
        transport="UDP",
        sent_by="10.0.0.5:5060",
        contact="<sip:10.0.0.5:5060>",
        event="check-sync",
        user_agent="test",
    )


def response(status: int, *, branch: str = BRANCH, method: str = "NOTIFY") -> Response:
    return Response(
        status,
        "Reason",
        Headers(
            [
                ("Via", f"SIP/2.0/UDP 10.0.0.5:5060;branch={branch};rport=5060"),
                ("CSeq", f"1 {method}"),
            ]
        ),
    )


def transaction(*, reliable: bool = False, timers: Timers | None = None) -> ClientTransaction:
    return ClientTransaction(request(), reliable=reliable, timers=timers)


def state(tx: ClientTransaction) -> State:
    """The state, read through a call: mypy would otherwise keep ``tx.state``
    narrowed by one assertion across the calls that change it."""
    return tx.state


def run_timers(tx: ClientTransaction, until: float) -> list[float]:
    """Fire every timer up to ``until`` exactly on time; the times of the retransmissions."""
    times = []
    while (due := tx.next_timer()) is not None and due <= until:
        if tx.handle_timer(due):
            times.append(due)
    return times


def test_udp_retransmission_schedule_until_timer_f() -> None:
    tx = transaction()
    assert tx.start(0.0) == [encode(request())]
    assert tx.next_timer() == 0.5
    times = run_timers(tx, 100.0)
    # E doubles from T1 (0.5) to T2 (4) and stays there; F fires at 64·T1 = 32 s.
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert tx.retransmissions == 10
    assert state(tx) is State.TERMINATED
    assert (tx.error, tx.response) == ("timeout", None)
    assert tx.next_timer() is None


def test_short_t1_schedule() -> None:
    """The schedule the sipp test relies on: T1 = 50 ms, F = 3.2 s, 6 retransmissions."""
    tx = transaction(timers=Timers(t1=0.05))
    tx.start(0.0)
    times = run_timers(tx, 10.0)
    assert times == pytest.approx([0.05, 0.15, 0.35, 0.75, 1.55, 3.15])
    assert tx.error == "timeout"


def test_timer_f_at_64_t1() -> None:
    tx = transaction()
    tx.start(10.0)
    run_timers(tx, 41.99)
    assert state(tx) is State.TRYING
    assert tx.next_timer() == 42.0
    assert tx.handle_timer(42.0) == []
    assert state(tx) is State.TERMINATED


def test_provisional_switches_to_t2() -> None:
    tx = transaction()
    tx.start(0.0)
    assert run_timers(tx, 0.6) == [0.5]
    assert tx.receive(response(100), 0.7)
    assert state(tx) is State.PROCEEDING
    # The running Timer E (due at 1.5) fires as scheduled, then every T2 (§17.1.2.2).
    assert run_timers(tx, 14.0) == [1.5, 5.5, 9.5, 13.5]
    assert tx.receive(response(180), 14.2)  # more provisionals change nothing
    assert state(tx) is State.PROCEEDING
    assert run_timers(tx, 100.0) == [17.5, 21.5, 25.5, 29.5]
    assert tx.error == "timeout"


def test_final_response_completes_then_timer_k() -> None:
    tx = transaction()
    tx.start(0.0)
    ok = response(200)
    assert tx.receive(ok, 0.2)
    assert state(tx) is State.COMPLETED
    assert tx.response is ok
    assert tx.next_timer() == pytest.approx(5.2)  # Timer K = T4
    # Retransmissions of the final response (or anything else for us) are absorbed.
    assert tx.receive(response(200), 1.0)
    assert tx.receive(response(500), 1.0)
    assert tx.response is ok
    assert tx.handle_timer(5.0) == []
    assert state(tx) is State.COMPLETED
    assert tx.handle_timer(5.2) == []
    assert state(tx) is State.TERMINATED
    assert tx.next_timer() is None
    assert tx.retransmissions == 0
    assert tx.receive(response(200), 6.0)  # a late straggler: still ours, still ignored


def test_final_after_provisional() -> None:
    tx = transaction()
    tx.start(0.0)
    tx.receive(response(183), 0.1)
    tx.receive(response(481), 0.2)
    assert state(tx) is State.COMPLETED
    assert tx.response is not None
    assert tx.response.status == 481


def test_tcp_has_no_retransmissions_and_k_is_zero() -> None:
    tx = transaction(reliable=True)
    tx.start(0.0)
    assert tx.next_timer() == 32.0  # only Timer F
    assert run_timers(tx, 100.0) == []
    assert tx.retransmissions == 0
    assert tx.error == "timeout"

    tx = transaction(reliable=True)
    tx.start(0.0)
    tx.receive(response(100), 0.1)
    assert tx.next_timer() == 32.0  # no Timer E in Proceeding either
    tx.receive(response(200), 0.2)
    assert state(tx) is State.TERMINATED  # straight through Completed: K = 0
    assert tx.next_timer() is None
    assert tx.response is not None


@pytest.mark.parametrize(
    "stray",
    [
        response(200, branch="z9hG4bKother"),
        response(200, method="INVITE"),
        response(200, method="notify"),  # methods are case-sensitive (§7.1)
        Response(200, "OK", Headers([("CSeq", "1 NOTIFY")])),  # no Via
        Response(200, "OK", Headers([("Via", f"SIP/2.0/UDP h;branch={BRANCH}")])),  # no CSeq
    ],
)
def test_mismatched_responses_are_ignored(stray: Response) -> None:
    tx = transaction()
    tx.start(0.0)
    assert not tx.receive(stray, 0.1)
    assert state(tx) is State.TRYING
    assert tx.response is None
    assert tx.next_timer() == 0.5


def test_branch_matches_case_insensitively() -> None:
    tx = transaction()
    tx.start(0.0)
    assert tx.receive(response(200, branch=BRANCH.upper()), 0.1)


def test_slightly_late_timer_calls_keep_the_schedule() -> None:
    """Each call 40 ms late: the retransmissions stay on the T1, 3·T1, 7·T1, … schedule."""
    tx = transaction(timers=Timers(t1=0.05))
    tx.start(0.0)
    times = []
    while (due := tx.next_timer()) is not None:
        if tx.handle_timer(due + 0.04):
            times.append(due)
    assert times == pytest.approx([0.05, 0.15, 0.35, 0.75, 1.55, 3.15])  # all six, as on time
    assert tx.error == "timeout"


def test_late_timer_call() -> None:
    """A loop that stalls past a whole interval: one retransmission, E restarted from then."""
    tx = transaction()
    tx.start(0.0)
    assert len(tx.handle_timer(3.0)) == 1
    assert tx.next_timer() == 4.0  # 3.0 + min(2·0.5, 4): the missed 1.5 is skipped
    # Both E and F overdue: E still retransmits once, then F ends it.
    assert len(tx.handle_timer(40.0)) == 1
    assert tx.error == "timeout"


def test_early_timer_call_does_nothing() -> None:
    tx = transaction()
    tx.start(0.0)
    assert tx.handle_timer(0.49) == []
    assert tx.next_timer() == 0.5
    assert state(tx) is State.TRYING


def test_transport_failure() -> None:
    tx = transaction(reliable=True)
    tx.start(0.0)
    tx.fail("connection lost")
    assert state(tx) is State.TERMINATED
    assert (tx.error, tx.response) == ("connection lost", None)

    tx = transaction()
    tx.start(0.0)
    tx.receive(response(200), 0.1)
    tx.fail("connection lost")  # after the response: it stands
    assert state(tx) is State.TERMINATED
    assert tx.error is None
    assert tx.response is not None


def test_misuse() -> None:
    tx = transaction()
    assert tx.next_timer() is None
    assert tx.handle_timer(100.0) == []
    with pytest.raises(RuntimeError, match="before start"):
        tx.receive(response(200), 0.0)
    tx.start(0.0)
    with pytest.raises(RuntimeError, match="twice"):
        tx.start(0.0)


def test_request_without_branch_is_refused() -> None:
    with pytest.raises(ValueError, match="no Via branch"):
        ClientTransaction(Request("NOTIFY", "sip:a@b", Headers()), reliable=False)


@pytest.mark.parametrize(
    "timers", [(0.0, 4.0, 5.0), (0.5, 0.4, 5.0), (0.5, 4.0, -1.0), (-1.0, 4.0, 5.0)]
)
def test_timer_values_are_checked(timers: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError, match="T1"):
        Timers(*timers)


# State × input (style.md §2.5): from any reachable state, any input leads
# only to the transitions the theory of operation documents.

ALLOWED = {
    (State.TRYING, "provisional"): {State.PROCEEDING},
    (State.TRYING, "final"): {State.COMPLETED, State.TERMINATED},
    (State.TRYING, "timer"): {State.TRYING, State.TERMINATED},
    (State.TRYING, "fail"): {State.TERMINATED},
    (State.PROCEEDING, "provisional"): {State.PROCEEDING},
    (State.PROCEEDING, "final"): {State.COMPLETED, State.TERMINATED},
    (State.PROCEEDING, "timer"): {State.PROCEEDING, State.TERMINATED},
    (State.PROCEEDING, "fail"): {State.TERMINATED},
    (State.COMPLETED, "provisional"): {State.COMPLETED},
    (State.COMPLETED, "final"): {State.COMPLETED},
    (State.COMPLETED, "timer"): {State.COMPLETED, State.TERMINATED},
    (State.COMPLETED, "fail"): {State.TERMINATED},
    (State.TERMINATED, "provisional"): {State.TERMINATED},
    (State.TERMINATED, "final"): {State.TERMINATED},
    (State.TERMINATED, "timer"): {State.TERMINATED},
    (State.TERMINATED, "fail"): {State.TERMINATED},
}

_inputs = st.one_of(
    st.tuples(st.just("response"), st.integers(100, 699), st.booleans()),
    st.tuples(st.just("timer"), st.floats(0.0, 8.0), st.booleans()),
    st.tuples(st.just("fail"), st.just(0), st.just(True)),
)


@given(
    reliable=st.booleans(),
    t1=st.sampled_from([0.05, 0.5, 2.0]),
    inputs=st.lists(_inputs, max_size=40),
)
def test_any_inputs_follow_the_documented_transitions(
    reliable: bool, t1: float, inputs: list[tuple[str, float, bool]]
) -> None:
    timers = Timers(t1=t1, t2=max(t1, 4.0))
    tx = transaction(reliable=reliable, timers=timers)
    now = 0.0
    tx.start(now)
    unanswered = transaction(timers=timers)
    unanswered.start(0.0)
    most = 0 if reliable else len(run_timers(unanswered, 1e9))  # the no-answer schedule
    for kind, value, flag in inputs:
        before = state(tx)
        if kind == "response":
            status = int(value)
            stray = response(status, branch="z9hG4bKstray") if flag else response(status)
            matched = tx.receive(stray, now)
            assert matched is not flag
            if not matched:
                assert state(tx) is before
                continue
            kind = "provisional" if status < 200 else "final"
        elif kind == "timer":
            now += value
            due = tx.next_timer()
            if flag and due is not None:
                now = max(now, due)  # often exactly on time
            out = tx.handle_timer(now)
            assert not (reliable and out)
            assert len(out) <= 1
            following = tx.next_timer()
            assert following is None or following > now  # never a timer already due
        else:
            tx.fail("connection lost")
        after = state(tx)
        assert after in ALLOWED[before, kind]
        # Exactly one outcome once terminated (unless K absorbed it), never both.
        assert tx.response is None or tx.error is None
        if after is State.COMPLETED:
            assert tx.response is not None
            assert tx.response.status >= 200
            assert not reliable
        if after is State.TERMINATED:
            assert tx.next_timer() is None
            assert tx.response is not None or tx.error is not None
        else:
            assert tx.next_timer() is not None
        assert tx.retransmissions <= most

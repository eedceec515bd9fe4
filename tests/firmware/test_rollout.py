"""The rollout decisions (pure): waves, upgrades from reports, deadlines, halting.

Table tests walk the paths one by one; a hypothesis state machine drives a
rollout with arbitrary reports and clocks and checks the invariants after
every step.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.firmware import (
    Decision,
    PhoneProgress,
    Plan,
    Report,
    RolloutPhoneState,
    RolloutState,
    RolloutView,
    advance,
    wave_size,
)

P = RolloutPhoneState
VERSION = "66.86.0.20"
OLD = "66.85.0.5"


def view(n: int, plan: Plan | None = None) -> RolloutView:
    phones = tuple(PhoneProgress(f"p{i}", i, P.PENDING) for i in range(n))
    return RolloutView(
        RolloutState.RUNNING, plan or Plan(1, 2.0, 1.0, 60.0), VERSION, -1, None, phones
    )


def apply(v: RolloutView, d: Decision, now: float) -> RolloutView:
    """What the store does with a decision."""
    phones = []
    for p in v.phones:
        if p.mac in d.updates:
            phone_state, reported, _ = d.updates[p.mac]
            phone_wave = d.start_wave if p.mac in d.wave_macs else p.wave
            p = replace(p, state=phone_state, reported=reported, wave=phone_wave)
        phones.append(p)
    state = RolloutState.HALTED if d.halt else RolloutState.DONE if d.done else v.state
    wave, started = v.wave, v.wave_started_at
    if d.start_wave is not None:
        wave, started = d.start_wave, now
    return replace(v, phones=tuple(phones), state=state, wave=wave, wave_started_at=started)


def test_wave_sizes() -> None:
    assert [wave_size(Plan(1, 2.0), w) for w in range(5)] == [1, 2, 4, 8, 16]
    assert [wave_size(Plan(5, 1.5), w) for w in range(3)] == [5, 8, 12]
    assert [wave_size(Plan(3, 1.0), w) for w in range(3)] == [3, 3, 3]


@pytest.mark.parametrize(
    "kwargs",
    [{"canary": 0}, {"growth": 0.5}, {"threshold": 0}, {"threshold": 1.5}, {"wave_seconds": 0}],
)
def test_bad_plans(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=f"{next(iter(kwargs))} must be"):
        Plan(**kwargs)  # type: ignore[arg-type]


def test_canary_first_then_growing_waves_until_done() -> None:
    v = view(7)
    d = advance(v, {}, 100.0)
    assert (d.start_wave, d.wave_macs) == (0, ("p0",))
    v = apply(v, d, 100.0)
    # Nothing happens while the canary has not come back, before the deadline.
    assert advance(v, {}, 130.0).empty
    # A report from before the wave started says nothing.
    assert advance(v, {"p0": Report(VERSION, 99.0)}, 130.0).empty
    d = advance(v, {"p0": Report(VERSION, 101.0)}, 131.0)
    assert d.updates["p0"] == (P.UPGRADED, VERSION, "")
    assert (d.start_wave, d.wave_macs) == (1, ("p1", "p2"))
    v = apply(v, d, 131.0)
    d = advance(v, {"p1": Report(VERSION, 140.0), "p2": Report(VERSION, 141.0)}, 142.0)
    assert (d.start_wave, d.wave_macs) == (2, ("p3", "p4", "p5", "p6"))
    v = apply(v, d, 142.0)
    reports = {f"p{i}": Report(VERSION, 150.0) for i in range(3, 7)}
    d = advance(v, reports, 151.0)
    assert d.done
    assert d.start_wave is None
    v = apply(v, d, 151.0)
    assert v.state is RolloutState.DONE
    assert advance(v, reports, 999.0).empty


def test_an_older_version_is_recorded_but_keeps_waiting() -> None:
    v = apply(view(2), advance(view(2), {}, 0.0), 0.0)
    d = advance(v, {"p0": Report(OLD, 5.0)}, 6.0)
    assert d.updates == {"p0": (P.WAITING, OLD, "")}
    assert d.start_wave is None


def test_a_lettered_version_is_not_its_base_release() -> None:
    """A rollout to SPA firmware 7.4.9c waits for 7.4.9c: a phone on 7.4.9 has not upgraded."""
    start = replace(view(1), version="7.4.9c")
    v = apply(start, advance(start, {}, 0.0), 0.0)
    d = advance(v, {"p0": Report("7.4.9", 5.0)}, 6.0)
    assert d.updates == {"p0": (P.WAITING, "7.4.9", "")}
    d = advance(v, {"p0": Report("7.4.9c", 5.0)}, 6.0)
    assert d.updates["p0"] == (P.UPGRADED, "7.4.9c", "")


def test_phones_that_do_not_come_back_halt_the_rollout() -> None:
    v = view(5, Plan(2, 2.0, 1.0, 60.0))
    v = apply(v, advance(v, {}, 0.0), 0.0)
    d = advance(v, {"p0": Report(VERSION, 10.0)}, 59.0)
    assert d.updates == {"p0": (P.UPGRADED, VERSION, "")}
    v = apply(v, d, 59.0)
    d = advance(v, {"p1": Report(OLD, 10.0)}, 60.0)  # the deadline
    assert d.updates["p1"][0] is P.FAILED
    assert d.updates["p1"][1] == OLD  # what it last reported is kept for the status
    assert "did not report version 66.86.0.20 within 60 s of wave 1" in d.updates["p1"][2]
    assert d.halt == (
        "wave 1: 1 of 2 phones came back with 66.86.0.20 (50%), below the threshold of 100%"
    )
    assert d.start_wave is None  # no further phone is touched
    v = apply(v, d, 60.0)
    assert v.state is RolloutState.HALTED
    assert advance(v, {"p1": Report(VERSION, 70.0)}, 70.0).empty


def test_a_threshold_below_one_tolerates_failures() -> None:
    v = view(6, Plan(4, 1.0, 0.75, 60.0))
    v = apply(v, advance(v, {}, 0.0), 0.0)
    reports = {f"p{i}": Report(VERSION, 1.0) for i in range(3)}
    d = advance(v, reports, 60.0)
    assert d.updates["p3"][0] is P.FAILED
    assert not d.halt
    assert (d.start_wave, d.wave_macs) == (1, ("p4", "p5"))


def test_skipped_phones_are_never_touched() -> None:
    v = view(3)
    v = replace(v, phones=(replace(v.phones[0], state=P.SKIPPED), *v.phones[1:]))
    d = advance(v, {}, 0.0)
    assert d.wave_macs == ("p1",)
    v = replace(v, phones=tuple(replace(p, state=P.SKIPPED) for p in v.phones))
    d = advance(view(0), {}, 0.0)
    assert d.done
    assert advance(v, {}, 0.0).done


def test_only_running_rollouts_move() -> None:
    for state in (RolloutState.HALTED, RolloutState.DONE, RolloutState.ROLLED_BACK):
        assert advance(replace(view(3), state=state), {}, 0.0).empty


# --- state machine property -------------------------------------------------

steps = st.lists(
    st.tuples(
        st.floats(0, 40),  # time passing
        st.dictionaries(
            st.sampled_from([f"p{i}" for i in range(12)]),
            st.tuples(st.sampled_from([VERSION, OLD, "1.0"]), st.floats(-10, 10)),
        ),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 12),
    st.integers(1, 4),
    st.sampled_from([1.0, 1.5, 2.0]),
    st.sampled_from([0.5, 0.9, 1.0]),
    steps,
)
def test_invariants_hold_whatever_phones_report(
    n: int,
    canary: int,
    growth: float,
    threshold: float,
    script: list[tuple[float, dict[str, tuple[str, float]]]],
) -> None:
    plan = Plan(canary, growth, threshold, 30.0)
    v = view(n, plan)
    now = 0.0
    for elapsed, raw in script:
        now += elapsed
        reports = {mac: Report(fw, now + skew) for mac, (fw, skew) in raw.items()}
        before = {p.mac: p for p in v.phones}
        d = advance(v, reports, now)
        v = apply(v, d, now)
        states = {p.mac: p.state for p in v.phones}
        for mac, p in before.items():
            # Upgraded, failed and skipped phones never change again.
            if p.state in (P.UPGRADED, P.FAILED, P.SKIPPED):
                assert states[mac] is p.state
            # Phones only leave "pending" by joining the wave that starts.
            if p.state is P.PENDING and states[mac] is not P.PENDING:
                assert mac in d.wave_macs
        # Only the current wave waits; earlier waves are settled.
        for p in v.phones:
            if p.state is P.WAITING:
                assert p.wave == v.wave
            if p.state is P.PENDING:
                assert p.wave is None
        if d.start_wave is not None:
            assert len(d.wave_macs) <= wave_size(plan, d.start_wave)
            # Waves take phones in order.
            positions = [p.position for p in v.phones if p.mac in d.wave_macs]
            assert positions == sorted(positions)
            assert all(q.position > max(positions) for q in v.phones if q.state is P.PENDING)
        if d.halt:
            wave = [p for p in v.phones if p.wave == v.wave]
            upgraded = sum(p.state is P.UPGRADED for p in wave)
            assert upgraded / len(wave) < threshold
        if v.state is RolloutState.DONE:
            assert not any(p.state in (P.PENDING, P.WAITING) for p in v.phones)
        if v.state is not RolloutState.RUNNING:
            break

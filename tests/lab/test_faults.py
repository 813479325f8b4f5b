"""The one fault vocabulary: every target's faults inject and heal in the same shape, and the
queue semantics (every Nth answer, the next N answers, until healed) are the same for all."""

from __future__ import annotations

import pytest

from lab.faults import Fault, FaultBoard, Schedule, Target, fault_catalogue, faults_of


@pytest.mark.parametrize("target", list(Target))
def test_every_fault_of_every_target_injects_shows_and_heals(target: Target) -> None:
    """Each fault a target takes is on after inject (defaults filled in) and off after heal."""
    board = FaultBoard(target)
    for fault in faults_of(target):
        assert board.inject(fault.value, {}) is fault
        assert fault.value in board.snapshot()
        assert board.heal(fault) == [fault]
        assert board.snapshot() == {}
    assert list(fault_catalogue(target)) == [f.value for f in faults_of(target)]


def test_a_target_refuses_the_faults_of_other_targets() -> None:
    """One vocabulary, each target its subset: a resolver fault is unknown to an origin."""
    with pytest.raises(ValueError, match="unknown fault 'servfail'; known faults: error,"):
        FaultBoard(Target.ORIGIN).inject(Fault.SERVFAIL, {})
    with pytest.raises(ValueError, match="unknown fault 'reset'; known faults: servfail,"):
        FaultBoard(Target.RESOLVER).inject("reset", {})


def test_every_and_count_schedule_which_answers_are_hit() -> None:
    """every=2, count=2 hits answers 2 and 4, then the fault has healed itself."""
    board = FaultBoard(Target.RESOLVER)
    board.inject("servfail", {"every": 2, "count": 2})
    hits = [Fault.SERVFAIL in board.draw() for _ in range(6)]
    assert hits == [False, True, False, True, False, False]
    assert board.snapshot() == {}


def test_without_count_a_fault_stays_until_healed() -> None:
    """No count: every answer is hit, however many, until heal()."""
    board = FaultBoard(Target.ORIGIN)
    board.inject("slow", {"delay": "0.5"})
    assert all(board.draw()[Fault.SLOW] == {"delay": 0.5} for _ in range(50))
    assert board.heal() == [Fault.SLOW]
    assert board.draw() == {}


def test_answers_a_fault_cannot_change_do_not_count() -> None:
    """Only eligible answers count toward every and count."""
    board = FaultBoard(Target.RESOLVER)
    board.inject("truncate", {"count": 1})
    assert board.draw({Fault.SERVFAIL}) == {}
    assert Fault.TRUNCATE in board.draw({Fault.TRUNCATE})
    assert board.snapshot() == {}


def test_states_are_not_drawn() -> None:
    """Certificate faults and refuse are states: never drawn, never used up."""
    board = FaultBoard(Target.ORIGIN)
    board.inject("expired-cert", {})
    assert board.draw() == {}
    assert "expired-cert" in board.snapshot()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"count": 0}, "fault 'servfail': count must be an integer >= 1, or null, got 0"),
        ({"every": "two"}, "fault 'servfail': every must be an integer >= 1, got 'two'"),
    ],
)
def test_queue_parameters_are_validated_alike(params: dict[str, object], message: str) -> None:
    """The queue parameters fail with the same messages whatever the target."""
    with pytest.raises(ValueError) as failure:
        FaultBoard(Target.RESOLVER).inject("servfail", params)  # type: ignore[arg-type]
    assert str(failure.value) == message


def test_a_spent_schedule_hits_no_more() -> None:
    """A schedule with count=1 hits once and is spent."""
    schedule = Schedule(every=1, count=1)
    assert [schedule.due() for _ in range(3)] == [True, False, False]
    assert (schedule.spent, schedule.remaining, schedule.hits) == (True, 0, 1)

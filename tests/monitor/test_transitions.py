"""State changes as events, property-tested: the pure fold and derivation the engine runs."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from verdicts import CONFIG, REGIONS, START, verdict

from monitor.events import EventType, derive
from monitor.evidence import RoundFinished
from monitor.fold import first_snapshot, fold
from monitor.policy import restore_policy
from monitor.results import RegionStatus, RegionVerdict
from monitor.snapshot import Snapshot

rounds = st.lists(
    st.tuples(st.sampled_from(REGIONS), st.sampled_from(list(RegionStatus))),
    min_size=1,
    max_size=40,
)

_REGION_EVENTS = {EventType.REGION_FAILING, EventType.REGION_DEGRADED, EventType.REGION_RECOVERED}


def at_step(i: int) -> datetime:
    return START + timedelta(seconds=10 * (i + 1))


def replay(steps: list[tuple[str, RegionStatus]]) -> list[tuple[Snapshot, list[object]]]:
    """Fold every round in order; each step's snapshot with the events it made."""
    snapshot = first_snapshot(CONFIG, instance="test", now=START)
    out = []
    for i, (region, status) in enumerate(steps):
        at = at_step(i)
        after = fold(snapshot, RoundFinished(verdict(region, status, at)), config=CONFIG, now=at)
        events = derive(snapshot.conditions, after.conditions, at=at, instance="test")
        out.append((after, list(events)))
        snapshot = after
    return out


@given(rounds)
def test_each_judged_status_change_makes_exactly_one_region_event(
    steps: list[tuple[str, RegionStatus]],
) -> None:
    """A region's verdict moving between healthy, degraded and failing makes one region event
    per change (an unknown round in between judges nothing: the state before it stands), and
    a round that changes nothing makes none."""
    judged: dict[str, RegionStatus] = {}
    for (region, status), (_, events) in zip(steps, replay(steps), strict=True):
        region_events = [e for e in events if e.type in _REGION_EVENTS]  # type: ignore[attr-defined]
        if status is RegionStatus.UNKNOWN:
            assert region_events == []
            continue
        before = judged.get(region, RegionStatus.HEALTHY)
        judged[region] = status
        expected = 0 if before is status else 1
        assert len(region_events) == expected, (before, status, region_events)
        if expected:
            [event] = region_events
            assert event.region == region  # type: ignore[attr-defined]
            wanted = {
                RegionStatus.FAILING: EventType.REGION_FAILING,
                RegionStatus.DEGRADED: EventType.REGION_DEGRADED,
                RegionStatus.HEALTHY: EventType.REGION_RECOVERED,
            }[status]
            assert event.type is wanted  # type: ignore[attr-defined]


@given(rounds)
def test_no_event_without_a_change(steps: list[tuple[str, RegionStatus]]) -> None:
    """A judged round folded twice at the same instant makes no event the second time. (ERROR-
    only rounds are not repeats: each one more is a step towards the monitor calling itself
    blind; and time passing is a change of its own: a window of rounds ends.)"""
    for (after, _), (region, status) in zip(replay(steps), steps, strict=True):
        if status is RegionStatus.UNKNOWN:
            continue
        at = after.made_at
        again = fold(after, RoundFinished(verdict(region, status, at)), config=CONFIG, now=at)
        assert derive(after.conditions, again.conditions, at=at, instance="test") == []


@given(rounds)
def test_event_ids_are_stable_and_a_restart_announces_nothing_again(
    steps: list[tuple[str, RegionStatus]],
) -> None:
    """Deriving a change twice gives the same ids; a service restarted from the open
    conditions (as the store gives them back) makes no event for what is still true; every
    event id of one history is distinct."""
    history = replay(steps)
    ids = [e.id for _, events in history for e in events]  # type: ignore[attr-defined]
    assert len(ids) == len(set(ids))
    snapshot = first_snapshot(CONFIG, instance="test", now=START)
    for after, events in history:
        again = derive(snapshot.conditions, after.conditions, at=after.made_at, instance="other")
        assert [e.id for e in again] == [e.id for e in events]  # type: ignore[attr-defined]
        snapshot = after
    last = history[-1][0]
    # The store gives back each region's rounds; the policy counts them again.
    rounds: dict[str, list[RegionVerdict]] = {}
    for i, (region, status) in enumerate(steps):
        rounds.setdefault(region, []).append(verdict(region, status, at_step(i)))
    restarted = first_snapshot(
        CONFIG,
        instance="restarted",
        now=last.made_at,
        verdicts={name: view.verdict for name, view in last.regions.items()},
        streaks={name: view.streak for name, view in last.regions.items() if view.streak},
        conditions=last.conditions,
        policy=restore_policy(CONFIG, rounds=rounds, outcomes=[], deploys=[], now=last.made_at),
    )
    region, status = steps[-1]
    if status is not RegionStatus.UNKNOWN:  # see test_no_event_without_a_change
        at = last.made_at  # no time passing: a window of rounds ending would be a change
        after = fold(restarted, RoundFinished(verdict(region, status, at)), config=CONFIG, now=at)
        assert derive(restarted.conditions, after.conditions, at=at, instance="restarted") == []


def test_error_only_rounds_make_the_region_inconclusive_then_the_monitor_blind() -> None:
    """ERROR-only rounds judge nothing about the region; three in a row make it inconclusive
    for the failover policy, six make the monitor blind there; a judged round closes both."""
    steps = [("westeurope", RegionStatus.UNKNOWN)] * 6 + [("westeurope", RegionStatus.HEALTHY)]
    kinds = [sorted((e.type.value, e.resolved) for e in events) for _, events in replay(steps)]  # type: ignore[attr-defined]
    assert kinds == [
        [],
        [],
        [("region.inconclusive", False)],
        [],
        [],
        [("monitor.blind", False)],
        [("monitor.blind", True), ("region.inconclusive", True)],
    ]

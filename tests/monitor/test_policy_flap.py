"""The flap limit in the pure policy: once it holds an endpoint out, only a person puts it back."""

from __future__ import annotations

from datetime import datetime, timedelta

from verdicts import CONFIG, START, verdict

from monitor.config import parse_config
from monitor.policy import (
    Action,
    Decision,
    Outcome_,
    PastAction,
    PolicyState,
    World,
    decide_round,
    flap_limited,
    restore_policy,
)
from monitor.results import RegionStatus

FLAP = parse_config(
    {
        **CONFIG.model_dump(mode="json", exclude_defaults=True),
        "failover": {
            "mode": "enforce",
            "max_disables_per_hour": 5,
            "flap_limit": {"disables": 2, "within": "1d"},
        },
    }
)
# Two automatic disables of westeurope an hour apart (the second holds it out), one enable
# between them.
HISTORY = [
    PastAction("westeurope", Action.DISABLE, Outcome_.DONE, START),
    PastAction("westeurope", Action.ENABLE, Outcome_.DONE, START + timedelta(minutes=30)),
    PastAction("westeurope", Action.DISABLE, Outcome_.DONE, START + timedelta(hours=1)),
]


def healthy_rounds(state: PolicyState, since: datetime, count: int) -> list[Decision]:
    """`count` healthy rounds of both regions, ten seconds apart from `since`: the decisions."""
    decisions: list[Decision] = []
    for i in range(count):
        at = since + timedelta(seconds=10 * i)
        west = verdict("westeurope", RegionStatus.HEALTHY, at)
        central = verdict("centralus", RegionStatus.HEALTHY, at)
        world = World(verdicts={"westeurope": west, "centralus": central}, profile=None)
        state, made, _ = decide_round(state, west, world, FLAP, at)
        decisions += made
    return decisions


def test_the_flap_limit_still_holds_the_endpoint_out_once_its_window_has_passed() -> None:
    """Held out by the flap limit (two disables within a day), westeurope stays out when the
    first of them is more than a day old, however healthy: only a person puts it back."""
    now = START + timedelta(hours=1, minutes=1)
    state = restore_policy(FLAP, rounds={}, outcomes=HISTORY, deploys=[], now=now)
    assert flap_limited(FLAP, state, "westeurope", now) is not None
    later = START + timedelta(days=1, hours=2)
    assert flap_limited(FLAP, state, "westeurope", later) is not None
    assert healthy_rounds(state, later, 12) == []


def test_a_restart_long_after_the_flap_limit_tripped_keeps_it() -> None:
    """Restarted three days after the flap limit tripped (its disables older than the window),
    the restored policy still leaves re-enabling westeurope to a person."""
    now = START + timedelta(days=3)
    state = restore_policy(FLAP, rounds={}, outcomes=HISTORY, deploys=[], now=now)
    reason = flap_limited(FLAP, state, "westeurope", now)
    assert reason is not None and "2 times within 1d" in reason
    assert healthy_rounds(state, now, 12) == []


def test_a_disable_after_the_flap_window_is_counted_afresh() -> None:
    """Two disables more than the window apart never trip the flap limit: the second one is
    put back after its healthy rounds."""
    history = [
        HISTORY[0],
        PastAction("westeurope", Action.ENABLE, Outcome_.DONE, START + timedelta(minutes=30)),
        PastAction("westeurope", Action.DISABLE, Outcome_.DONE, START + timedelta(days=2)),
    ]
    now = START + timedelta(days=2, minutes=1)
    state = restore_policy(FLAP, rounds={}, outcomes=history, deploys=[], now=now)
    assert flap_limited(FLAP, state, "westeurope", now) is None
    assert [(d.region, d.action) for d in healthy_rounds(state, now, 6)] == [
        ("westeurope", Action.ENABLE)
    ]

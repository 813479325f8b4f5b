"""A person's commands in the pure policy: what never stranding users may and may not undo."""

from __future__ import annotations

from datetime import timedelta

import pytest
from verdicts import CONFIG, START, verdict

from monitor.config import parse_config
from monitor.policy import (
    Action,
    Outcome_,
    PastAction,
    Source,
    World,
    decide_round,
    restore_policy,
)
from monitor.results import RegionStatus

ENFORCE = parse_config(
    {**CONFIG.model_dump(mode="json", exclude_defaults=True), "failover": {"mode": "enforce"}}
)


@pytest.mark.parametrize(
    ("source", "rescued"),
    [(Source.POLICY, True), (Source.MANUAL, False)],
    ids=["ours", "a-persons"],
)
def test_never_stranding_users_undoes_our_disable_but_never_a_persons(
    source: Source, rescued: bool
) -> None:
    """westeurope out and healthy, centralus (the only one enabled) failing: a disable of
    regionwatch's own is enabled at once (urgent); one a person made through regionwatch is
    left alone."""
    out = PastAction("westeurope", Action.DISABLE, Outcome_.DONE, START, source, "alice", "why")
    state = restore_policy(ENFORCE, rounds={}, outcomes=[out], deploys=[], now=START)
    now = START + timedelta(seconds=10)
    west = verdict("westeurope", RegionStatus.HEALTHY, now)
    central = verdict("centralus", RegionStatus.FAILING, now)
    world = World(verdicts={"westeurope": west, "centralus": central}, profile=None)
    _, decisions, _ = decide_round(state, central, world, ENFORCE, now)
    assert [(d.region, d.action, d.urgent) for d in decisions] == (
        [("westeurope", Action.ENABLE, True)] if rescued else []
    )

"""The failover policy restored after a restart, from what the store remembers (pure)."""

from __future__ import annotations

from datetime import timedelta

from verdicts import CONFIG, START, verdict

from monitor.config import parse_config
from monitor.policy import Action, World, decide_round, healthz_out, restore_policy
from monitor.results import RegionStatus

ENFORCE = parse_config(
    {
        **CONFIG.model_dump(mode="json", exclude_defaults=True),
        "failover": {"mode": "enforce", "failing_rounds_without_deploy": 3},
    }
)


def test_an_intent_not_finished_before_a_restart_holds_its_region_until_it_is_reconciled() -> None:
    """A disable recorded but not finished before a restart: the restored policy waits for
    the actuator's reconciliation of it (and /healthz says 503 meanwhile); a further failing
    round decides no second disable."""
    failing = [
        verdict("westeurope", RegionStatus.FAILING, START + timedelta(seconds=i)) for i in range(3)
    ]
    healthy = [verdict("centralus", RegionStatus.HEALTHY, START + timedelta(seconds=2))]
    now = START + timedelta(seconds=5)
    state = restore_policy(
        ENFORCE,
        rounds={"westeurope": failing, "centralus": healthy},
        outcomes=[],
        deploys=[],
        now=now,
        intents=[("westeurope", "d-1", Action.DISABLE, START + timedelta(seconds=2))],
    )
    held = state.region("westeurope")
    assert (held.pending, held.pending_action) == ("d-1", Action.DISABLE)
    assert healthz_out(ENFORCE, held)
    world = World(verdicts={"westeurope": failing[-1], "centralus": healthy[-1]}, profile=None)
    fourth = verdict("westeurope", RegionStatus.FAILING, now)
    _, decisions, _ = decide_round(state, fourth, world, ENFORCE, now)
    assert decisions == []

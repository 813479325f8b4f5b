"""Several vantage points, through the engine's pure step: network failures need a majority of
every configured vantage point (or Traffic Manager), content failures the decider's own word;
absent and suspect peers are never votes; an observer's /healthz repeats the decider's."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from verdicts import START, config_with, peer_document, verdict

from monitor.config import Config, parse_config
from monitor.evidence import PeersPulled, RoundFinished
from monitor.fold import first_snapshot, step
from monitor.observations import PeerDocument
from monitor.policy import Action, Stance
from monitor.quorum import PeerProblem, PeerPull
from monitor.results import (
    CheckResult,
    FailureClass,
    OnFailure,
    Outcome,
    RegionStatus,
    RegionVerdict,
)
from monitor.snapshot import Snapshot

INTERVAL = timedelta(seconds=10)


DECIDER = config_with(
    checks={"https": {"interval": "10s", "timeout": "5s"}},
    failover={"mode": "enforce", "failing_rounds_without_deploy": 3},
    vantage="vp1",
    peers=[
        {"name": name, "url": f"https://127.0.0.{i + 2}:9", "token": "t"}
        for i, name in enumerate(("vp2", "vp3"))
    ],
)


def transport_failure(region: str, at: datetime) -> RegionVerdict:
    result = CheckResult(
        "home",
        "https",
        region,
        Outcome.DOWN,
        at,
        timedelta(milliseconds=5),
        reason="connection refused",
        on_failure=OnFailure.FAILOVER,
        failure_class=FailureClass.TRANSPORT,
        vantage="vp1",
    )
    return RegionVerdict(region, RegionStatus.FAILING, at, ("home: connection refused",), (result,))


def run(
    rounds: int,
    peers: dict[str, dict[str, RegionStatus] | PeerProblem | None],
    *,
    cfg: Config = DECIDER,
    failing: RegionVerdict | None = None,
    age: float = 1.0,
) -> tuple[Snapshot, list[object]]:
    """`rounds` rounds of westeurope failing by transport (centralus healthy), each followed by
    a pull of the peers: what each says of the regions, a problem, or nothing (no answer)."""
    snapshot = first_snapshot(cfg, instance="test", now=START)
    decisions: list[object] = []
    for i in range(rounds):
        at = START + INTERVAL * (i + 1)
        failed = failing or transport_failure("westeurope", at)
        failed = RegionVerdict(failed.region, failed.status, at, failed.reasons, failed.results)
        for evidence in (
            RoundFinished(verdict("centralus", RegionStatus.HEALTHY, at)),
            RoundFinished(failed),
        ):
            done = step(snapshot, evidence, config=cfg, now=at)
            snapshot, decisions = done.snapshot, [*decisions, *done.decisions]
        pulled_at = at + timedelta(seconds=1)
        pulls = []
        for name, said in peers.items():
            if isinstance(said, dict):
                pulls.append(PeerPull(name, pulled_at, peer_document(name, said, age=age)))
            elif isinstance(said, PeerProblem):
                pulls.append(PeerPull(name, pulled_at, problem=said, detail="on purpose"))
        done = step(snapshot, PeersPulled(tuple(pulls)), config=cfg, now=pulled_at)
        snapshot, decisions = done.snapshot, [*decisions, *done.decisions]
    return snapshot, decisions


FAILING = {"westeurope": RegionStatus.FAILING, "centralus": RegionStatus.HEALTHY}
SERVING = {"westeurope": RegionStatus.HEALTHY, "centralus": RegionStatus.HEALTHY}


def test_network_failures_seen_from_every_vantage_point_disable_naming_them() -> None:
    """Three of three vantage points see westeurope refusing connections: it is disabled, and
    the decision's reason and evidence name who saw it."""
    _, decisions = run(3, {"vp2": FAILING, "vp3": FAILING})
    [decision] = decisions
    assert decision.action is Action.DISABLE  # type: ignore[attr-defined]
    assert "seen failing from vp1, vp2 and vp3 (3 of 3 vantage points)" in decision.reason  # type: ignore[attr-defined]
    seen = decision.evidence["vantage_points"]  # type: ignore[attr-defined]
    assert seen["failing"] == ["vp1", "vp2", "vp3"]
    assert seen["majority"] is True


def test_a_broken_path_from_the_decider_alone_changes_nothing() -> None:
    """Only the decider sees the failure, both observers see westeurope serving: a partition
    between the decider and the region, never a disable."""
    snapshot, decisions = run(6, {"vp2": SERVING, "vp3": SERVING})
    assert decisions == []
    policy = snapshot.policy.region("westeurope")  # type: ignore[union-attr]
    assert policy.stance is Stance.INCONCLUSIVE
    assert "seen failing from vp1 (1 of 3 vantage points; vp2 and vp3 see it serving)" in (
        policy.reason
    )
    assert snapshot.health_for("westeurope").status_code == 200


def test_two_of_three_is_a_majority_even_with_the_third_absent() -> None:
    """The decider and one observer agree, the other observer does not answer: 2 of 3."""
    _, decisions = run(3, {"vp2": FAILING, "vp3": PeerProblem.UNREACHABLE})
    [decision] = decisions
    assert decision.evidence["vantage_points"]["failing"] == ["vp1", "vp2"]  # type: ignore[attr-defined]
    assert "vp3" in decision.evidence["vantage_points"]["absent"]  # type: ignore[attr-defined]


def test_with_every_observer_absent_network_failures_alone_never_disable() -> None:
    """Absence is never a vote: with both observers unreachable (or refusing our token) the
    decider alone is 1 of 3, whatever it sees; a peer.absent is raised for each."""
    snapshot, decisions = run(
        6, {"vp2": PeerProblem.UNREACHABLE, "vp3": PeerProblem.UNAUTHENTICATED}
    )
    assert decisions == []
    reason = snapshot.policy.region("westeurope").reason  # type: ignore[union-attr]
    assert "1 of 3 vantage points" in reason
    assert "vp3 absent (unauthenticated: on purpose)" in reason
    assert {"peer/vp2", "peer/vp3"} <= set(snapshot.conditions)
    assert snapshot.conditions["peer/vp3"].evidence["state"] == "unauthenticated"


def test_with_every_observer_absent_content_failures_still_disable() -> None:
    """A 5xx looks the same from anywhere: the decider's own word is enough."""
    failing = verdict("westeurope", RegionStatus.FAILING, START)
    _, decisions = run(
        3, {"vp2": PeerProblem.UNREACHABLE, "vp3": PeerProblem.MALFORMED}, failing=failing
    )
    [decision] = decisions
    assert decision.action is Action.DISABLE  # type: ignore[attr-defined]


def test_stale_observations_are_not_counted() -> None:
    """A peer reporting its verdict as older than two intervals is absent, however recently
    its document came."""
    snapshot, decisions = run(6, {"vp2": FAILING, "vp3": FAILING}, age=21.0)
    assert decisions == []
    assert snapshot.conditions["peer/vp2"].evidence["state"] == "stale"


def test_a_peer_that_sees_every_region_failing_is_not_counted() -> None:
    """An observer that sees both regions failing is more likely cut off itself: its word on
    westeurope is not a vote."""
    everything = {"westeurope": RegionStatus.FAILING, "centralus": RegionStatus.FAILING}
    snapshot, decisions = run(6, {"vp2": everything, "vp3": SERVING})
    assert decisions == []
    reason = snapshot.policy.region("westeurope").reason  # type: ignore[union-attr]
    assert "vp2 sees every region failing (not counted)" in reason


def test_a_peer_that_stops_answering_is_absent_after_two_intervals() -> None:
    """One failed pull after a good one leaves the peer counted (fresh for two intervals);
    past that it is absent and the majority is gone."""
    snapshot, decisions = run(2, {"vp2": FAILING, "vp3": FAILING})
    assert decisions == []
    later = START + INTERVAL * 3
    pulls = (
        PeerPull("vp2", later, problem=PeerProblem.UNREACHABLE, detail="timeout"),
        PeerPull("vp3", later, problem=PeerProblem.UNREACHABLE, detail="timeout"),
    )
    snapshot = step(snapshot, PeersPulled(pulls), config=DECIDER, now=later).snapshot
    assert "peer/vp2" not in snapshot.conditions  # still fresh: received 19 s ago
    much_later = START + INTERVAL * 5
    done = step(
        snapshot,
        RoundFinished(transport_failure("westeurope", much_later)),
        config=DECIDER,
        now=much_later,
    )
    assert done.decisions == ()
    pulls = tuple(
        PeerPull(name, much_later, problem=PeerProblem.UNREACHABLE, detail="timeout")
        for name in ("vp2", "vp3")
    )
    snapshot = step(done.snapshot, PeersPulled(pulls), config=DECIDER, now=much_later).snapshot
    assert snapshot.conditions["peer/vp2"].evidence["state"] == "unreachable"


OBSERVER = config_with(
    checks={"https": {"interval": "10s", "timeout": "5s"}},
    failover={"failing_rounds_without_deploy": 3},
    role="observer",
    vantage="vp2",
    api={"read_token": "r"},
    peers=[{"name": "vp1", "url": "https://127.0.0.1:9", "token": "t"}],
)


def decider_said(serve: dict[str, bool]) -> PeerDocument:
    return PeerDocument("monitor-vp1", "vp1", "decider", {}, serve)


def test_an_observers_healthz_repeats_the_decider_and_fails_static_without_it() -> None:
    """503 for the region the decider holds out, 200 for the other; once the decider has not
    answered for two intervals, 200 everywhere, saying the decider is unreachable."""
    snapshot = first_snapshot(OBSERVER, instance="vp2", now=START)
    at = START + INTERVAL
    pull = PeerPull("vp1", at, decider_said({"westeurope": False, "centralus": True}))
    snapshot = step(snapshot, PeersPulled((pull,)), config=OBSERVER, now=at).snapshot
    out = snapshot.health_for("westeurope")
    assert out.status_code == 503
    assert json.loads(out.body)["decider"] == "vp1"
    assert snapshot.health_for("centralus").status_code == 200
    later = at + 2 * INTERVAL + timedelta(seconds=1)
    gone = PeerPull("vp1", later, problem=PeerProblem.UNREACHABLE, detail="refused")
    snapshot = step(snapshot, PeersPulled((gone,)), config=OBSERVER, now=later).snapshot
    answer = snapshot.health_for("westeurope")
    assert answer.status_code == 200
    assert json.loads(answer.body)["decider"] == "unreachable"


def test_an_observer_decides_nothing_itself() -> None:
    """An observer seeing a region fail with content errors makes no decision, says so, and
    answers 200 while the decider says serve."""
    snapshot = first_snapshot(OBSERVER, instance="vp2", now=START)
    decisions = []
    for i in range(5):
        at = START + INTERVAL * (i + 1)
        for region, status in (
            ("westeurope", RegionStatus.FAILING),
            ("centralus", RegionStatus.HEALTHY),
        ):
            done = step(
                snapshot, RoundFinished(verdict(region, status, at)), config=OBSERVER, now=at
            )
            snapshot, decisions = done.snapshot, [*decisions, *done.decisions]
        pull = PeerPull("vp1", at, decider_said({"westeurope": True, "centralus": True}))
        done = step(snapshot, PeersPulled((pull,)), config=OBSERVER, now=at)
        snapshot, decisions = done.snapshot, [*decisions, *done.decisions]
    assert decisions == []
    policy = snapshot.policy.region("westeurope")  # type: ignore[union-attr]
    assert policy.stance is Stance.WITHHELD
    assert "an observer never acts" in policy.reason
    assert snapshot.health_for("westeurope").status_code == 200


def test_a_peer_not_up_yet_is_waiting_for_two_intervals_then_absent() -> None:
    """Instances start in any order: a peer that has never answered is `waiting` (no event)
    for two intervals after the first pull, then `unreachable` with a peer.absent."""
    snapshot = first_snapshot(DECIDER, instance="test", now=START)
    for seconds, absent in ((0, False), (20, False), (21, True)):
        at = START + timedelta(seconds=seconds)
        pulls = tuple(
            PeerPull(name, at, problem=PeerProblem.UNREACHABLE, detail="refused")
            for name in ("vp2", "vp3")
        )
        snapshot = step(snapshot, PeersPulled(pulls), config=DECIDER, now=at).snapshot
        assert ("peer/vp2" in snapshot.conditions) is absent, seconds


def test_an_observer_in_enforce_mode_is_ready_without_write_access() -> None:
    """A configuration shared with the decider says enforce; the observer never writes, so its
    readiness never waits for write access (the decider's does)."""
    shared = {"failover": {"mode": "enforce"}, "traffic_manager": TRAFFIC_MANAGER}
    observer = parse_config({**OBSERVER.model_dump(mode="json", exclude_none=True), **shared})
    decider = parse_config({**DECIDER.model_dump(mode="json", exclude_none=True), **shared})
    for cfg, waits in ((observer, False), (decider, True)):
        snapshot = first_snapshot(cfg, instance="test", now=START)
        assert any("write access" in r for r in snapshot.readiness) is waits, cfg.role


TRAFFIC_MANAGER = {
    "subscription_id": "00000000-0000-0000-0000-000000000000",
    "resource_group": "blog",
    "profile": "blog",
    "resource_manager_url": "https://127.0.0.1:9",
}


def test_while_counting_network_failures_it_says_what_the_count_will_still_need() -> None:
    """Before the bar is reached the stance is counting, and its next step already says that
    network failures seen from one vantage point will need the others or Traffic Manager."""
    snapshot, _ = run(2, {"vp2": SERVING, "vp3": SERVING})
    policy = snapshot.policy.region("westeurope")  # type: ignore[union-attr]
    assert policy.stance is Stance.COUNTING
    assert policy.next == (
        "disable after 1 more failing round, if more than half of the vantage points or "
        "Traffic Manager's own probes agree (now seen failing from vp1 (1 of 3 vantage points; "
        "vp2 and vp3 see it serving))"
    )
    agreed, _ = run(2, {"vp2": FAILING, "vp3": FAILING})
    assert agreed.policy.region("westeurope").next == "disable after 1 more failing round"  # type: ignore[union-attr]

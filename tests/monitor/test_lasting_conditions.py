"""Conditions that open only once they have lasted: regions drifting apart (releases,
certificates) and an endpoint left disabled, folded on a stepped clock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from verdicts import REGIONS, START, config_with

from monitor.config import Config
from monitor.events import Event, EventType, derive
from monitor.evidence import ActionFinished, Evidence, RoundFinished, TrafficManagerRead
from monitor.fold import first_snapshot, step
from monitor.policy import Action, Outcome_
from monitor.results import CheckResult, OnFailure, Outcome, RegionStatus, RegionVerdict
from monitor.snapshot import Snapshot
from monitor.trafficmanager.model import (
    EndpointState,
    EndpointStatus,
    MonitorConfig,
    MonitorStatus,
    ProfileState,
)
from monitor.trafficmanager.watch import Reading

MINUTE = timedelta(minutes=1)


def config(**alerting: Any) -> Config:
    return config_with(
        traffic_manager={"subscription_id": "s", "resource_group": "rg", "profile": "blog"},
        alerting=alerting,
    )


def served(
    region: str,
    at: datetime,
    *,
    release: str | None = None,
    serial: str | None = None,
    outcome: Outcome = Outcome.UP,
) -> RegionVerdict:
    """A round of `region` answering with `release` and a certificate of `serial`."""
    facts = {"cert_serial": serial, "cert_not_after": "2027-01-01T00:00:00+00:00"} if serial else {}
    result = CheckResult(
        "home",
        "https",
        region,
        outcome,
        at,
        timedelta(milliseconds=5),
        reason="" if outcome is Outcome.UP else "broken on purpose",
        on_failure=OnFailure.FAILOVER,
        facts=facts,
        release=release if outcome is Outcome.UP else None,
    )
    status = {
        Outcome.UP: RegionStatus.HEALTHY,
        Outcome.DOWN: RegionStatus.FAILING,
        Outcome.ERROR: RegionStatus.UNKNOWN,
    }[outcome]
    return RegionVerdict(region, status, at, (), (result,))


class Stepper:
    """Evidence folded in order at the stepped clock's time, the events of each step kept."""

    def __init__(self, cfg: Config) -> None:
        self.config = cfg
        self.now = START
        self.snapshot: Snapshot = first_snapshot(cfg, instance="test", now=START)
        self.events: list[Event] = []

    def apply(self, evidence: Evidence) -> None:
        made = step(self.snapshot, evidence, config=self.config, now=self.now)
        self.events += derive(
            self.snapshot.conditions, made.snapshot.conditions, at=self.now, instance="test"
        )
        self.snapshot = made.snapshot

    def rounds(self, minutes: int, **per_region: Mapping[str, Any]) -> None:
        """One round of each region per minute for `minutes` minutes, each region serving
        what `per_region` says."""
        for _ in range(minutes):
            self.now += MINUTE
            for region in REGIONS:
                self.apply(RoundFinished(served(region, self.now, **per_region.get(region, {}))))

    def read(self, **status: EndpointStatus) -> None:
        """A Traffic Manager read showing each region's endpoint as `status` says (Enabled
        unless named)."""
        endpoints = tuple(
            EndpointState(
                name=region,
                type_segment="ExternalEndpoints",
                target=f"192.0.2.{i + 1}",
                endpoint_status=status.get(region, EndpointStatus.ENABLED),
                monitor_status=MonitorStatus.ONLINE
                if status.get(region, EndpointStatus.ENABLED) is EndpointStatus.ENABLED
                else MonitorStatus.DISABLED,
            )
            for i, region in enumerate(REGIONS)
        )
        profile = ProfileState(
            "blog",
            "Geographic",
            "Enabled",
            "blog.trafficmanager.net",
            60,
            MonitorConfig("HTTPS", 443, "/healthz", 30, 10, 3),
            endpoints,
        )
        self.apply(TrafficManagerRead(Reading(self.now.timestamp(), profile=profile)))

    def of(self, kind: EventType) -> list[Event]:
        return [e for e in self.events if e.type is kind]


NEW = {"westeurope": {"release": "2.0.0"}, "centralus": {"release": "1.9.0"}}
SAME = {"westeurope": {"release": "2.0.0"}, "centralus": {"release": "2.0.0"}}


def test_regions_serving_different_releases_open_drifting_only_after_drift_after() -> None:
    """westeurope on 2.0.0 and centralus on 1.9.0: nothing for the first 30 minutes, then one
    `regions.drifting` about no single region, naming who serves what, since the first round
    that saw them differ; nothing more while it lasts."""
    lab = Stepper(config(drift_after="30m"))
    lab.rounds(1, **SAME)
    first_differ = lab.now + MINUTE
    lab.rounds(30, **NEW)  # 29 minutes apart: the first round of each differs at minute 2
    assert lab.of(EventType.REGIONS_DRIFTING) == []
    lab.rounds(1, **NEW)
    [event] = lab.of(EventType.REGIONS_DRIFTING)
    assert (event.region, event.severity.value, event.resolved) == (None, "warning", False)
    assert event.problem == "drifting/release"
    assert event.since == first_differ
    assert event.evidence["regions"] == {"westeurope": "2.0.0", "centralus": "1.9.0"}
    assert "westeurope 2.0.0" in event.summary and "centralus 1.9.0" in event.summary
    lab.rounds(60, **NEW)
    assert len(lab.of(EventType.REGIONS_DRIFTING)) == 1


def test_a_rolling_deploy_shorter_than_drift_after_raises_nothing() -> None:
    """westeurope takes 2.0.0 and centralus follows 20 minutes later: never drifting."""
    lab = Stepper(config(drift_after="30m"))
    lab.rounds(5, **{r: {"release": "1.9.0"} for r in REGIONS})
    lab.rounds(20, **NEW)
    lab.rounds(120, **SAME)
    assert lab.of(EventType.REGIONS_DRIFTING) == []
    assert "drifting/release" not in lab.snapshot.seen


def test_drifting_closes_when_the_regions_agree_again() -> None:
    """Once centralus serves westeurope's release too, `regions.drifting` closes."""
    lab = Stepper(config(drift_after="10m"))
    lab.rounds(15, **NEW)
    lab.rounds(1, **SAME)
    opened, closed = lab.of(EventType.REGIONS_DRIFTING)
    assert (opened.resolved, closed.resolved) == (False, True)
    assert closed.problem == opened.problem == "drifting/release"
    assert "drifting/release" not in lab.snapshot.conditions


def test_drift_after_null_never_raises_drifting() -> None:
    """`alerting.drift_after: null`: different releases for six hours raise nothing."""
    lab = Stepper(config(drift_after=None))
    lab.rounds(6 * 60, **NEW)
    assert lab.of(EventType.REGIONS_DRIFTING) == []


def test_different_certificates_drift_too() -> None:
    """Each region presenting its own certificate (serials differ) for longer than
    drift_after opens `drifting/certificate`, its evidence each region's certificate."""
    lab = Stepper(config(drift_after="5m"))
    lab.rounds(6, westeurope={"serial": "0A"}, centralus={"serial": "0B"})
    [event] = lab.of(EventType.REGIONS_DRIFTING)
    assert event.problem == "drifting/certificate"
    assert event.evidence["regions"]["westeurope"]["serial"] == "0A"
    assert event.evidence["regions"]["centralus"]["serial"] == "0B"


def test_a_region_without_an_answer_is_not_different() -> None:
    """centralus failing or unjudged (no release in its answer) for an hour beside
    westeurope's 2.0.0: nothing drifts; an open drift is not closed by it either."""
    lab = Stepper(config(drift_after="10m"))
    lab.rounds(30, westeurope={"release": "2.0.0"}, centralus={"outcome": Outcome.DOWN})
    lab.rounds(30, westeurope={"release": "2.0.0"}, centralus={"outcome": Outcome.ERROR})
    assert lab.of(EventType.REGIONS_DRIFTING) == []
    lab.rounds(11, **NEW)
    lab.rounds(5, westeurope={"release": "2.0.0"}, centralus={"outcome": Outcome.ERROR})
    assert [e.resolved for e in lab.of(EventType.REGIONS_DRIFTING)] == [False]


def test_an_open_drift_restored_after_a_restart_stays_open_without_a_new_event() -> None:
    """A restart forgets first sightings, but a `regions.drifting` the store gives back stays
    open (with its start) while the regions still differ: not closed and opened again."""
    lab = Stepper(config(drift_after="10m"))
    lab.rounds(11, **NEW)
    [opened] = lab.of(EventType.REGIONS_DRIFTING)
    restarted = Stepper(lab.config)
    restarted.now = lab.now
    restarted.snapshot = first_snapshot(
        lab.config, instance="test", now=lab.now, conditions=lab.snapshot.conditions
    )
    restarted.rounds(3, **NEW)
    assert restarted.events == []
    assert restarted.snapshot.conditions["drifting/release"].since == opened.since


def test_an_endpoint_disabled_outside_regionwatch_too_long_opens_a_warning() -> None:
    """westeurope Disabled in Traffic Manager by someone else: nothing for the first hour of
    reads, then `endpoint.disabled_too_long` for westeurope saying who and since when; it
    closes when the endpoint is enabled again."""
    lab = Stepper(config(disabled_too_long="1h"))
    lab.read()
    first_disabled = lab.now + MINUTE
    for _ in range(60):  # 59 minutes from the first read that showed it Disabled
        lab.now += MINUTE
        lab.read(westeurope=EndpointStatus.DISABLED)
    assert lab.of(EventType.ENDPOINT_DISABLED_TOO_LONG) == []
    lab.now += MINUTE
    lab.read(westeurope=EndpointStatus.DISABLED)
    [event] = lab.of(EventType.ENDPOINT_DISABLED_TOO_LONG)
    assert (event.region, event.severity.value, event.problem) == (
        "westeurope",
        "warning",
        "disabled/westeurope",
    )
    assert event.since == first_disabled
    assert event.evidence["disabled_by"] == "someone outside regionwatch"
    assert event.evidence["since"] is None  # not in the audit trail: first seen here
    assert "by someone else" in event.evidence["detail"]
    lab.now += MINUTE
    lab.read()
    assert [e.resolved for e in lab.of(EventType.ENDPOINT_DISABLED_TOO_LONG)] == [False, True]


def test_an_endpoint_regionwatch_disabled_counts_from_its_disable() -> None:
    """westeurope disabled by regionwatch's own decision: `endpoint.disabled_too_long` opens
    one hour after the disable carried out, by regionwatch, since then."""
    lab = Stepper(config(disabled_too_long="1h"))
    lab.read()
    disabled_at = lab.now
    lab.apply(
        ActionFinished("d1", "westeurope", Action.DISABLE, Outcome_.DONE, "done", disabled_at)
    )
    lab.now += timedelta(minutes=59)
    lab.read(westeurope=EndpointStatus.DISABLED)
    assert lab.of(EventType.ENDPOINT_DISABLED_TOO_LONG) == []
    lab.now += MINUTE
    lab.read(westeurope=EndpointStatus.DISABLED)
    [event] = lab.of(EventType.ENDPOINT_DISABLED_TOO_LONG)
    assert event.evidence["disabled_by"] == "regionwatch"
    assert event.evidence["since"] == disabled_at.isoformat()
    assert event.since == disabled_at


def test_disabled_too_long_null_never_raises_it() -> None:
    """`alerting.disabled_too_long: null`: an endpoint disabled for a day raises nothing."""
    lab = Stepper(config(disabled_too_long=None))
    for _ in range(24):
        lab.now += timedelta(hours=1)
        lab.read(westeurope=EndpointStatus.DISABLED)
    assert lab.of(EventType.ENDPOINT_DISABLED_TOO_LONG) == []

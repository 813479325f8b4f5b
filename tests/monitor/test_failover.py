"""The failover policy inside the engine, stepped round by round on the manual clock, against
the lab's origins and the Traffic Manager emulator (the real SDK), in enforce and dry-run: one
test per rule of docs/failover.md, each reading the outcome in Traffic Manager, the policy's
stance and reason in the snapshot, the audit trail and the events."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from processes import run_cli
from servers import eventually

from lab.certs import LabCA
from lab.origin import Fault, RegionalOrigin
from lab.sandbox import MODEL_REQUESTS
from lab.trafficmanager import LoggedRequest, TrafficManagerEmulator
from monitor.actuator import WriteRetry
from monitor.auditstore import ActionRecord
from monitor.clock import ManualClock
from monitor.config import TrafficManagerConfig, load_config
from monitor.controls import Control, ControlKind, control_id
from monitor.deploys import Deploy, DeploySource
from monitor.errors import StoreError
from monitor.events import Event, EventType
from monitor.eventstore import EventQuery
from monitor.evidence import ControlsChanged, DeployMarked
from monitor.policy import Action, RegionPolicy, Stance
from monitor.replay import ReplayReport, replay
from monitor.service import Service, build_service
from monitor.snapshot import Snapshot
from monitor.trafficmanager.azure import AzureTrafficManager, RetryPolicy
from monitor.trafficmanager.port import TrafficManager

ConfigWriter = Callable[..., Path]
Origins = Mapping[str, RegionalOrigin]
START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
INTERVAL = 10
HOSTNAME = "blog.example.com"
# The model's requests that can fail a region: the origin path, bypassing the cache, and the
# page readers get (STALE there means Ghost is down). Its alert-level checks (the hidden editor,
# the redirect) never count towards failover, and each request costs a TLS handshake a round.
PAGES = [r for r in MODEL_REQUESTS if r["name"] in ("home", "home-cached")]
READERS_PAGE = [r for r in PAGES if r["name"] == "home-cached"]
# Retries that do not wait: the actuator's back-off is real time, not the manual clock's.
FAST_RETRY = WriteRetry(attempts=4, base_delay=0.001, max_delay=0.01)


def seed(
    tm: TrafficManagerEmulator,
    origins: Origins,
    *,
    geo_mapping: Mapping[str, Sequence[str]] | None = None,
    monitor_path: str = "/",
) -> None:
    """The lab's Geographic profile over `origins` (westeurope → GEO-EU, centralus → WORLD
    unless `geo_mapping` says otherwise), every endpoint Online by Traffic Manager's probes."""
    tm.seed_lab_profile(
        targets={name: o.address for name, o in origins.items()},
        geo_mapping=geo_mapping,
        monitor_path=monitor_path,
    )
    for name in origins:
        tm.force_monitor_status(name, "Online")


class Lab:
    """A service stepped by hand: rounds of every region, then Traffic Manager read."""

    def __init__(self, service: Service, clock: ManualClock, tm: TrafficManagerEmulator) -> None:
        self.service = service
        self.clock = clock
        self.tm = tm

    async def round(self) -> Snapshot:
        """One round of every region with the actions it decided carried out, a second later a
        Traffic Manager read and the actions it decided; the clock then moves on to the next
        round, an interval after this one."""
        await self.probe()
        return await self.end_round()

    async def probe(self) -> Snapshot:
        """One round of every region, and the actions it decided carried out (the actuator
        alone talks to Traffic Manager meanwhile)."""
        service = self.service
        await asyncio.gather(*(service.run_round(r) for r in service.rounds.regions))
        return await self.settle()

    async def end_round(self) -> Snapshot:
        """The rest of a round after `probe`: a second later a Traffic Manager read and the
        actions it decided, then the clock moves on to the next round."""
        self.clock.advance(1)  # reads run on a schedule of their own, never at the same instant
        await self.read()
        self.clock.advance(INTERVAL - 1)
        return self.service.snapshot

    async def read(self) -> Snapshot:
        """A Traffic Manager read, and the actions it decided carried out."""
        await self.service.read_traffic_manager()
        return await self.settle()

    async def rounds(self, count: int) -> list[Snapshot]:
        return [await self.round() for _ in range(count)]

    async def settle(self) -> Snapshot:
        service = self.service
        for _ in range(3):  # actions make evidence, which may make actions
            await service.engine.settle()
            if service.actuator is not None:
                await service.actuator.settle()
        return await service.engine.settle()

    def status(self, endpoint: str) -> str:
        """The endpoint's status in the emulator: Enabled or Disabled."""
        state = self.tm.profile().endpoint(endpoint)
        assert state is not None
        return str(state.status.value)

    def policy(self, region: str) -> RegionPolicy:
        policy = self.service.snapshot.policy
        assert policy is not None
        return policy.region(region)

    def healthz(self, region: str) -> int:
        return self.service.snapshot.health_for(region).status_code

    def patches(self, endpoint: str | None = None) -> list[LoggedRequest]:
        """The PATCHes Traffic Manager received (of `endpoint`'s, when named)."""
        return self.tm.requests_log.where(
            "PATCH", f"/externalEndpoints/{endpoint}" if endpoint else None
        )

    async def actions(self, region: str | None = None) -> list[ActionRecord]:
        """The audit trail, oldest first."""
        return list(reversed(await self.service.store.actions(region=region)))

    async def events(self, kind: EventType, region: str | None = None) -> list[Event]:
        """Stored events of `kind`, oldest first."""
        stored = await self.service.store.events(EventQuery(type=kind, region=region))
        return [s.event for s in reversed(stored)]

    async def command(
        self, action: Action, region: str, *, by: str = "alice", force: bool = False
    ) -> ActionRecord:
        """A person's command, as the API hands it over, carried out; its audit record."""
        decision_id, finished = await self.service.command(
            action=action, region=region, reason=f"{by} says so", by=by, force=force, wait=10
        )
        assert finished is not None
        await self.settle()
        (record,) = await self.service.store.actions(id=decision_id)
        return record

    async def deploy(self, region: str, version: str) -> None:
        """A deploy marker for `region`, as `POST /api/v1/deploys` records it."""
        deploy = Deploy(
            f"d-{region}-{version}", region, version, self.clock.now(), DeploySource.MARKER
        )
        await self.service.store.record_deploy(deploy)
        self.service.engine.submit(DeployMarked(deploy))
        await self.settle()


@pytest.fixture
def azure_identity(tm: TrafficManagerEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in tm.environment().items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def seeded(
    tm: TrafficManagerEmulator, two_regions: dict[str, RegionalOrigin], azure_identity: None
) -> TrafficManagerEmulator:
    seed(tm, two_regions)
    return tm


@pytest.fixture
async def three_regions(
    two_regions: dict[str, RegionalOrigin], lab_ca: LabCA
) -> AsyncIterator[dict[str, RegionalOrigin]]:
    """westeurope, centralus and eastus, healthy, on loopback."""
    async with RegionalOrigin(region="eastus", hostname=HOSTNAME, ca=lab_ca) as east:
        yield {**two_regions, "eastus": east}


THREE_GEOS = {"westeurope": ["GEO-EU"], "centralus": ["WORLD"], "eastus": ["GEO-NA"]}
ClientFactory = Callable[[TrafficManagerConfig], TrafficManager]


def quick_reads(section: TrafficManagerConfig) -> TrafficManager:
    """The SDK client with read retries that do not wait."""
    return AzureTrafficManager(section, retry=RetryPolicy(base_delay=0.01, max_delay=0.05))


def short_deadlines(section: TrafficManagerConfig) -> TrafficManager:
    """The SDK client with one-second attempts and read retries that do not wait, so a call
    never answered costs a second, not fifteen."""
    return AzureTrafficManager(
        section,
        retry=RetryPolicy(base_delay=0.01, max_delay=0.05),
        attempt_deadline=1.0,
        call_deadline=5.0,
    )


async def test_the_flap_limit_outlasts_its_window_and_a_restart_days_later(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """With flap_limit 2 disables within an hour: westeurope held out by it is still out,
    however healthy, when those disables are more than an hour old, and after a restart two
    days later: only a person puts it back."""
    flap = {"disables": 2, "within": "1h"}
    settings = {"max_disables_per_hour": 5, "flap_limit": flap}
    async with stepped(seeded, two_regions, write_config, **settings) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(3)
        two_regions["westeurope"].heal()
        await lab.rounds(5)
        assert lab.status("westeurope") == "Enabled"
        await bad_deploy(lab, two_regions, "westeurope", "2.0.1")
        await lab.rounds(3)
        assert lab.status("westeurope") == "Disabled"
        two_regions["westeurope"].heal()
        lab.clock.advance(3600)
        await lab.rounds(12)
        assert lab.status("westeurope") == "Disabled"
        assert lab.policy("westeurope").next.startswith("enable by hand")
    lab.clock.advance(2 * 86400)
    async with stepped(seeded, two_regions, write_config, clock=lab.clock, **settings) as lab:
        await lab.rounds(12)
        assert lab.status("westeurope") == "Disabled"
        assert lab.policy("westeurope").next.startswith("enable by hand")
        assert len(lab.patches("westeurope")) == 3


@asynccontextmanager
async def stepped(
    tm: TrafficManagerEmulator,
    origins: Origins,
    write_config: ConfigWriter,
    *,
    clock: ManualClock | None = None,
    first_round: bool = True,
    https: Mapping[str, Any] | None = None,
    traffic_manager: ClientFactory | None = None,
    actuator_retry: WriteRetry | None = FAST_RETRY,
    **failover: Any,
) -> AsyncIterator[Lab]:
    """The service over `origins` in enforce mode (unless `mode` says otherwise), its clock at
    START (or `clock`), its store in the test's folder (the same for every call in one test:
    a restart), with `first_round` everyone healthy where it starts. `https` overrides keys of
    `checks.https`; `traffic_manager` builds the client from the configuration's section, for
    tests that set its deadlines."""
    config = load_config(
        write_config(
            dict(origins),
            checks={
                "https": {
                    "interval": f"{INTERVAL}s",
                    "timeout": "2s",
                    "requests": PAGES,
                    **(https or {}),
                }
            },
            traffic_manager=tm.config_section(interval="30s"),
            failover={"mode": "enforce", "cooldown": "1m", **failover},
        )
    )
    clock = clock or ManualClock(START)
    client = None
    if traffic_manager is not None:
        assert config.traffic_manager is not None
        client = traffic_manager(config.traffic_manager)
    async with build_service(
        config, clock=clock, traffic_manager=client, actuator_retry=actuator_retry
    ) as service:
        lab = Lab(service, clock, tm)
        if first_round:
            await lab.round()  # everyone healthy: where it starts
        yield lab


async def refused_once(lab: Lab, region: str, guard: str) -> ActionRecord:
    """The one refusal recorded for `region`, with its `action.refused` event: a guard rail
    that keeps saying no is recorded once, not every round."""
    actions = await lab.actions(region)
    assert [(a.action, a.status, a.guard) for a in actions] == [("disable", "refused", guard)]
    events = await lab.events(EventType.ACTION_REFUSED, region)
    assert len(events) == 1
    assert events[0].evidence["guard"] == guard
    assert events[0].evidence["uncovered"] == list(actions[0].uncovered)
    assert actions[0].detail in events[0].summary
    assert lab.patches(region) == []
    return actions[0]


async def bad_deploy(lab: Lab, origins: Origins, region: str, version: str = "2.0.0") -> None:
    """A deploy marker for `region`, and the release answering 500 from then on."""
    await lab.deploy(region, version)
    origins[region].inject(Fault.ERROR, status=500)


# --- a bad deploy -----------------------------------------------------------------------------


async def test_a_bad_deploy_is_disabled_after_failing_rounds_and_put_back_after_the_fix(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """westeurope deployed and broken (5xx): disabled at the third failing round, with the
    deploy and the cause in the reason; /healthz 503 for it; fixed, it is enabled again after
    five healthy rounds, once."""
    async with stepped(seeded, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        stances = []
        for _ in range(3):
            await lab.round()
            stances.append(lab.policy("westeurope").stance)
        assert lab.status("westeurope") == "Disabled"
        assert stances == [Stance.COUNTING, Stance.COUNTING, Stance.OUT]
        assert lab.policy("westeurope").reason == (
            "disabled by regionwatch since 2026-11-02 14:00:30 UTC"
        )
        assert lab.healthz("westeurope") == 503
        actions = await lab.actions("westeurope")
        assert [(a.action, a.status, a.guard, a.uncovered, a.attempts) for a in actions] == [
            ("disable", "done", None, (), 1)
        ]
        assert actions[0].detail == "westeurope set Disabled in Traffic Manager"
        assert "within" in actions[0].reason and "2.0.0" in actions[0].reason
        assert "status 500" in actions[0].reason
        assert "centralus is healthy and covers WORLD" in actions[0].reason
        (disabled,) = await lab.events(EventType.ENDPOINT_DISABLED, "westeurope")
        assert disabled.severity.value == "critical"
        two_regions["westeurope"].heal()
        for _ in range(4):
            await lab.round()
            assert lab.status("westeurope") == "Disabled"
        assert lab.policy("westeurope").stance is Stance.RECOVERING
        await lab.round()
        assert lab.status("westeurope") == "Enabled"
        assert lab.healthz("westeurope") == 200
        assert lab.policy("westeurope").stance is Stance.SERVING
        await lab.rounds(3)
        actions = await lab.actions("westeurope")
        assert [(a.action, a.status) for a in actions] == [("disable", "done"), ("enable", "done")]
        assert len(await lab.events(EventType.ENDPOINT_ENABLED, "westeurope")) == 1
        assert len(lab.patches("westeurope")) == 2


async def test_in_dry_run_a_bad_deploy_is_only_recorded_as_would_disable(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """In dry-run (the default mode) the same bad deploy is decided and recorded as
    `endpoint.would_disable`, once; Traffic Manager is never written and /healthz stays 200."""
    async with stepped(seeded, two_regions, write_config, mode="dry-run") as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(6)
        assert lab.status("westeurope") == "Enabled"
        assert lab.patches() == []
        assert lab.healthz("westeurope") == 200
        held = lab.policy("westeurope")
        assert held.stance is Stance.OUT
        assert held.reason.startswith("would be disabled (dry-run) since")
        actions = await lab.actions("westeurope")
        assert [(a.action, a.status, a.mode, a.attempts) for a in actions] == [
            ("disable", "dry_run", "dry-run", 0)
        ]
        assert actions[0].detail == "would set westeurope Disabled (failover.mode: dry-run)"
        (would,) = await lab.events(EventType.ENDPOINT_WOULD_DISABLE, "westeurope")
        assert "2.0.0" in would.summary
        assert await lab.events(EventType.ENDPOINT_DISABLED) == []


async def test_a_deploy_that_leaves_the_cache_serving_stale_is_disabled(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """Ghost down behind Nginx after a deploy: readers get the cached page, 200 but STALE. That
    content failure, seen from here alone, disables the region at the third failing round."""
    async with stepped(seeded, two_regions, write_config, https={"requests": READERS_PAGE}) as lab:
        await lab.deploy("westeurope", "2.0.0")
        two_regions["westeurope"].inject(Fault.ORIGIN_DOWN)
        await lab.rounds(2)
        assert lab.status("westeurope") == "Enabled"
        assert lab.policy("westeurope").stance is Stance.COUNTING
        await lab.round()
        assert lab.status("westeurope") == "Disabled"
        assert lab.policy("westeurope").stance is Stance.OUT
        (action,) = await lab.actions("westeurope")
        assert (action.action, action.status) == ("disable", "done")
        assert action.detail == "westeurope set Disabled in Traffic Manager"
        assert "X-Cache-Status STALE" in action.reason
        assert lab.policy("westeurope").reason.startswith("disabled by regionwatch since")
        assert [r["class"] for r in action.evidence["results"]] == ["content"]
        assert len(await lab.events(EventType.ENDPOINT_DISABLED, "westeurope")) == 1


@pytest.mark.parametrize(
    ("fault", "params", "https"),
    [
        (Fault.ERROR, {"status": 500}, {}),
        (Fault.HANG, {}, {"timeout": "200ms"}),
    ],
    ids=["every-tenth-5xx", "every-tenth-times-out"],
)
async def test_a_flaky_region_is_never_disabled(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    fault: Fault,
    params: dict[str, Any],
    https: dict[str, Any],
) -> None:
    """One request in ten failing (a bad pod out of ten), right after a deploy: some rounds
    fail, never three in a row, and over 30 rounds nothing is disabled or even recorded
    (timeouts, network failures, would at worst wait for a second witness)."""
    # A gap long enough to span the healthy rounds between two failing ones: only those
    # healthy rounds keep the failing ones from counting together.
    async with stepped(seeded, two_regions, write_config, https=https, streak_gap="5m") as lab:
        await lab.deploy("westeurope", "2.0.0")
        two_regions["westeurope"].inject(fault, every=10, **params)
        statuses = []
        for _ in range(30):
            snapshot = await lab.round()
            statuses.append(snapshot.regions["westeurope"].status.value)
            stance = lab.policy("westeurope").stance
            assert stance in (Stance.SERVING, Stance.COUNTING) or (
                fault is Fault.HANG and stance is Stance.INCONCLUSIVE
            )
        assert "failing" in statuses
        assert lab.status("westeurope") == "Enabled"
        assert await lab.actions() == []
        assert await lab.events(EventType.ACTION_REFUSED) == []
        assert lab.patches() == []


async def test_every_region_failing_at_once_disables_nothing(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """Both regions failing from here at once, deploys or not: the fault is more likely on this
    side; both are inconclusive, with a `region.inconclusive` event each, and nothing acts."""
    async with stepped(seeded, two_regions, write_config) as lab:
        for region in two_regions:
            await bad_deploy(lab, two_regions, region)
        await lab.rounds(5)
        for region in two_regions:
            assert lab.status(region) == "Enabled"
            held = lab.policy(region)
            assert held.stance is Stance.INCONCLUSIVE
            assert held.reason.startswith("every region failed from here within the last")
            (event,) = await lab.events(EventType.REGION_INCONCLUSIVE, region)
            assert "every region failed from here within the last" in event.summary
        assert await lab.actions() == []
        assert lab.patches() == []


# --- network failures: a second witness -----------------------------------------------------


async def test_refused_connections_wait_for_traffic_managers_degraded_then_disable(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """Connections refused, seen from our single vantage point: inconclusive, waiting for a
    second witness, however long it lasts; once Traffic Manager's own probes say Degraded
    (after our failures began), the region is disabled, the witness named in the reason."""
    async with stepped(seeded, two_regions, write_config) as lab:
        await lab.deploy("westeurope", "2.0.0")
        two_regions["westeurope"].inject(Fault.REFUSE)
        await lab.rounds(5)
        assert lab.status("westeurope") == "Enabled"
        held = lab.policy("westeurope")
        assert held.stance is Stance.INCONCLUSIVE
        assert "waiting for a second witness" in held.reason
        (event,) = await lab.events(EventType.REGION_INCONCLUSIVE, "westeurope")
        assert "waiting for a second witness" in event.summary
        assert await lab.actions() == []
        seeded.force_monitor_status("westeurope", "Degraded")
        await lab.round()
        assert lab.status("westeurope") == "Disabled"
        assert lab.policy("westeurope").stance is Stance.OUT
        (action,) = await lab.actions("westeurope")
        assert (action.action, action.status, action.guard) == ("disable", "done", None)
        assert action.detail == "westeurope set Disabled in Traffic Manager"
        assert "Traffic Manager's own probes say Degraded" in action.reason
        assert action.evidence["witness"] is not None
        assert action.evidence["content_rounds"] == 0
        assert len(await lab.events(EventType.ENDPOINT_DISABLED, "westeurope")) == 1


@pytest.mark.parametrize(
    "no_witness", ["monitor-path-is-healthz", "always-serve", "degraded-before-our-failures"]
)
async def test_traffic_managers_degraded_is_no_witness_when_it_cannot_tell(
    tm: TrafficManagerEmulator,
    azure_identity: None,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    no_witness: str,
) -> None:
    """Traffic Manager's Degraded is no second witness when it probes our own /healthz (our
    verdict echoed back), when the endpoint is Always Serve (Unmonitored: not probed at all),
    or when it said Degraded before our failures began: refused connections never disable."""
    seed(tm, two_regions, monitor_path="/healthz" if no_witness.startswith("monitor") else "/")
    if no_witness == "always-serve":
        profile = tm.profile()
        tm.state.patch_endpoint(
            tm.subscription_id,
            tm.resource_group,
            profile.name,
            "ExternalEndpoints",
            "westeurope",
            {"properties": {"alwaysServe": "Enabled"}},
        )
    if no_witness == "degraded-before-our-failures":
        tm.force_monitor_status("westeurope", "Degraded")
    async with stepped(tm, two_regions, write_config) as lab:
        await lab.deploy("westeurope", "2.0.0")
        two_regions["westeurope"].inject(Fault.REFUSE)
        await lab.rounds(3)
        tm.force_monitor_status("westeurope", "Degraded")
        await lab.rounds(4)
        assert lab.status("westeurope") == "Enabled"
        held = lab.policy("westeurope")
        assert held.stance is Stance.INCONCLUSIVE
        assert "waiting for a second witness" in held.reason
        assert await lab.actions() == []
        assert lab.patches() == []


# --- guard rails ------------------------------------------------------------------------------


async def test_the_last_enabled_endpoint_is_never_disabled(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """centralus disabled by an operator, westeurope's bad deploy: refused by min_enabled (and
    Europe would have no answer), recorded once with an `action.refused` event."""
    seeded.set_endpoint_status("centralus", "Disabled")
    async with stepped(seeded, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(6)
        assert lab.status("westeurope") == "Enabled"
        held = lab.policy("westeurope")
        assert held.stance is Stance.WITHHELD
        assert "fewer than failover.min_enabled (1)" in held.reason
        assert lab.healthz("westeurope") == 200
        refusal = await refused_once(lab, "westeurope", "min_enabled")
        assert refusal.detail.startswith(
            "disabling westeurope would leave 0 enabled endpoints, fewer than "
            "failover.min_enabled (1)"
        )
        assert refusal.uncovered == ("GEO-EU (Europe)",)


async def test_a_geography_without_a_world_fallback_is_never_left_without_an_answer(
    tm: TrafficManagerEmulator,
    azure_identity: None,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """A Geographic profile where centralus maps GEO-NA, not WORLD: nothing else answers for
    Europe (its only parent, WORLD, is mapped by nobody), so disabling westeurope is refused by
    coverage, naming GEO-EU (Europe)."""
    seed(tm, two_regions, geo_mapping={"westeurope": ["GEO-EU"], "centralus": ["GEO-NA"]})
    async with stepped(tm, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(6)
        assert lab.status("westeurope") == "Enabled"
        assert lab.policy("westeurope").stance is Stance.WITHHELD
        refusal = await refused_once(lab, "westeurope", "coverage")
        assert refusal.uncovered == ("GEO-EU (Europe)",)
        assert refusal.detail == (
            "disabling westeurope would leave GEO-EU (Europe) with no endpoint: users there "
            "would get no answer"
        )


async def test_the_only_world_endpoint_is_never_disabled(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """centralus holds WORLD alone: its bad deploy is refused by coverage, naming WORLD (World),
    since everyone outside Europe would get no answer."""
    async with stepped(seeded, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "centralus")
        await lab.rounds(6)
        assert lab.status("centralus") == "Enabled"
        assert lab.policy("centralus").stance is Stance.WITHHELD
        refusal = await refused_once(lab, "centralus", "coverage")
        assert refusal.uncovered == ("WORLD (World)",)
        assert refusal.detail == (
            "disabling centralus would leave WORLD (World) with no endpoint: users there would "
            "get no answer"
        )


async def test_a_degraded_receiver_still_takes_the_users(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """centralus only degraded (HSTS missing) while westeurope's bad deploy fails: degraded
    serves, so westeurope is disabled with centralus taking its users."""
    two_regions["centralus"].inject(Fault.NO_HSTS)
    async with stepped(seeded, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        snapshot = (await lab.rounds(3))[-1]
        assert snapshot.regions["centralus"].status.value == "degraded"
        assert lab.status("westeurope") == "Disabled"
        (action,) = await lab.actions("westeurope")
        assert (action.action, action.status) == ("disable", "done")
        assert "centralus is healthy and covers WORLD" in action.reason


async def test_a_failing_receiver_refuses_the_disable(
    tm: TrafficManagerEmulator,
    azure_identity: None,
    three_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """Three regions; westeurope's bad deploy while centralus, which would take Europe's users
    (WORLD), fails too and eastus is healthy (so not everything fails from here): refused by
    receivers, naming centralus."""
    seed(tm, three_regions, geo_mapping=THREE_GEOS)
    async with stepped(tm, three_regions, write_config) as lab:
        three_regions["centralus"].inject(Fault.ERROR, status=500)
        await bad_deploy(lab, three_regions, "westeurope")
        await lab.rounds(5)
        assert lab.status("westeurope") == "Enabled"
        assert lab.policy("westeurope").stance is Stance.WITHHELD
        refusal = await refused_once(lab, "westeurope", "receivers")
        assert refusal.detail == (
            "the endpoints that would take westeurope's users are not healthy by our probes: "
            "centralus (failing)"
        )
        assert refusal.uncovered == ()
        assert await lab.actions("centralus") == []


async def test_the_rate_limit_refuses_a_second_disable_within_the_hour(
    tm: TrafficManagerEmulator,
    azure_identity: None,
    three_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """max_disables_per_hour: 1 with three regions: westeurope's bad deploy is disabled, then
    eastus's is refused by the rate limit, once."""
    seed(tm, three_regions, geo_mapping=THREE_GEOS)
    async with stepped(tm, three_regions, write_config, max_disables_per_hour=1) as lab:
        await bad_deploy(lab, three_regions, "westeurope")
        await lab.rounds(3)
        assert lab.status("westeurope") == "Disabled"
        await bad_deploy(lab, three_regions, "eastus")
        await lab.rounds(5)
        assert lab.status("eastus") == "Enabled"
        assert lab.policy("eastus").stance is Stance.WITHHELD
        refusal = await refused_once(lab, "eastus", "rate")
        assert refusal.detail == (
            "1 disable in the last hour already (failover.max_disables_per_hour: 1)"
        )


async def test_the_cooldown_refuses_disabling_the_same_endpoint_again_soon(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """westeurope disabled, fixed and enabled again, then failing anew within the cooldown:
    the second disable is refused by the cooldown, recorded once however long it lasts."""
    async with stepped(
        seeded, two_regions, write_config, cooldown="10m", max_disables_per_hour=5
    ) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(3)
        two_regions["westeurope"].heal()
        await lab.rounds(5)
        assert lab.status("westeurope") == "Enabled"
        two_regions["westeurope"].inject(Fault.ERROR, status=500)
        await lab.rounds(6)
        assert lab.status("westeurope") == "Enabled"
        assert lab.policy("westeurope").stance is Stance.WITHHELD
        actions = await lab.actions("westeurope")
        assert [(a.action, a.status, a.guard) for a in actions] == [
            ("disable", "done", None),
            ("enable", "done", None),
            ("disable", "refused", "cooldown"),
        ]
        assert actions[-1].detail == (
            "westeurope was disabled at 2026-11-02 14:00:30 UTC, less than failover.cooldown "
            "(10m) ago"
        )
        assert len(await lab.events(EventType.ACTION_REFUSED, "westeurope")) == 1


# --- deploy windows ---------------------------------------------------------------------------


async def test_outside_a_deploy_window_with_no_bar_a_failing_region_is_alert_only(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """failing_rounds_without_deploy: null, and a failure with no deploy behind it: the region is
    alert_only however long it fails, and nothing is decided or recorded."""
    async with stepped(
        seeded, two_regions, write_config, failing_rounds_without_deploy=None
    ) as lab:
        two_regions["westeurope"].inject(Fault.ERROR, status=500)
        await lab.rounds(15)
        assert lab.status("westeurope") == "Enabled"
        held = lab.policy("westeurope")
        assert held.stance is Stance.ALERT_ONLY
        assert "outside a deploy window nothing acts" in held.reason
        assert held.failing is not None and held.failing.rounds == 15
        assert await lab.actions() == []
        assert lab.patches() == []


async def test_outside_a_deploy_window_a_failing_region_is_disabled_after_the_longer_bar(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """failing_rounds_without_deploy: 5 and no deploy: still counting at the third failing round
    (a deploy's bar), disabled at the fifth, with no deploy in the reason."""
    async with stepped(seeded, two_regions, write_config, failing_rounds_without_deploy=5) as lab:
        two_regions["westeurope"].inject(Fault.ERROR, status=500)
        await lab.rounds(4)
        assert lab.status("westeurope") == "Enabled"
        held = lab.policy("westeurope")
        assert held.stance is Stance.COUNTING
        assert held.next == "disable after 1 more failing round"
        await lab.round()
        assert lab.status("westeurope") == "Disabled"
        (action,) = await lab.actions("westeurope")
        assert (action.action, action.status) == ("disable", "done")
        assert action.reason.startswith("westeurope failed 5 rounds in a row over 40 s: ")
        assert action.evidence["deploy"] is None


# --- putting a region back --------------------------------------------------------------------


async def test_a_second_bad_deploy_within_a_day_needs_twice_the_healthy_rounds(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """Disabled, healed and enabled after five healthy rounds; an hour later a second bad
    deploy is disabled again and, fixed, is enabled only after ten healthy rounds (back-off)."""
    async with stepped(seeded, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(3)
        two_regions["westeurope"].heal()
        await lab.rounds(5)
        assert lab.status("westeurope") == "Enabled"
        lab.clock.advance(3600)
        await bad_deploy(lab, two_regions, "westeurope", "2.0.1")
        await lab.rounds(3)
        assert lab.status("westeurope") == "Disabled"
        two_regions["westeurope"].heal()
        await lab.rounds(9)
        assert lab.status("westeurope") == "Disabled"
        held = lab.policy("westeurope")
        assert held.stance is Stance.RECOVERING
        assert held.next == "enable after 1 more healthy round (back-off after 2 disables in 24 h)"
        await lab.round()
        assert lab.status("westeurope") == "Enabled"
        actions = await lab.actions("westeurope")
        assert [(a.action, a.status) for a in actions] == [
            ("disable", "done"),
            ("enable", "done"),
            ("disable", "done"),
            ("enable", "done"),
        ]
        assert actions[-1].evidence == {"healthy_rounds": 10, "needed": 10, "disables_in_24h": 2}


async def test_a_healthy_region_we_disabled_is_enabled_at_once_when_the_rest_fail(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """Never strand users: westeurope disabled by us and healthy again, then centralus (the
    only one enabled) fails: westeurope is enabled in the same round, long before its five
    healthy rounds, with a critical `endpoint.enabled`."""
    async with stepped(seeded, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(3)
        assert lab.status("westeurope") == "Disabled"
        two_regions["westeurope"].heal()
        two_regions["centralus"].inject(Fault.ERROR, status=500)
        await lab.round()
        assert lab.status("westeurope") == "Enabled"
        assert lab.status("centralus") == "Enabled"
        assert lab.healthz("westeurope") == 200
        actions = await lab.actions("westeurope")
        assert [(a.action, a.status, a.urgent) for a in actions] == [
            ("disable", "done", False),
            ("enable", "done", True),
        ]
        assert "whatever the back-off" in actions[-1].reason
        (enabled,) = await lab.events(EventType.ENDPOINT_ENABLED, "westeurope")
        assert enabled.severity.value == "critical"
        assert enabled.evidence["urgent"] is True
        await lab.rounds(3)
        assert lab.status("westeurope") == "Enabled"
        assert await lab.actions("centralus") == []


async def test_a_failed_rescue_is_tried_again_on_new_evidence_not_on_its_own_report(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """Never strand users, with Azure failing every write: the urgent enable of westeurope is
    tried (its attempts and retries) and failed once; its failure alone decides nothing more
    (no loop at the actuator's pace); each new piece of evidence (the read, the next round)
    tries it once more."""
    async with stepped(seeded, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(3)
        assert lab.status("westeurope") == "Disabled"
        seeded.faults.add(method="PATCH", path_contains=PROFILE, status=500, count=None)
        two_regions["westeurope"].heal()
        two_regions["centralus"].inject(Fault.ERROR, status=500)
        await lab.probe()
        enables = [a for a in await lab.actions("westeurope") if a.action == "enable"]
        assert [(a.status, a.urgent) for a in enables] == [("failed", True)]
        await lab.end_round()
        enables = [a for a in await lab.actions("westeurope") if a.action == "enable"]
        assert [a.status for a in enables] == ["failed", "failed"]
        await lab.probe()
        enables = [a for a in await lab.actions("westeurope") if a.action == "enable"]
        assert [a.status for a in enables] == ["failed", "failed", "failed"]


# --- ownership --------------------------------------------------------------------------------


async def test_an_operators_disable_is_never_undone(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """westeurope disabled by an operator in Traffic Manager: theirs; however healthy it is,
    regionwatch never enables it (no action, no PATCH), and /healthz says 503 for it."""
    async with stepped(seeded, two_regions, write_config) as lab:
        seeded.set_endpoint_status("westeurope", "Disabled")
        await lab.rounds(8)
        assert lab.status("westeurope") == "Disabled"
        held = lab.policy("westeurope")
        assert held.stance is Stance.OPERATOR
        assert "disabled in Traffic Manager by someone else" in held.reason
        assert lab.healthz("westeurope") == 503
        assert await lab.actions() == []
        assert lab.patches() == []


async def test_an_operator_enabling_our_disable_is_respected_until_it_recovers_and_fails_anew(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """An operator enables the endpoint regionwatch disabled while the region still fails: it
    is left enabled, held by a pin in their name (stored, with `pin.started`); once the region
    has recovered (five healthy rounds) the pin ends by itself (`pin.ended`), and when it fails
    anew, it is disabled again."""
    async with stepped(seeded, two_regions, write_config, max_disables_per_hour=2) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(3)
        assert lab.status("westeurope") == "Disabled"
        seeded.set_endpoint_status("westeurope", "Enabled")
        await lab.rounds(6)
        assert lab.status("westeurope") == "Enabled"
        held = lab.policy("westeurope")
        assert held.stance is Stance.PINNED
        assert held.reason.startswith("pinned by Traffic Manager (someone else) until the region")
        assert "enabled again in Traffic Manager by someone else" in held.reason
        assert lab.healthz("westeurope") == 200
        assert len(await lab.actions("westeurope")) == 1
        (pin,) = await lab.service.store.controls(in_force=True)
        assert (pin.kind, pin.region, pin.by, pin.until) == (
            ControlKind.PIN,
            "westeurope",
            "Traffic Manager (someone else)",
            None,
        )
        assert lab.service.snapshot.controls.pin("westeurope", lab.clock.now()) == pin
        assert len(await lab.events(EventType.PIN_STARTED, "westeurope")) == 1
        two_regions["westeurope"].heal()
        await lab.rounds(5)
        assert lab.policy("westeurope").stance is Stance.SERVING
        assert await lab.service.store.controls(in_force=True) == []
        (ended,) = await lab.events(EventType.PIN_ENDED, "westeurope")
        assert "westeurope has recovered" in ended.summary
        two_regions["westeurope"].inject(Fault.ERROR, status=500)
        await lab.rounds(2)
        assert lab.status("westeurope") == "Enabled"
        await lab.round()
        assert lab.status("westeurope") == "Disabled"
        actions = await lab.actions("westeurope")
        assert [(a.action, a.status) for a in actions] == [("disable", "done"), ("disable", "done")]
        assert len(lab.patches("westeurope")) == 2


@pytest.mark.parametrize("mode", ["enforce", "dry-run"])
async def test_an_endpoint_an_operator_disables_before_our_write_stays_theirs(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    mode: str,
) -> None:
    """The disable is decided on a read that showed westeurope Enabled, and an operator
    disables it before the actuator's fresh read: nothing is written, the action is recorded
    as superseded (in dry-run: as nothing that would be written), and once the region heals it
    stays Disabled, the operator's, with no PATCH ever sent."""
    async with stepped(seeded, two_regions, write_config, mode=mode) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(2)
        seeded.set_endpoint_status("westeurope", "Disabled")  # after the last read
        await lab.probe()
        (action,) = await lab.actions("westeurope")
        if mode == "enforce":
            assert (action.status, action.attempts) == ("superseded", 0)
            assert action.detail == (
                "westeurope was Disabled already, by someone else: regionwatch leaves it to them"
            )
        else:
            assert (action.status, action.attempts) == ("dry_run", 0)
            assert action.detail.startswith("westeurope is Disabled already: nothing would be")
        await lab.end_round()
        two_regions["westeurope"].heal()
        await lab.rounds(8)
        assert lab.status("westeurope") == "Disabled"
        assert lab.policy("westeurope").stance is Stance.OPERATOR
        assert len(await lab.actions("westeurope")) == 1
        assert lab.patches() == []


async def test_after_leaving_enforce_never_stranding_users_writes_nothing(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """westeurope disabled in enforce mode; restarted in dry-run, it heals while centralus, the
    only one enabled, fails: enabling westeurope at once is decided and recorded as dry-run,
    and Traffic Manager is not written again (dry-run never writes, not even to rescue)."""
    clock = ManualClock(START)
    async with stepped(seeded, two_regions, write_config, clock=clock) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(3)
        assert lab.status("westeurope") == "Disabled"
    two_regions["westeurope"].heal()
    two_regions["centralus"].inject(Fault.ERROR, status=500)
    async with stepped(
        seeded, two_regions, write_config, clock=clock, first_round=False, mode="dry-run"
    ) as lab:
        await lab.rounds(2)
        assert lab.status("westeurope") == "Disabled"
        assert len(lab.patches()) == 1
        actions = await lab.actions("westeurope")
        assert [(a.action, a.mode, a.attempts) for a in actions] == [
            ("disable", "enforce", 1),
            ("enable", "dry-run", 0),
        ]
        assert "so users are not stranded" in actions[1].reason


# --- carrying it out, exactly once ------------------------------------------------------------


TOKEN = "/oauth2/v2.0/token"
PROFILE = "/trafficmanagerprofiles/blog"


SET = "westeurope set Disabled in Traffic Manager"
FOUND_DONE = "westeurope is Disabled already (an earlier attempt had landed)"


@pytest.mark.parametrize(
    ("azure_fault", "patches", "attempts", "detail"),
    [
        pytest.param("throttled", [429, 200], 2, SET, id="throttled"),
        pytest.param("server-error", [500, 200], 2, SET, id="server-error"),
        pytest.param("landed-then-500", [500], 1, FOUND_DONE, id="landed-then-500"),
        pytest.param("landed-then-unreadable", [500], 1, FOUND_DONE, id="landed-then-unreadable"),
        # The PATCH is still unanswered (and so not yet logged) when the test ends.
        pytest.param("landed-then-too-late", [], 1, FOUND_DONE, id="landed-then-too-late"),
        pytest.param("token-too-late", [200], 1, SET, id="token-too-late"),
    ],
)
async def test_azure_faults_during_a_disable_are_retried_and_it_is_done_once(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    azure_fault: str,
    patches: list[int],
    attempts: int,
    detail: str,
) -> None:
    """Azure failing while the disable is carried out (throttled with Retry-After, a 5xx; after
    the write had landed, a 5xx, then reads failing, or no answer in time; Entra not answering
    in time for a new token): retried, each PATCH recorded as an attempt, and done once: one
    `endpoint.disabled`, no second PATCH once a fresh read finds it done, and the endpoint ours
    (out, not an operator's)."""
    timeouts = azure_fault.endswith("too-late")
    async with stepped(
        seeded,
        two_regions,
        write_config,
        traffic_manager=short_deadlines if timeouts else quick_reads,
    ) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(2)
        faults = seeded.faults
        match azure_fault:
            case "throttled":
                rule = faults.add(method="PATCH", status=429, headers={"Retry-After": "1"})
            case "server-error":
                rule = faults.add(method="PATCH", status=500)
            case "landed-then-500":
                rule = faults.add(method="PATCH", status=500, lands=True)
            case "landed-then-unreadable":
                # The first read answered (a delay only); the read after the PATCH failing
                # every one of its tries.
                faults.add(method="GET", path_contains=PROFILE, status=None, delay=0.001)
                rule = faults.add(method="PATCH", status=500, lands=True)
                faults.add(method="GET", path_contains=PROFILE, status=500, count=3)
            case "landed-then-too-late":
                rule = faults.add(method="PATCH", status=None, delay=600, lands=True)
            case "token-too-late":
                seeded.clock.advance(7200)  # every token issued so far has expired
                rule = faults.add(method="POST", path_contains=TOKEN, status=None, delay=600)
        await lab.probe()  # the third failing round: decided and carried out
        assert rule.hits == 1
        assert lab.status("westeurope") == "Disabled"
        assert [p.status for p in lab.patches()] == patches
        (action,) = await lab.actions("westeurope")
        assert (action.action, action.status, action.attempts) == ("disable", "done", attempts)
        assert action.detail == detail
        (disabled,) = await lab.events(EventType.ENDPOINT_DISABLED, "westeurope")
        assert disabled.evidence["detail"] == detail
        await lab.end_round()
        await lab.rounds(3)
        assert lab.policy("westeurope").stance is Stance.OUT
        assert [p.status for p in lab.patches()] == patches
        assert len(await lab.actions("westeurope")) == 1


async def test_a_write_that_may_have_landed_and_cannot_be_read_back_is_failed_not_refused(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """The PATCH lands but is answered 500, and every read after it fails: after the attempts,
    the disable is `failed` (`action.failed`, saying the write may have landed), never refused
    as if nothing had been written; no second PATCH."""
    async with stepped(seeded, two_regions, write_config, traffic_manager=quick_reads) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(2)
        seeded.faults.add(method="GET", path_contains=PROFILE, status=None, delay=0.001)
        seeded.faults.add(method="PATCH", status=500, lands=True)
        seeded.faults.add(method="GET", path_contains=PROFILE, status=500, count=None)
        await lab.probe()
        seeded.faults.clear()
        (action,) = await lab.actions("westeurope")
        assert (action.status, action.guard, action.attempts) == ("failed", None, 1)
        assert action.detail.startswith(
            "an earlier attempt may have landed, and Traffic Manager could not be read: "
        )
        assert action.detail.endswith("(after 4 attempts)")
        (failed,) = await lab.events(EventType.ACTION_FAILED, "westeurope")
        assert failed.severity.value == "critical"
        assert await lab.events(EventType.ACTION_REFUSED) == []
        assert [p.status for p in lab.patches()] == [500]


async def test_a_disable_refused_on_the_fresh_read_is_decided_again_on_new_evidence_only(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """An operator disables centralus after the last read: westeurope's disable passes the guard
    rails on the snapshot, and the fresh read just before the write refuses it (min_enabled).
    It is not decided again at once on the same stale view: one refusal, the region withheld
    after the next read; once centralus is enabled again, westeurope is disabled."""
    async with stepped(seeded, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(2)
        seeded.set_endpoint_status("centralus", "Disabled")
        await lab.probe()  # decided on the snapshot, refused on the fresh read
        (refused,) = await lab.actions("westeurope")
        assert (refused.status, refused.guard, refused.attempts) == ("refused", "min_enabled", 0)
        await lab.end_round()
        await lab.rounds(3)
        assert lab.policy("westeurope").stance is Stance.WITHHELD
        assert len(await lab.actions("westeurope")) == 1
        assert len(await lab.events(EventType.ACTION_REFUSED, "westeurope")) == 1
        seeded.set_endpoint_status("centralus", "Enabled")
        await lab.rounds(2)
        assert lab.status("westeurope") == "Disabled"
        actions = await lab.actions("westeurope")
        assert [(a.status, a.guard) for a in actions] == [
            ("refused", "min_enabled"),
            ("done", None),
        ]
        assert lab.patches("centralus") == []


async def test_a_disable_refused_because_traffic_manager_was_unreadable_is_done_at_the_next_read(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """Traffic Manager unreadable just before the write (every read attempt answered 500): the
    disable is refused as `unreadable`, nothing written, and not decided again on the spot;
    the next read of Traffic Manager decides it again and it is done."""
    async with stepped(seeded, two_regions, write_config, traffic_manager=quick_reads) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(2)
        seeded.faults.add(method="GET", path_contains=PROFILE, status=500, count=3)
        await lab.probe()
        assert lab.status("westeurope") == "Enabled"
        (refused,) = await lab.actions("westeurope")
        assert (refused.status, refused.guard, refused.attempts) == ("refused", "unreadable", 0)
        assert refused.detail.startswith("Traffic Manager could not be read just before the write")
        await lab.end_round()
        assert lab.status("westeurope") == "Disabled"
        actions = await lab.actions("westeurope")
        assert [(a.status, a.guard) for a in actions] == [("refused", "unreadable"), ("done", None)]
        assert len(lab.patches()) == 1


# --- one decider, restarts --------------------------------------------------------------------


async def test_a_restarted_decider_continues_the_streak_and_does_not_act_twice(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """Two failing rounds after a deploy, a restart over the same store: the third failing round
    (counted from before the restart, within the deploy's window read back) disables; another
    restart finds the disable in the store: the region stays out, with no second decision and
    no second PATCH."""
    clock = ManualClock(START)
    async with stepped(seeded, two_regions, write_config, clock=clock) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(2)
        assert lab.policy("westeurope").stance is Stance.COUNTING
    async with stepped(seeded, two_regions, write_config, clock=clock, first_round=False) as lab:
        failing = lab.policy("westeurope").failing
        assert failing is not None and failing.rounds == 2
        await lab.round()
        assert lab.status("westeurope") == "Disabled"
    async with stepped(seeded, two_regions, write_config, clock=clock, first_round=False) as lab:
        await lab.rounds(3)
        assert lab.policy("westeurope").stance is Stance.OUT
        assert lab.healthz("westeurope") == 503
        actions = await lab.actions("westeurope")
        assert [(a.action, a.status) for a in actions] == [("disable", "done")]
        assert len(lab.patches("westeurope")) == 1
        assert len(await lab.events(EventType.ENDPOINT_DISABLED, "westeurope")) == 1


async def test_a_second_decider_on_the_same_store_is_refused_naming_the_holder(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """While one decider runs, a second one on the same store does not start: StoreError naming
    the holder (this process) and what to do; the first goes on deciding."""
    async with stepped(seeded, two_regions, write_config) as lab:
        with pytest.raises(StoreError) as refused:
            async with build_service(lab.service.config, clock=lab.clock):
                pass
        message = str(refused.value)
        assert (
            f"(pid {os.getpid()} on {socket.gethostname()}, since 2026-11-02T14:00:00Z)" in message
        )
        assert "one decider per store" in message
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(3)
        assert lab.status("westeurope") == "Disabled"


# --- replay -----------------------------------------------------------------------------------


async def record_a_bad_deploy(lab: Lab, origins: Origins) -> list[ActionRecord]:
    """History to replay: westeurope deployed and failing for five rounds (disabled at the
    third), then fixed and enabled again after five healthy rounds, and two rounds more. The
    audit trail, oldest first."""
    await bad_deploy(lab, origins, "westeurope")
    await lab.rounds(5)
    origins["westeurope"].heal()
    await lab.rounds(7)
    recorded = await lab.actions()
    assert [(a.action, a.status) for a in recorded] in (
        [("disable", "done"), ("enable", "done")],
        [("disable", "dry_run"), ("enable", "dry_run")],
    )
    return recorded


def candidate(lab: Lab, folder: Path, **failover: Any) -> Path:
    """The configuration `lab` runs with, `failover` keys changed, written to a file."""
    document = lab.service.config.model_dump(mode="json", exclude_defaults=True)
    document["failover"] = {**document.get("failover", {}), **failover}
    path = folder / f"candidate-{len(list(folder.glob('candidate-*')))}.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def decided(report: ReplayReport) -> list[tuple[str, str, datetime, str, str]]:
    return [(a.action, a.region, a.at, a.mode, a.result) for a in report.actions]


def recorded_as_decided(
    records: Sequence[ActionRecord],
) -> list[tuple[str, str, datetime, str, str]]:
    return [(a.action, a.region, a.decided_at, a.mode, a.status) for a in records]


async def test_replaying_the_history_with_its_configuration_reproduces_every_decision(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """A bad deploy disabled and put back, replayed next to the running decider (its store
    locked) with the configuration that decided: the same actions, of the same regions, at the
    same times, with the same outcomes and reasons, and no difference."""
    async with stepped(seeded, two_regions, write_config) as lab:
        recorded = await record_a_bad_deploy(lab, two_regions)
        report = await replay(lab.service.config, since=START - timedelta(days=7))
    assert decided(report) == recorded_as_decided(recorded)
    assert [a.reason for a in report.actions] == [r.reason for r in recorded]
    assert [a.recorded_id for a in report.actions] == [r.id for r in recorded]
    assert report.differences == ()
    assert report.same
    assert report.actions[0].in_deploy_window
    assert report.evidence["rounds"] == 2 * 13
    assert report.evidence["deploy_markers"] == 1
    assert report.evidence["traffic_manager_reads"] == 13
    assert report.notes == ()


async def test_a_stricter_candidate_takes_fewer_actions_and_says_which_it_would_not_have_taken(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    tmp_path: Path,
) -> None:
    """With failing_rounds 6 the five failing rounds never disable westeurope: no action, and
    both recorded ones listed as missing, with their times and outcomes."""
    async with stepped(seeded, two_regions, write_config) as lab:
        recorded = await record_a_bad_deploy(lab, two_regions)
        stricter = load_config(candidate(lab, tmp_path, failing_rounds=6))
    report = await replay(stricter, since=START)
    assert report.actions == ()
    assert [(d.kind, d.action, d.region, d.at) for d in report.differences] == [
        ("missing", r.action, r.region, r.decided_at) for r in recorded
    ]
    assert report.differences[0].detail == (
        "recorded: disable of westeurope at 2026-11-02 14:00:30 UTC (done in enforce); "
        "the candidate would not have decided it"
    )
    assert not report.same


async def test_a_dry_run_history_replayed_in_enforce_writes_the_same_actions(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    tmp_path: Path,
) -> None:
    """Recorded in dry-run, replayed in enforce: the disable and the enable at the same times,
    now done rather than dry_run, each a difference naming both; the enable is decided although
    Traffic Manager was never written, since the candidate's own disable is what it reads."""
    async with stepped(seeded, two_regions, write_config, mode="dry-run") as lab:
        recorded = await record_a_bad_deploy(lab, two_regions)
        enforce = load_config(candidate(lab, tmp_path, mode="enforce"))
    report = await replay(enforce, since=START)
    assert decided(report) == [
        (r.action, r.region, r.decided_at, "enforce", "done") for r in recorded
    ]
    assert [(d.kind, d.action, d.recorded) for d in report.differences] == [
        ("changed", r.action, r) for r in recorded
    ]
    assert report.differences[0].detail == (
        "disable of westeurope at 2026-11-02 14:00:30 UTC: recorded dry_run in dry-run, "
        "the candidate done in enforce"
    )


async def test_since_limits_the_replay_to_its_window_starting_where_the_decider_stood(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """Replayed from just after the disable: only the enable is in the window, and it is
    reproduced (the replay starts with westeurope held out, as the store says it was), with no
    difference; the disable before the window is neither replayed nor compared."""
    async with stepped(seeded, two_regions, write_config) as lab:
        disable, enable = await record_a_bad_deploy(lab, two_regions)
    since = disable.decided_at + timedelta(seconds=5)
    report = await replay(lab.service.config, since=since)
    assert decided(report) == recorded_as_decided([enable])
    assert report.recorded == (enable,)
    assert report.differences == ()
    assert report.evidence["rounds"] < 2 * 13


async def test_the_replay_command_beside_the_running_decider_prints_its_actions_and_no_difference(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    tmp_path: Path,
) -> None:
    """`regionwatch replay` as a process, while the decider runs and holds the store's lock,
    with the configuration that decided: exit 0, what it would have done in words (the
    disable within a deploy window, the enable, each with its time and reason), and no
    difference; nothing on stderr."""
    async with stepped(seeded, two_regions, write_config) as lab:
        disable, enable = await record_a_bad_deploy(lab, two_regions)
        code, out, err = await run_cli(
            "replay", "--config", str(candidate(lab, tmp_path)), "--since", "2026-11-02T13:00:00Z"
        )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[1:3] == [
        "enforce would have disabled westeurope once since 2026-11-02 13:00:00 UTC; "
        "1 was within a deploy window",
        "enforce would have enabled westeurope once since 2026-11-02 13:00:00 UTC",
    ]
    assert "  2026-11-02 14:00:30 UTC  disable westeurope: done (enforce; as recorded)" in lines
    assert f"    why: {disable.reason}" in lines
    assert f"    why: {enable.reason}" in lines
    assert lines[-1] == "the same as the recorded decisions (2 in the window): no difference"


async def test_the_replay_command_prints_a_stricter_candidates_differences_as_json(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    tmp_path: Path,
) -> None:
    """`regionwatch replay --json --store PATH` with a stricter candidate whose own
    storage.path names no store: one JSON document, no action, both recorded ones missing."""
    async with stepped(seeded, two_regions, write_config) as lab:
        recorded = await record_a_bad_deploy(lab, two_regions)
        store = lab.service.config.storage.path
        stricter = candidate(lab, tmp_path, failing_rounds=6)
    document = yaml.safe_load(stricter.read_text(encoding="utf-8"))
    document["storage"] = {"path": str(tmp_path / "elsewhere.db")}
    stricter.write_text(yaml.safe_dump(document), encoding="utf-8")
    code, out, err = await run_cli(
        "replay",
        "--config",
        str(stricter),
        "--store",
        str(store),
        "--since",
        "2026-11-02",
        "--json",
    )
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert (report["mode"], report["same"], report["actions"], report["summary"]) == (
        "enforce",
        False,
        [],
        [],
    )
    assert [(d["kind"], d["action"], d["recorded"]) for d in report["differences"]] == [
        ("missing", r.action, r.id) for r in recorded
    ]
    assert [r["id"] for r in report["recorded"]] == [r.id for r in recorded]
    assert report["evidence"] == {"rounds": 26, "traffic_manager_reads": 13, "deploy_markers": 1}


async def test_the_replay_command_exits_2_on_a_bad_candidate_and_3_without_a_store(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    tmp_path: Path,
) -> None:
    """A candidate with a wrong value: exit 2 and one line naming the file and the key; a
    store that does not exist: exit 3 and one line naming it and what to do. Nothing on
    stdout either time."""
    async with stepped(seeded, two_regions, write_config, first_round=False) as lab:
        wrong = candidate(lab, tmp_path, failing_rounds="many")
        right = candidate(lab, tmp_path)
    code, out, err = await run_cli("replay", "--config", str(wrong))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"regionwatch replay: {wrong}: failover.failing_rounds: expected a whole number, got 'many'"
    ]
    missing = tmp_path / "nowhere.db"
    code, out, err = await run_cli("replay", "--config", str(right), "--store", str(missing))
    assert (code, out) == (3, "")
    assert err.splitlines() == [
        f"store error: the store at {missing} does not exist: give the decider's storage.path "
        "(in the configuration, or with --store)"
    ]


def by_hand(report: ReplayReport) -> list[tuple[str, str, str, str, str, str]]:
    """A person's commands as the replay ended them: action, region, by, mode, result, id."""
    replayed = [h.replayed for h in report.by_hand]
    return [(h.action, h.region, h.by, h.mode, h.result, h.id) for h in replayed if h is not None]


def recorded_by_hand(records: Sequence[ActionRecord]) -> list[tuple[str, str, str, str, str, str]]:
    return [(r.action, r.region, r.by, r.mode, r.status, r.id) for r in records]


def split(records: Sequence[ActionRecord]) -> tuple[list[ActionRecord], list[ActionRecord]]:
    """The policy's recorded decisions, and a person's commands."""
    return [r for r in records if r.source == "policy"], [
        r for r in records if r.source != "policy"
    ]


async def test_a_replay_reproduces_a_pin_holding_a_failing_region_in_until_it_expires(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """westeurope pinned for five minutes over its bad deploy, disabled only when the pin
    expires: replayed with the configuration that decided, from before the pin and from inside
    it (the pin restored as in force there, as a restart would), the one disable at the pin's
    end, as recorded, and no difference."""
    async with stepped(seeded, two_regions, write_config) as lab:
        pin = a_control(lab, ControlKind.PIN, "westeurope", lasting=300)
        await command(lab, started=[pin])
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(6)
        assert pin.until is not None
        lab.clock.advance((pin.until - lab.clock.now()).total_seconds())
        await lab.read()
        await lab.rounds(2)
        recorded = await lab.actions()
        assert [(a.action, a.status, a.decided_at) for a in recorded] == [
            ("disable", "done", pin.until)
        ]
        whole = await replay(lab.service.config, since=START - timedelta(days=7))
        inside = await replay(lab.service.config, since=pin.since + timedelta(seconds=15))
    for report in (whole, inside):
        assert decided(report) == recorded_as_decided(recorded)
        assert [a.recorded_id for a in report.actions] == [r.id for r in recorded]
        assert report.differences == ()
    assert whole.evidence["control_changes"] == 1
    assert "control_changes" not in inside.evidence


async def test_a_replay_reproduces_a_pause_that_stopped_a_disable_and_the_resume_that_took_it(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """westeurope's disable decided, then failover paused a second later, before the write:
    refused by `paused`; paused for three rounds more, nothing decided; resumed, the disable
    decided again and done. Replayed with the configuration that decided: the refusal and the
    disable at their recorded times and outcomes, nothing decided while paused, no
    difference."""
    async with stepped(seeded, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(2)
        slow = seeded.faults.add(method="GET", path_contains=PROFILE, status=None, delay=1.0)
        third = asyncio.create_task(lab.probe())  # the third failing round: decided
        await eventually(lambda: slow.hits == 1)  # the actuator's fresh read, held
        lab.clock.advance(1)
        pause = a_control(lab, ControlKind.PAUSE, None, lasting=None)
        await lab.service.store.save_control(pause)
        await lab.service.engine.apply(ControlsChanged(started=(pause,)))
        await third
        await lab.end_round()
        await lab.rounds(2)
        await command(lab, ended=[pause.ended(lab.clock.now(), by="bob", reason="fixed")])
        await lab.rounds(2)
        recorded = await lab.actions()
        assert [(a.action, a.status, a.guard) for a in recorded] == [
            ("disable", "refused", "paused"),
            ("disable", "done", None),
        ]
        report = await replay(lab.service.config, since=START - timedelta(days=7))
    assert decided(report) == recorded_as_decided(recorded)
    assert [a.guard for a in report.actions] == ["paused", None]
    assert report.differences == ()
    assert report.evidence["control_changes"] == 2


async def test_a_replay_reproduces_a_persons_disables_and_enables_and_lists_them_by_hand(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """westeurope disabled by regionwatch after a bad deploy, enabled by bob while it still
    fails (held in, as a pin, until it recovers), healed; then disabled by alice and enabled
    by her. Replayed with the configuration that decided: regionwatch's one disable as its
    action, the three commands by hand with their ids, people and outcomes as recorded, none
    of them compared, no difference."""
    async with stepped(seeded, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(3)
        await lab.command(Action.ENABLE, "westeurope", by="bob")
        await lab.rounds(2)
        two_regions["westeurope"].heal()
        await lab.rounds(6)
        assert lab.policy("westeurope").stance is Stance.SERVING
        await lab.command(Action.DISABLE, "westeurope")
        await lab.rounds(2)
        await lab.command(Action.ENABLE, "westeurope")
        await lab.rounds(2)
        policy, commands = split(await lab.actions())
        assert [(a.action, a.by, a.status) for a in commands] == [
            ("enable", "bob", "done"),
            ("disable", "alice", "done"),
            ("enable", "alice", "done"),
        ]
        report = await replay(lab.service.config, since=START - timedelta(days=7))
    assert report.differences == ()
    assert decided(report) == recorded_as_decided(policy)
    assert by_hand(report) == recorded_by_hand(commands)
    assert [h.replayed.at for h in report.by_hand if h.replayed] == [c.decided_at for c in commands]
    assert all(h.as_recorded for h in report.by_hand)
    assert report.recorded == tuple(policy)
    assert report.evidence["manual_commands"] == 3


async def test_a_replay_reproduces_adopt_then_heal(
    tm: TrafficManagerEmulator,
    azure_identity: None,
    three_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """westeurope and eastus Disabled by someone else; alice adopts westeurope (and is refused
    adopting it again, and centralus); healthy, westeurope is enabled by regionwatch. Replayed
    with the configuration that decided: the enable as recorded (adopted, so regionwatch's to
    enable), the three adopts by hand as recorded, eastus left alone, no difference."""
    seed(tm, three_regions, geo_mapping=THREE_GEOS)
    tm.set_endpoint_status("westeurope", "Disabled")
    tm.set_endpoint_status("eastus", "Disabled")
    async with stepped(tm, three_regions, write_config) as lab:
        await lab.command(Action.ADOPT, "westeurope")
        await lab.command(Action.ADOPT, "westeurope")
        await lab.command(Action.ADOPT, "centralus")
        await lab.rounds(8)
        assert lab.status("westeurope") == "Enabled"
        policy, commands = split(await lab.actions())
        assert [(a.action, a.region, a.status) for a in policy] == [
            ("enable", "westeurope", "done")
        ]
        assert [(a.region, a.status, a.guard) for a in commands] == [
            ("westeurope", "done", None),
            ("westeurope", "refused", "conflict"),
            ("centralus", "refused", "conflict"),
        ]
        report = await replay(lab.service.config, since=START - timedelta(days=7))
    assert report.differences == ()
    assert decided(report) == recorded_as_decided(policy)
    assert by_hand(report) == recorded_by_hand(commands)


class TickingClock(ManualClock):
    """A manual clock that, like a real one, reads a little later every time it is read: the
    actuator's `finished_at` and the engine's time for applying that outcome then differ."""

    def now(self) -> datetime:
        self.advance(0.001)
        return super().now()


async def test_a_replay_reproduces_adopt_after_a_persons_hold_with_a_clock_that_moves(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """With a clock that moves on every reading, as in a real run: alice disables westeurope,
    bob enables it (held in as a pin in bob's name, stored a moment after his enable
    finished), alice disables it again (the hold let go) and adopts it; healthy, it is enabled
    by regionwatch. Replayed with the configuration that decided: that enable as recorded (the
    stored pin is the replay's own hold, not a second one that would never end) and no
    difference."""
    async with stepped(seeded, two_regions, write_config, clock=TickingClock(START)) as lab:
        await lab.command(Action.DISABLE, "westeurope")
        await lab.command(Action.ENABLE, "westeurope", by="bob")
        pins = [c for c in lab.service.snapshot.controls.items if c.kind is ControlKind.PIN]
        assert [p.by for p in pins] == ["bob"]
        await lab.command(Action.DISABLE, "westeurope")
        (let_go,) = await lab.events(EventType.PIN_ENDED, "westeurope")
        assert "westeurope was disabled again since: the hold is over" in let_go.summary
        await lab.command(Action.ADOPT, "westeurope")
        await lab.rounds(6)
        assert lab.status("westeurope") == "Enabled"
        policy, commands = split(await lab.actions())
        assert [(a.action, a.by, a.status) for a in policy] == [("enable", "regionwatch", "done")]
        report = await replay(lab.service.config, since=START - timedelta(days=7))
    assert report.differences == ()
    # Decided at the round's stored time, a moment before the recorded `decided_at`.
    assert [(a.action, a.result, a.recorded_id) for a in report.actions] == [
        (r.action, r.status, r.id) for r in policy
    ]
    assert by_hand(report) == recorded_by_hand(commands)


async def test_a_candidate_replay_lists_a_persons_commands_by_hand_refused_while_paused(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    tmp_path: Path,
) -> None:
    """Recorded in dry-run: failover paused, alice's disable of westeurope refused by the
    pause; resumed, her disable and bob's enable recorded as dry-run. `regionwatch replay`
    with an enforce candidate: no action of regionwatch's and no difference (a person's
    commands are not compared), and a by-hand line for each command: the one while paused
    refused by `paused` (nothing is written while paused, in any mode), the two after it done
    in enforce where the history says dry_run."""
    async with stepped(seeded, two_regions, write_config, mode="dry-run") as lab:
        pause = a_control(lab, ControlKind.PAUSE, None, lasting=None)
        await command(lab, started=[pause])
        stopped = await lab.command(Action.DISABLE, "westeurope")
        await lab.rounds(2)
        await command(lab, ended=[pause.ended(lab.clock.now(), by="bob", reason="go")])
        disabled = await lab.command(Action.DISABLE, "westeurope")
        await lab.rounds(2)
        enabled = await lab.command(Action.ENABLE, "westeurope", by="bob")
        await lab.rounds(2)
        assert [(a.status, a.guard) for a in (stopped, disabled, enabled)] == [
            ("refused", "paused"),
            ("dry_run", None),
            ("dry_run", None),
        ]
        enforce = candidate(lab, tmp_path, mode="enforce")
        code, out, err = await run_cli(
            "replay", "--config", str(enforce), "--since", "2026-11-02T13:00:00Z"
        )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[1] == "enforce would have taken no action since 2026-11-02 13:00:00 UTC"
    start = lines.index("by hand (a person's commands, given as recorded; not compared):")
    assert lines[start + 1 : start + 10] == [
        "  2026-11-02 14:00:10 UTC  disable westeurope by alice: refused by paused "
        "(enforce; recorded refused by paused in dry-run)",
        "    why: alice says so",
        f"    outcome: {stopped.detail}",
        "  2026-11-02 14:00:30 UTC  disable westeurope by alice: done "
        "(enforce; recorded dry_run in dry-run)",
        "    why: alice says so",
        "    outcome: taken as done in the replay",
        "  2026-11-02 14:00:50 UTC  enable westeurope by bob: done "
        "(enforce; recorded dry_run in dry-run)",
        "    why: bob says so",
        "    outcome: taken as done in the replay",
    ]
    assert lines[-1] == "the same as the recorded decisions (0 in the window): no difference"


# --- operator controls: pins, silences, the pause ---------------------------------------------


def a_control(
    lab: Lab, kind: ControlKind, region: str | None, *, lasting: float | None, by: str = "alice"
) -> Control:
    """A pin, silence or pause from now, lasting `lasting` seconds (None: until ended)."""
    now = lab.clock.now()
    until = now + timedelta(seconds=lasting) if lasting is not None else None
    reason = f"{kind.value} for the test"
    return Control(control_id(kind, region, now, by, reason), kind, region, reason, by, now, until)


def paused_warnings(lab: Lab) -> list[str]:
    """The words of the warning that regions are held out while failover is paused."""
    return [
        w.message
        for w in lab.service.snapshot.warnings
        if w.code == "paused_while_holding_disables"
    ]


async def command(
    lab: Lab, *, started: Sequence[Control] = (), ended: Sequence[Control] = ()
) -> None:
    """Controls started or ended as the API does it: stored first, then applied, and the
    decisions that follow carried out."""
    for control in (*started, *ended):
        await lab.service.store.save_control(control)
    await lab.service.engine.apply(ControlsChanged(tuple(started), tuple(ended)))
    await lab.settle()


async def test_a_pin_holds_a_failing_region_in_until_it_expires(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """westeurope pinned for five minutes, then its bad deploy: however many rounds fail, it
    stays enabled (stance pinned, saying by whom and until when, and what it would do), with
    nothing decided; the pin ends by itself at its end (`pin.ended`, stored), and the disable
    due is decided at once and carried out."""
    async with stepped(seeded, two_regions, write_config) as lab:
        pin = a_control(lab, ControlKind.PIN, "westeurope", lasting=300)
        await command(lab, started=[pin])
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(6)
        assert lab.status("westeurope") == "Enabled"
        held = lab.policy("westeurope")
        assert held.stance is Stance.PINNED
        assert held.reason == "pinned by alice until 2026-11-02 14:05:10 UTC: pin for the test"
        assert held.next.startswith("nothing until it ends; then it would disable (westeurope ")
        assert await lab.actions() == []
        (started,) = await lab.events(EventType.PIN_STARTED, "westeurope")
        assert started.evidence["by"] == "alice"
        assert pin.until is not None and lab.clock.now() < pin.until
        lab.clock.advance((pin.until - lab.clock.now()).total_seconds())
        await lab.read()
        assert lab.status("westeurope") == "Disabled"
        (ended,) = await lab.events(EventType.PIN_ENDED, "westeurope")
        assert ended.summary.startswith(
            "westeurope pin ended by regionwatch: expired at 2026-11-02 14:05:10 UTC"
        )
        (stored,) = await lab.service.store.controls()
        assert (stored.ended_by, stored.ended_at) == ("regionwatch", lab.clock.now())
        assert lab.service.snapshot.controls.items == ()


async def test_a_silenced_region_is_neither_acted_on_nor_alerted_on_and_healthz_answers_200(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """westeurope silenced for a minute, then its bad deploy: not disabled (stance silenced),
    its `region.failing` event marked `silenced`; the silence expires (`silence.ended`) and it
    is disabled (503); silenced again while out, /healthz answers 200 for it."""
    async with stepped(seeded, two_regions, write_config) as lab:
        silence = a_control(lab, ControlKind.SILENCE, "westeurope", lasting=60)
        await command(lab, started=[silence])
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(4)
        assert lab.status("westeurope") == "Enabled"
        assert lab.policy("westeurope").stance is Stance.SILENCED
        assert await lab.actions() == []
        (failing,) = await lab.events(EventType.REGION_FAILING, "westeurope")
        assert failing.evidence["silenced"]["id"] == silence.id
        assert (
            "silenced by alice until 2026-11-02 14:01:10 UTC" in failing.evidence["silenced"]["why"]
        )
        assert silence.until is not None
        lab.clock.advance((silence.until - lab.clock.now()).total_seconds())
        await lab.round()  # at its end: it ends, and the disable due is taken
        (ended,) = await lab.events(EventType.SILENCE_ENDED, "westeurope")
        assert "expired at 2026-11-02 14:01:10 UTC" in ended.summary
        assert lab.status("westeurope") == "Disabled"
        assert lab.healthz("westeurope") == 503
        again = a_control(lab, ControlKind.SILENCE, "westeurope", lasting=600)
        await command(lab, started=[again])
        assert lab.healthz("westeurope") == 200
        assert lab.status("westeurope") == "Disabled"


async def test_the_pause_stops_a_disable_already_decided_and_resume_decides_it_afresh(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """The disable is decided and the actuator is reading Traffic Manager (held there by a
    slow answer) when failover is paused: nothing is written, the decision is refused by
    `paused`; while paused, further failing rounds decide nothing (stance paused, with what is
    due); once resumed, the disable is decided again on the evidence as it stands, and done."""
    async with stepped(seeded, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(2)
        slow = seeded.faults.add(method="GET", path_contains=PROFILE, status=None, delay=1.0)
        third = asyncio.create_task(lab.probe())  # the third failing round: decided
        await eventually(lambda: slow.hits == 1)  # the actuator's fresh read, held
        pause = a_control(lab, ControlKind.PAUSE, None, lasting=None)
        await lab.service.store.save_control(pause)
        await lab.service.engine.apply(ControlsChanged(started=(pause,)))
        await third
        assert lab.status("westeurope") == "Enabled"
        assert lab.patches() == []
        (refused,) = await lab.actions("westeurope")
        assert (refused.status, refused.guard, refused.attempts) == ("refused", "paused", 0)
        assert refused.detail.startswith("failover paused by alice since 2026-11-02 14:00:30 UTC")
        await lab.end_round()
        await lab.rounds(2)
        held = lab.policy("westeurope")
        assert held.stance is Stance.PAUSED
        assert held.next.startswith("disable (westeurope failed 5 rounds in a row")
        assert len(await lab.actions("westeurope")) == 1
        assert paused_warnings(lab) == []
        resumed = pause.ended(lab.clock.now(), by="bob", reason="fixed")
        await command(lab, ended=[resumed])
        assert lab.status("westeurope") == "Disabled"
        actions = await lab.actions("westeurope")
        assert [(a.status, a.guard) for a in actions] == [("refused", "paused"), ("done", None)]
        assert "failed 5 rounds in a row" in actions[-1].reason
        (ended,) = await lab.events(EventType.PAUSE_ENDED)
        assert ended.summary.startswith("failover pause ended by bob: fixed")


async def test_a_pause_between_two_attempts_of_a_write_is_failed_maybe_landed_not_refused(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """The first PATCH of a disable is answered 500 (it may have landed), and failover is
    paused while the actuator reads Traffic Manager again: no second PATCH, and the action is
    failed with the write possibly landed, not refused, so a late landing stays regionwatch's
    (it is never taken for someone else's disable)."""
    async with stepped(seeded, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(2)
        seeded.faults.add(method="GET", path_contains=PROFILE, status=None, delay=0.01)
        slow = seeded.faults.add(method="GET", path_contains=PROFILE, status=None, delay=1.0)
        seeded.faults.add(method="PATCH", path_contains=PROFILE, status=500)
        third = asyncio.create_task(lab.probe())  # the third failing round: decided
        await eventually(lambda: slow.hits == 1)  # the read before the second attempt, held
        pause = a_control(lab, ControlKind.PAUSE, None, lasting=None)
        await lab.service.store.save_control(pause)
        await lab.service.engine.apply(ControlsChanged(started=(pause,)))
        await third
        assert [p.status for p in lab.patches("westeurope")] == [500]
        (action,) = await lab.actions("westeurope")
        assert (action.status, action.attempts) == ("failed", 1)
        assert "failover paused by alice" in action.detail
        assert "may still land" in action.detail


async def test_while_paused_a_region_held_out_is_not_put_back_even_to_rescue_users(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """westeurope disabled by us, then failover paused: a warning says regions are held out
    while paused; westeurope heals while centralus fails, and never stranding users waits for
    the pause (no write); resumed, westeurope is enabled at once."""
    async with stepped(seeded, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(3)
        assert lab.status("westeurope") == "Disabled"
        pause = a_control(lab, ControlKind.PAUSE, None, lasting=3600)
        await command(lab, started=[pause])
        (warning,) = paused_warnings(lab)
        assert warning.startswith("failover paused by alice until 2026-11-02 15:00:40 UTC")
        assert "holds westeurope out of rotation" in warning
        two_regions["westeurope"].heal()
        two_regions["centralus"].inject(Fault.ERROR, status=500)
        await lab.rounds(2)
        assert lab.status("westeurope") == "Disabled"
        assert len(lab.patches()) == 1
        await command(lab, ended=[pause.ended(lab.clock.now(), by="bob", reason="go")])
        assert lab.status("westeurope") == "Enabled"
        actions = await lab.actions("westeurope")
        assert [(a.action, a.status, a.urgent) for a in actions] == [
            ("disable", "done", False),
            ("enable", "done", True),
        ]
        assert paused_warnings(lab) == []


async def test_pins_silences_and_the_pause_survive_a_restart(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """A pin, a silence and a pause in force when the service stops are in force after it
    starts again on the same store (the pause still stops decisions); one that ended before
    the stop stays ended."""
    clock = ManualClock(START)
    async with stepped(seeded, two_regions, write_config, clock=clock) as lab:
        pin = a_control(lab, ControlKind.PIN, "centralus", lasting=3600)
        silence = a_control(lab, ControlKind.SILENCE, "westeurope", lasting=3600)
        pause = a_control(lab, ControlKind.PAUSE, None, lasting=None)
        gone = a_control(lab, ControlKind.SILENCE, "centralus", lasting=3600, by="carol")
        await command(lab, started=[pin, silence, pause, gone])
        await command(lab, ended=[gone.ended(clock.now(), by="carol", reason="done")])
    async with stepped(seeded, two_regions, write_config, clock=clock, first_round=False) as lab:
        controls = lab.service.snapshot.controls
        assert set(controls.items) == {pin, silence, pause}
        assert lab.service.snapshot.controls.paused(clock.now())
        await command(lab, ended=[silence.ended(clock.now(), by="bob", reason="done")])
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(4)
        assert lab.status("westeurope") == "Enabled"
        assert lab.policy("westeurope").stance is Stance.PAUSED
        assert lab.policy("centralus").stance is Stance.PINNED
        assert await lab.actions() == []


# --- a person's commands ----------------------------------------------------------------------


async def test_a_manual_disable_is_a_persons_never_enabled_automatically_even_after_a_restart(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """alice disables healthy westeurope through regionwatch: one PATCH, recorded with her name
    (`source` manual), a critical `endpoint.disabled` naming her; the region is hers (operator)
    and, however healthy, never enabled automatically, nor after a restart."""
    async with stepped(seeded, two_regions, write_config) as lab:
        record = await lab.command(Action.DISABLE, "westeurope")
        assert (record.status, record.by, record.source, record.forced) == (
            "done",
            "alice",
            "manual",
            False,
        )
        assert record.detail == "westeurope set Disabled in Traffic Manager"
        assert lab.status("westeurope") == "Disabled"
        (event,) = await lab.events(EventType.ENDPOINT_DISABLED, "westeurope")
        assert event.summary == "westeurope disabled in Traffic Manager by alice: alice says so"
        assert (event.evidence["by"], event.evidence["source"]) == ("alice", "manual")
        await lab.rounds(8)
        held = lab.policy("westeurope")
        assert held.stance is Stance.OPERATOR
        assert held.reason == "disabled by alice via regionwatch: alice says so"
        assert lab.healthz("westeurope") == 503
    async with stepped(seeded, two_regions, write_config, clock=lab.clock) as lab:
        await lab.rounds(8)
        assert lab.status("westeurope") == "Disabled"
        assert lab.policy("westeurope").reason == "disabled by alice via regionwatch: alice says so"
        assert len(await lab.actions()) == 1
        assert len(lab.patches("westeurope")) == 1


@pytest.mark.parametrize(
    ("region", "guard", "setup"),
    [("westeurope", "min_enabled", "centralus-disabled"), ("centralus", "coverage", None)],
    ids=["last-endpoint", "uncovered-geography"],
)
async def test_a_manual_disable_refused_by_a_guard_rail_is_done_with_force_recorded_as_forced(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    region: str,
    guard: str,
    setup: str | None,
) -> None:
    """A person's disable of the last enabled endpoint (min_enabled) or of the only WORLD one
    (coverage) is refused like regionwatch's own, nothing written, an `action.refused` naming
    who asked; with force it is done, recorded as forced with the guard rail it went past, and
    the event says forced."""
    if setup == "centralus-disabled":
        seeded.set_endpoint_status("centralus", "Disabled")
    async with stepped(seeded, two_regions, write_config) as lab:
        refused = await lab.command(Action.DISABLE, region)
        assert (refused.status, refused.guard, refused.by) == ("refused", guard, "alice")
        assert lab.status(region) == "Enabled"
        assert lab.patches(region) == []
        (event,) = await lab.events(EventType.ACTION_REFUSED, region)
        assert event.summary.startswith(f"alice's disable of {region} refused: ")
        forced = await lab.command(Action.DISABLE, region, force=True)
        assert (forced.status, forced.forced, forced.urgent) == ("done", True, False)
        assert guard in [p["guard"] for p in forced.evidence["forced_past"]]
        assert lab.status(region) == "Disabled"
        (disabled,) = await lab.events(EventType.ENDPOINT_DISABLED, region)
        assert disabled.summary.startswith(
            f"{region} disabled in Traffic Manager by alice (forced)"
        )
        assert disabled.evidence["forced"] is True


async def test_a_manual_enable_of_our_disable_is_not_fought_and_clears_the_back_off(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """westeurope disabled by regionwatch after a bad deploy; bob enables it while it still
    fails: Enabled, recorded by bob, and left in however long it fails; our disable no longer
    counts towards the back-off."""
    async with stepped(seeded, two_regions, write_config, max_disables_per_hour=5) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(3)
        assert lab.status("westeurope") == "Disabled"
        record = await lab.command(Action.ENABLE, "westeurope", by="bob")
        assert (record.status, record.by, record.source) == ("done", "bob", "manual")
        assert lab.status("westeurope") == "Enabled"
        await lab.rounds(8)
        assert lab.status("westeurope") == "Enabled"
        held = lab.policy("westeurope")
        assert held.stance is Stance.PINNED  # held in until it recovers, as a pin
        assert "enabled by bob via regionwatch: bob says so" in held.reason
        policy = lab.service.snapshot.policy
        assert policy is not None and [r for r, _ in policy.disables] == []
        assert [(a.action, a.by) for a in await lab.actions("westeurope")] == [
            ("disable", "regionwatch"),
            ("enable", "bob"),
        ]


async def test_the_pin_held_after_a_persons_enable_names_them_and_survives_a_restart(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """bob enables westeurope, disabled by regionwatch, through regionwatch: the pin that holds
    it in until it recovers is by bob (stored, its `pin.started` event and the stance say so),
    not by someone else in Traffic Manager; after a restart it still holds, still by bob."""
    async with stepped(seeded, two_regions, write_config) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(3)
        assert lab.status("westeurope") == "Disabled"
        await lab.command(Action.ENABLE, "westeurope", by="bob")
        pin = lab.service.snapshot.controls.pin("westeurope", lab.clock.now())
        assert pin is not None and (pin.by, pin.until) == ("bob", None)
        (started,) = await lab.events(EventType.PIN_STARTED, "westeurope")
        assert started.evidence["by"] == "bob"
        assert lab.policy("westeurope").reason.startswith("pinned by bob until the region")
    async with stepped(seeded, two_regions, write_config, clock=lab.clock) as lab:
        await lab.rounds(4)
        assert lab.status("westeurope") == "Enabled"
        held = lab.policy("westeurope")
        assert held.stance is Stance.PINNED
        assert held.reason.startswith("pinned by bob until the region has recovered")
        assert "enabled by bob via regionwatch" in held.reason
        (stored,) = await lab.service.store.controls(kind=ControlKind.PIN)
        assert (stored.by, stored.ended_at) == ("bob", None)


async def test_adopt_then_heal_re_enables_only_the_adopted_endpoint(
    tm: TrafficManagerEmulator,
    azure_identity: None,
    three_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """westeurope and eastus Disabled in Traffic Manager before regionwatch starts (a new
    store): both someone else's. Adopting westeurope writes nothing and is recorded
    (`endpoint.adopted`); adopting it again, or centralus (Enabled), is refused as a conflict.
    Healthy, westeurope is enabled after five rounds; eastus stays Disabled."""
    seed(tm, three_regions, geo_mapping=THREE_GEOS)
    tm.set_endpoint_status("westeurope", "Disabled")
    tm.set_endpoint_status("eastus", "Disabled")
    async with stepped(tm, three_regions, write_config) as lab:
        assert lab.policy("westeurope").stance is Stance.OPERATOR
        adopted = await lab.command(Action.ADOPT, "westeurope")
        assert (adopted.status, adopted.source, adopted.by, adopted.attempts) == (
            "done",
            "adopt",
            "alice",
            0,
        )
        assert lab.patches() == []
        (event,) = await lab.events(EventType.ENDPOINT_ADOPTED, "westeurope")
        assert "by alice" in event.summary
        again = await lab.command(Action.ADOPT, "westeurope")
        assert (again.status, again.guard) == ("refused", "conflict")
        assert again.detail == "westeurope is regionwatch's already (disabled by regionwatch)"
        enabled = await lab.command(Action.ADOPT, "centralus")
        assert (enabled.status, enabled.guard) == ("refused", "conflict")
        assert enabled.detail.startswith("centralus is Enabled in Traffic Manager")
        await lab.rounds(4)
        assert lab.status("westeurope") == "Disabled"
        assert lab.policy("westeurope").stance is Stance.RECOVERING
        await lab.round()
        assert lab.status("westeurope") == "Enabled"
        await lab.rounds(3)
        assert lab.status("eastus") == "Disabled"
        assert lab.policy("eastus").stance is Stance.OPERATOR
        assert [p.path.rsplit("/", 1)[-1] for p in lab.patches()] == ["westeurope"]


async def test_the_flap_limit_turns_re_enable_manual_and_a_manual_enable_clears_it(
    seeded: TrafficManagerEmulator,
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
) -> None:
    """With flap_limit 2 disables within a day: after the second automatic disable westeurope
    stays out however healthy, its stance saying how to clear it, an `endpoint.flapping`
    event; a restart keeps it; a manual enable puts it back and closes the event."""
    flap = {"disables": 2, "within": "1d"}
    settings = {"max_disables_per_hour": 5, "flap_limit": flap}
    async with stepped(seeded, two_regions, write_config, **settings) as lab:
        await bad_deploy(lab, two_regions, "westeurope")
        await lab.rounds(3)
        two_regions["westeurope"].heal()
        await lab.rounds(5)
        assert lab.status("westeurope") == "Enabled"
        await bad_deploy(lab, two_regions, "westeurope", "2.0.1")
        await lab.rounds(3)
        assert lab.status("westeurope") == "Disabled"
        two_regions["westeurope"].heal()
        await lab.rounds(12)
        assert lab.status("westeurope") == "Disabled"
        held = lab.policy("westeurope")
        assert held.stance is Stance.RECOVERING
        assert "disabled by regionwatch 2 times within 1d (failover.flap_limit: 2)" in held.reason
        assert held.next == "enable by hand: regionwatch region enable westeurope --reason ..."
        (flapping,) = await lab.events(EventType.ENDPOINT_FLAPPING, "westeurope")
        assert "re-enable with `regionwatch region enable westeurope" in flapping.summary
    async with stepped(seeded, two_regions, write_config, clock=lab.clock, **settings) as lab:
        await lab.rounds(2)
        assert lab.status("westeurope") == "Disabled"
        assert lab.policy("westeurope").next.startswith("enable by hand")
        await lab.command(Action.ENABLE, "westeurope", by="bob")
        assert lab.status("westeurope") == "Enabled"
        await lab.rounds(6)
        assert lab.policy("westeurope").stance is Stance.SERVING
        closed = [e for e in await lab.events(EventType.ENDPOINT_FLAPPING) if e.resolved]
        assert len(closed) == 1
        assert [a.action for a in await lab.actions("westeurope")] == [
            "disable",
            "enable",
            "disable",
            "enable",
        ]

"""The failover policy's invariants (docs/failover.md), held by state machines that drive the
pure policy through `monitor.fold.step` with random rounds, Traffic Manager reads, operators,
deploys and time, against a simulated Traffic Manager changed as the actuator and people would.

Each machine keeps its own record of what happened (who disabled what, each region's rounds,
when Traffic Manager went Degraded) and judges every decision when it is made and every write
when it lands against that record, never against the policy's own state."""

from __future__ import annotations

import enum
from collections import deque
from copy import deepcopy
from datetime import datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from policysim import (
    GEOGRAPHIC,
    NO_PROFILE,
    PRIORITY,
    START,
    RoundKind,
    Setup,
    SimulatedEndpoint,
    SimulatedTrafficManager,
    answered,
    receiver_of,
    round_of,
    serving,
    setups,
)

from monitor.config import Config
from monitor.deploys import Deploy, DeploySource
from monitor.evidence import (
    ActionFinished,
    DeployMarked,
    Evidence,
    RoundFinished,
    TrafficManagerRead,
)
from monitor.fold import first_snapshot, step
from monitor.guardrails import Guard, Refusal, check_disable
from monitor.policy import Action, Decision, Outcome_, Stance
from monitor.results import RegionStatus
from monitor.snapshot import Snapshot
from monitor.trafficmanager.geography import BUILTIN
from monitor.trafficmanager.model import MonitorStatus, ProfileState
from monitor.trafficmanager.watch import Reading

STEPS = 30
# Decisions that lead to decisions (an outcome, then what it makes the policy decide): far more
# than any real chain; reaching it means decisions keep coming without new evidence.
CHAIN_LIMIT = 20
HOUR = timedelta(hours=1)
TICK = timedelta(milliseconds=1)


class Behaviour(enum.StrEnum):
    """What the actuator makes of the next decision."""

    AS_DESIGNED = "as_designed"  # fresh read, guard rails again, one PATCH (or dry-run)
    AZURE_FAILS = "azure_fails"  # every attempt answered 5xx: failed
    UNREADABLE = "unreadable"  # Traffic Manager could not be read just before the write


class Change(enum.StrEnum):
    """Something that changes in Traffic Manager between two reads."""

    ONLINE = "online"
    DEGRADED = "degraded"
    CHECKING = "checking"
    ALWAYS_SERVE = "always_serve"  # switched on: Unmonitored from now on
    MONITORED = "monitored"  # always serve switched off
    OPERATOR_DISABLES = "operator_disables"
    OPERATOR_ENABLES = "operator_enables"


BEHAVIOURS = st.lists(st.sampled_from(Behaviour), max_size=3)
KINDS = st.sampled_from(RoundKind)
RELEASES = st.sampled_from([None, "1.0", "2.0"])
GAPS = st.sampled_from([10, 1, 5, 30])


class PolicyMachine(RuleBasedStateMachine):
    """The policy, a simulated Traffic Manager and the test's own record of what happened."""

    setup: Setup
    config: Config
    tm: SimulatedTrafficManager | None

    def start(self, setup: Setup) -> None:
        self.setup = setup
        self.config = setup.config
        self.tm = deepcopy(setup.tm)
        self.regions = list(self.config.regions)
        self.mode = self.config.failover.mode
        self.now = START
        self.snapshot: Snapshot = first_snapshot(self.config, instance="props", now=START)
        self.queue: deque[Decision] = deque()
        self.decided: set[str] = set()
        # Evidence other than the actuator's reports, counted, and the count each decision
        # was made at: a report is news about the region only when nothing else came since.
        self.news = 0
        self.news_at: dict[str, int] = {}
        self.lagging = False
        self.trouble = False  # the actuator failed or was refused since the last evidence
        # The record: each region's failing rounds since it last served (when, content?), its
        # last judged status, and its serving rounds since a person took our disable back.
        self.failing: dict[str, list[tuple[datetime, bool]]] = {r: [] for r in self.regions}
        self.judged: dict[str, RegionStatus | None] = dict.fromkeys(self.regions)
        self.taken_back: dict[str, int | None] = dict.fromkeys(self.regions)
        self.windows: dict[str, list[tuple[datetime, datetime]]] = {r: [] for r in self.regions}
        # Traffic Manager as last read, and since when each region's endpoint was Degraded.
        self.read: ProfileState | None = None
        self.degraded_since: dict[str, datetime | None] = dict.fromkeys(self.regions)
        # Who holds what: regions whose endpoint we disabled (enforce) or would have (dry-run),
        # endpoints people disabled, and which of those the policy has seen in a read.
        self.ours: set[str] = set()
        self.would_out: set[str] = set()
        self.operators: set[str] = set()
        self.operators_seen: set[str] = set()
        self.unseen: set[str] = set()  # regions people changed since the last read
        self.disables: list[tuple[str, datetime]] = []
        if self.tm is not None:
            self._evidence_from(self._reading(), [])

    # --- rules: evidence ---------------------------------------------------------------------

    @rule(
        index=st.integers(0, 3),
        kind=KINDS,
        release=RELEASES,
        gap=GAPS,
        lag=st.booleans(),
        actuator=BEHAVIOURS,
    )
    def a_round(
        self,
        index: int,
        kind: RoundKind,
        release: str | None,
        gap: int,
        lag: bool,
        actuator: list[Behaviour],
    ) -> None:
        self.now += timedelta(seconds=gap)
        region = self.regions[index % len(self.regions)]
        self._evidence_from(self._round(region, kind, release), actuator, lag=lag)

    @rule(kinds=st.lists(KINDS, min_size=4, max_size=4), gap=GAPS, actuator=BEHAVIOURS)
    def rounds_everywhere(
        self, kinds: list[RoundKind], gap: int, actuator: list[Behaviour]
    ) -> None:
        self.now += timedelta(seconds=gap)
        for region, kind in zip(self.regions, kinds, strict=False):
            self._evidence_from(self._round(region, kind, None), actuator)

    @precondition(lambda self: self.tm is not None)
    @rule(
        changes=st.lists(st.tuples(st.integers(0, 4), st.sampled_from(Change)), max_size=3),
        actuator=BEHAVIOURS,
    )
    def traffic_manager_read(
        self, changes: list[tuple[int, Change]], actuator: list[Behaviour]
    ) -> None:
        assert self.tm is not None
        touched: set[int] = set()
        for index, change in changes:
            index %= len(self.tm.endpoints)
            if index not in touched:
                touched.add(index)
                self._change(self.tm.endpoints[index], change)
        self._evidence_from(self._reading(), actuator)

    @precondition(lambda self: self.tm is not None)
    @rule(index=st.integers(0, 4), disable=st.booleans())
    def operator_acts_between_reads(self, index: int, disable: bool) -> None:
        """A person changes an endpoint; the policy learns it at the next read (the actuator
        at its fresh read just before a write)."""
        assert self.tm is not None
        endpoint = self.tm.endpoints[index % len(self.tm.endpoints)]
        if self._change(endpoint, Change.OPERATOR_DISABLES if disable else Change.OPERATOR_ENABLES):
            self.unseen.add(endpoint.region or "")

    @precondition(lambda self: self.tm is not None)
    @rule(actuator=BEHAVIOURS)
    def traffic_manager_unreadable(self, actuator: list[Behaviour]) -> None:
        reading = Reading(self.now.timestamp(), error="Azure answered 503 (after 3 attempts)")
        self._evidence_from(TrafficManagerRead(reading), actuator)

    @rule(index=st.integers(0, 3), actuator=BEHAVIOURS)
    def deploy_marked(self, index: int, actuator: list[Behaviour]) -> None:
        region = self.regions[index % len(self.regions)]
        version = f"v{self.now:%H%M%S}"
        deploy = Deploy(f"d-{region}-{version}", region, version, self.now, DeploySource.MARKER)
        self._opened(deploy)
        self._evidence_from(DeployMarked(deploy), actuator)

    @rule(seconds=st.sampled_from([60, 600, 1800, 3600, 31]))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @precondition(lambda self: self.tm is not None)
    @rule(actuator=BEHAVIOURS)
    def the_same_read_again(self, actuator: list[Behaviour]) -> None:
        """No new evidence, no new action: once a read has been acted on and nothing changed,
        the same read again decides nothing."""
        assert self.tm is not None
        for _ in range(3):
            before = self.tm.profile()
            self._evidence_from(self._reading(), actuator)
            if self.tm.profile() == before and not self.queue:
                break
        else:
            return
        if self.trouble:
            return  # a failed or refused write is decided again on the next evidence
        decisions = self._apply(self._reading())
        assert not decisions, f"the same read again decided {self._shown(decisions)}"

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def healthz_is_503_only_for_a_region_held_out_in_enforce(self) -> None:
        if not hasattr(self, "snapshot"):
            return
        policy = self.snapshot.policy
        assert policy is not None
        for region in self.regions:
            answer = self.snapshot.health_for(region)
            queued = {d.action for d in self.queue if d.region == region and d.refusal is None}
            held = (
                region in self.ours
                or Action.DISABLE in queued
                or self._endpoint_name(region) in self.operators
                or region in self.unseen  # a person's change the policy cannot know yet
            )
            stance = policy.region(region).stance
            if answer.status_code == 503:
                assert self.mode == "enforce", f"/healthz 503 for {region} in {self.mode}"
                assert held, f"/healthz 503 for {region}, which nobody holds out ({stance})"
                assert Action.ENABLE not in queued, f"/healthz 503 for {region}, enable decided"
                assert stance is not Stance.INCONCLUSIVE
            else:
                assert answer.status_code == 200
                if self.mode == "enforce" and region in self.ours and not queued:
                    raise AssertionError(f"/healthz 200 for {region}, which we disabled")

    @invariant()
    def users_are_never_stranded(self) -> None:
        """Never every enabled endpoint failing while one we disabled is healthy (checked once
        the actuator has done what it was asked, with nothing it could not have seen)."""
        if not hasattr(self, "snapshot") or self.queue or self.trouble or self.unseen:
            return
        healthy_ours = [r for r in self.ours if serving(self._status(r))]
        if not healthy_ours:
            return
        if self.tm is None:
            enabled: list[str | None] = [r for r in self.regions if r not in self.ours]
        else:
            enabled = [e.region for e in self.tm.enabled()]
        if enabled and all(
            r is not None and self._status(r) is RegionStatus.FAILING for r in enabled
        ):
            raise AssertionError(
                f"users stranded: every enabled endpoint is failing ({enabled}) while "
                f"{healthy_ours}, disabled by regionwatch, is healthy"
            )

    # --- evidence, decisions and the actuator -------------------------------------------------

    def _round(self, region: str, kind: RoundKind, release: str | None) -> RoundFinished:
        verdict = round_of(region, kind, self.now, release)
        if verdict.status is RegionStatus.FAILING:
            content = kind in (RoundKind.FAILING_CONTENT, RoundKind.FAILING_MIXED)
            self.failing[region].append((self.now, content))
            if self.taken_back[region] is not None:
                self.taken_back[region] = 0
        elif serving(verdict.status):
            self.failing[region] = []
            back = self.taken_back[region]
            if back is not None:
                back += 1
                self.taken_back[region] = (
                    None if back >= self.config.failover.healthy_rounds else back
                )
        if verdict.status is not RegionStatus.UNKNOWN:
            self.judged[region] = verdict.status
        return RoundFinished(verdict)

    def _reading(self) -> TrafficManagerRead:
        assert self.tm is not None
        profile = self.tm.profile()
        self.read = profile
        self.unseen = set()
        self.operators_seen = set(self.operators)
        for region in self.regions:
            state = profile.endpoint(self._endpoint_name(region))
            degraded = state is not None and state.monitor_status is MonitorStatus.DEGRADED
            self.degraded_since[region] = (
                (self.degraded_since[region] or self.now) if degraded else None
            )
        return TrafficManagerRead(Reading(self.now.timestamp(), profile=profile))

    def _change(self, endpoint: SimulatedEndpoint, change: Change) -> bool:
        """Whether the change is one Traffic Manager shows (a person disabling a disabled
        endpoint changes nothing anyone can see)."""
        match change:
            case Change.ONLINE:
                endpoint.probe = MonitorStatus.ONLINE
            case Change.DEGRADED:
                endpoint.probe = MonitorStatus.DEGRADED
            case Change.CHECKING:
                endpoint.probe = MonitorStatus.CHECKING_ENDPOINT
            case Change.ALWAYS_SERVE:
                endpoint.always_serve = True
            case Change.MONITORED:
                endpoint.always_serve = False
            case Change.OPERATOR_DISABLES:
                if not endpoint.enabled:
                    return False
                endpoint.enabled = False
                self.operators.add(endpoint.name.lower())
                if endpoint.region is not None:
                    self.would_out.discard(endpoint.region)  # theirs now
            case Change.OPERATOR_ENABLES:
                if endpoint.enabled:
                    return False
                endpoint.enabled = True
                self.operators.discard(endpoint.name.lower())
                if endpoint.region in self.ours:
                    self.ours.discard(endpoint.region)
                    self.taken_back[endpoint.region] = 0
        return True

    def _opened(self, deploy: Deploy) -> None:
        lead, length = self.config.deploys.lead, self.config.failover.deploy_window
        self.windows[deploy.region].append((deploy.at - lead, deploy.at + length))

    def _evidence_from(
        self, evidence: Evidence, actuator: list[Behaviour], *, lag: bool = False
    ) -> None:
        """Apply `evidence`, then let the actuator carry out every decision (unless it lags
        behind: then they wait for the next evidence to be applied first)."""
        self.trouble = False
        self.queue.extend(self._apply(evidence))
        self.lagging = lag
        if not lag:
            self._settle(actuator)

    def _apply(self, evidence: Evidence) -> list[Decision]:
        if not isinstance(evidence, ActionFinished):
            self.news += 1
        # The engine applies each item at its own instant, however close.
        self.now += TICK
        made = step(self.snapshot, evidence, config=self.config, now=self.now)
        self.snapshot = made.snapshot
        for deploy in made.deploys:
            self._opened(deploy)
        for decision in made.decisions:
            self._judge_decision(decision)
        return list(made.decisions)

    def _settle(self, actuator: list[Behaviour]) -> None:
        behaviours = list(actuator)
        for _ in range(CHAIN_LIMIT):
            if not self.queue:
                return
            decision = self.queue.popleft()
            how = behaviours.pop(0) if behaviours else Behaviour.AS_DESIGNED
            self._carry_out(decision, how)
        raise AssertionError(
            f"decisions keep coming without new evidence: {self._shown(self.queue)}"
        )

    def _carry_out(self, decision: Decision, how: Behaviour) -> None:
        guard: Guard | None = None
        if decision.refusal is not None:
            outcome, detail, guard = (
                Outcome_.REFUSED,
                decision.refusal.detail,
                decision.refusal.guard,
            )
        elif how is Behaviour.AZURE_FAILS and self.tm is not None:
            outcome, detail = Outcome_.FAILED, "Azure answered 500 (after 4 attempts)"
            self.trouble = True
        elif how is Behaviour.UNREADABLE and self.tm is not None:
            outcome, guard = Outcome_.REFUSED, Guard.UNREADABLE
            detail = "Traffic Manager could not be read just before the write: 503"
            self.trouble = True
        else:
            outcome, detail, guard = self._execute(decision)
        finished = ActionFinished(
            decision_id=decision.id,
            region=decision.region,
            action=decision.action,
            outcome=outcome,
            detail=detail,
            at=self.now,
            guard=guard,
            dry_run=decision.dry_run,
            urgent=decision.urgent,
            reason=decision.reason,
        )
        made = self._apply(finished)
        if (
            outcome in (Outcome_.REFUSED, Outcome_.FAILED)
            and self.news_at[decision.id] == self.news
        ):
            again = [d for d in made if d.region == decision.region]
            assert not again, (
                f"no new evidence, no new action: {decision.action} of {decision.region} "
                f"{outcome.value} ({detail}), and the report alone decided {self._shown(again)}"
            )
        self.queue.extend(made)

    def _execute(self, decision: Decision) -> tuple[Outcome_, str, Guard | None]:
        """The actuator's path (docs/failover.md, "Carrying it out"): a fresh read, done when
        the endpoint is as wanted already, the guard rails again on that read for a disable,
        then one PATCH, or nothing written in dry-run."""
        region, disable = decision.region, decision.action is Action.DISABLE
        if self.tm is None:
            if disable and not decision.urgent:
                refusals = self._guard_rails_on_fresh_read(region)
                if refusals:
                    return (
                        Outcome_.REFUSED,
                        "; ".join(r.detail for r in refusals),
                        refusals[0].guard,
                    )
            self._lands(decision)
            return (Outcome_.DRY_RUN if decision.dry_run else Outcome_.DONE), "/healthz", None
        endpoint = self.tm.of_region(region)
        if endpoint.enabled is not disable:
            if decision.dry_run:
                return Outcome_.DRY_RUN, f"{endpoint.name} is as wanted already", None
            if disable:
                return Outcome_.SUPERSEDED, f"{endpoint.name} was disabled by someone else", None
            return Outcome_.DONE, f"{endpoint.name} is as wanted already", None
        if disable and not decision.urgent:
            refusals = self._guard_rails_on_fresh_read(region)
            if refusals:
                return Outcome_.REFUSED, "; ".join(r.detail for r in refusals), refusals[0].guard
        self._lands(decision)
        if decision.dry_run:
            return Outcome_.DRY_RUN, f"would set {endpoint.name}", None
        assert self.mode == "enforce", f"{decision.action} of {region} written in {self.mode}"
        endpoint.enabled = not disable
        return Outcome_.DONE, f"{endpoint.name} set", None

    def _guard_rails_on_fresh_read(self, region: str) -> list[Refusal]:
        # As the actuator does: the fresh profile, the snapshot's verdicts and policy.
        policy = self.snapshot.policy
        assert policy is not None
        tm = self.snapshot.traffic_manager
        return list(
            check_disable(
                config=self.config,
                region=region,
                profile=self.tm.profile() if self.tm is not None else None,
                geography=tm.geography if tm is not None else BUILTIN,
                serving={n: v.status for n, v in self.snapshot.regions.items()},
                out=[n for n, rp in policy.regions.items() if rp.out_since and n != region],
                disables=policy.disables,
                now=self.now,
            )
        )

    # --- the invariants, judged when a decision is made and when it lands -------------------

    def _judge_decision(self, decision: Decision) -> None:
        region, failover = decision.region, self.config.failover
        assert decision.id not in self.decided, f"decision {decision.id} made twice"
        self.decided.add(decision.id)
        self.news_at[decision.id] = self.news
        assert decision.reason.strip(), f"{decision.action} of {region} without a reason"
        assert self.mode == "enforce" or decision.dry_run, f"a write decided in {self.mode}"
        if decision.refusal is not None:
            assert decision.action is Action.DISABLE
            assert isinstance(decision.refusal.guard, Guard), "a refusal names no guard rail"
            assert decision.refusal.detail.strip(), "a refusal says nothing"
        if decision.action is Action.ENABLE:
            held = self.ours if not decision.dry_run else self.would_out
            # A person may have taken ours back since the last read: the policy cannot know.
            assert region in held | self.unseen, (
                f"enable of {region}, which regionwatch did not disable"
            )
            return
        run = self.failing[region]
        assert self.judged[region] is RegionStatus.FAILING and run, (
            f"disable of {region} after {self.judged[region]} evidence: errors and alerts "
            "never disable"
        )
        last = run[-1][0]
        bars = [failover.failing_rounds_without_deploy]
        if any(start <= last <= end for start, end in self.windows[region]):
            bars.append(failover.failing_rounds)
        needed = min((bar for bar in bars if bar is not None), default=None)
        assert needed is not None, f"disable of {region} outside a deploy window, with null"
        assert len(run) >= needed, (
            f"disable of {region} after {len(run)} failing rounds (needs {needed})"
        )
        if not any(content for _, content in run):
            self._second_witness_holds(region, run[0][0])
        back = self.taken_back[region]
        assert back is None, (
            f"disable of {region}, which a person enabled again, after {back} healthy rounds "
            f"(needs {failover.healthy_rounds})"
        )
        assert self._endpoint_name(region) not in self.operators_seen, (
            f"disable of {region}, which a person disabled"
        )

    def _second_witness_holds(self, region: str, since: datetime) -> None:
        shown = f"disable of {region} on transport failures from one vantage point"
        profile = self.read
        assert profile is not None, f"{shown}, with no Traffic Manager read"
        state = profile.endpoint(self._endpoint_name(region))
        assert state is not None and state.monitor_status is MonitorStatus.DEGRADED, (
            f"{shown}: Traffic Manager says {state.monitor_status if state else 'nothing'}"
        )
        assert not state.always_serve, f"{shown}: the endpoint is Always Serve (Unmonitored)"
        path = (profile.monitor.path or "").split("?", 1)[0].rstrip("/")
        assert path != "/healthz", f"{shown}: Traffic Manager probes our own /healthz"
        began = self.degraded_since[region]
        assert began is not None and began >= since, (
            f"{shown}: Degraded since {began}, before our failures began at {since}"
        )

    def _lands(self, decision: Decision) -> None:
        """A decision takes effect (written, or in dry-run as good as): judge what it does."""
        region = decision.region
        if decision.action is Action.ENABLE:
            if decision.dry_run:
                assert region in self.would_out
                self.would_out.discard(region)
                return
            assert region in self.ours, f"{region} enabled, which regionwatch did not disable"
            assert self._endpoint_name(region) not in self.operators, (
                f"{region} enabled, which a person disabled"
            )
            self.ours.discard(region)
            return
        self._disable_lands(region)
        self.disables.append((region, self.now))
        (self.would_out if decision.dry_run else self.ours).add(region)

    def _disable_lands(self, region: str) -> None:
        failover = self.config.failover
        earlier = [at for r, at in self.disables if r == region]
        if earlier:
            assert self.now - max(earlier) >= failover.cooldown, (
                f"{region} disabled again {self.now - max(earlier)} after the last time "
                f"(cooldown {failover.cooldown})"
            )
        recent = [at for _, at in self.disables if self.now - at < HOUR]
        assert len(recent) < failover.max_disables_per_hour, (
            f"{len(recent) + 1} disables within an hour (max {failover.max_disables_per_hour})"
        )
        if self.tm is None:
            rotation = [r for r in self.regions if r not in self.ours | self.would_out]
            after = [r for r in rotation if r != region]
            assert len(after) >= failover.min_enabled, f"{region} out leaves {after} in rotation"
            assert not after or any(serving(self._status(r)) for r in after), (
                f"{region} out toward {after}, none of them healthy"
            )
            return
        before = self.tm.enabled(without=self.would_out)
        after_endpoints = [e for e in before if e.region != region]
        endpoint = self.tm.of_region(region)
        assert len(after_endpoints) >= failover.min_enabled, (
            f"disabling {region} leaves {len(after_endpoints)} enabled endpoints "
            f"(min_enabled {failover.min_enabled})"
        )
        if self.tm.routing == GEOGRAPHIC:
            lost = answered(before) - answered(after_endpoints)
            assert not lost, f"disabling {region} leaves {sorted(lost)} with no answer"
            for code in endpoint.geo:
                receiver = receiver_of(code, after_endpoints)
                assert receiver is not None
                assert receiver.region is not None and serving(self._status(receiver.region)), (
                    f"disabling {region} sends {code} to {receiver.name}, not healthy"
                )
        else:
            top = min(before, key=lambda e: e.priority or 0)
            if top is endpoint and after_endpoints:
                receiver = min(after_endpoints, key=lambda e: e.priority or 0)
                assert receiver.region is not None and serving(self._status(receiver.region)), (
                    f"disabling {region} sends its users to {receiver.name}, not healthy"
                )

    # --- helpers --------------------------------------------------------------------------

    def _status(self, region: str) -> RegionStatus:
        return self.snapshot.regions[region].status

    def _endpoint_name(self, region: str) -> str:
        if self.tm is None:
            return region
        return self.tm.of_region(region).name.lower()

    @staticmethod
    def _shown(decisions: object) -> str:
        return ", ".join(
            f"{d.action} {d.region}{' (refused)' if d.refusal else ''}"
            for d in decisions  # type: ignore[attr-defined]
        )


class GeographicProfile(PolicyMachine):
    @initialize(setup=setups(GEOGRAPHIC))
    def begin(self, setup: Setup) -> None:
        self.start(setup)


class PriorityProfile(PolicyMachine):
    @initialize(setup=setups(PRIORITY))
    def begin(self, setup: Setup) -> None:
        self.start(setup)


class WithoutTrafficManager(PolicyMachine):
    @initialize(setup=setups(NO_PROFILE))
    def begin(self, setup: Setup) -> None:
        self.start(setup)


_STEPS = settings(stateful_step_count=STEPS)
TestGeographicProfile = GeographicProfile.TestCase
TestGeographicProfile.settings = _STEPS
TestPriorityProfile = PriorityProfile.TestCase
TestPriorityProfile.settings = _STEPS
TestWithoutTrafficManager = WithoutTrafficManager.TestCase
TestWithoutTrafficManager.settings = _STEPS

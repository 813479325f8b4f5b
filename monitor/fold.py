"""Evidence folded into the snapshot: a pure function of the previous snapshot, one item of
evidence, the configuration and the time. No I/O and no clock: the engine calls it and then
does the writing and the publishing, so every step can be replayed and tested on its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from monitor.conditions import Judged, RegionFacts, Scope, judge_conditions
from monitor.config import Config
from monitor.controls import (
    OPERATOR_PIN_BY,
    Control,
    ControlKind,
    Controls,
    control_id,
)
from monitor.deploys import Deploy, DeploySource
from monitor.events import Condition
from monitor.evidence import (
    AccessChecked,
    ActionFinished,
    AlertChannelChanged,
    ControlsChanged,
    DeployMarked,
    DnsRoundFinished,
    Evidence,
    GeographyRead,
    ManualCommand,
    PeersPulled,
    RoundFinished,
    SchedulerChanged,
    StoreHealthChanged,
    TrafficManagerRead,
)
from monitor.policy import (
    Decision,
    PolicyState,
    Stance,
    World,
    decide_action_finished,
    decide_controls,
    decide_deploy,
    decide_manual,
    decide_peers,
    decide_round,
    decide_traffic_manager,
    first_policy,
    flap_limited,
    healthz_out,
    is_hold_pin,
)
from monitor.quorum import (
    DECIDER_UNREACHABLE,
    FRESH_INTERVALS,
    PeerState,
    PeerView,
    after_pull,
    sights,
)
from monitor.results import LOCAL_VANTAGE, RegionStatus, RegionVerdict
from monitor.snapshot import (
    DnsView,
    HealthAnswer,
    RegionView,
    Snapshot,
    Streak,
    TrafficManagerView,
)
from monitor.trafficmanager.compare import endpoint_view
from monitor.trafficmanager.geography import BUILTIN
from monitor.trafficmanager.model import ProfileState
from monitor.trafficmanager.watch import AccessCheck, Reading
from monitor.warnings import Known, Warning, compute_warnings

__all__ = [
    "Step",
    "after_access_check",
    "after_read",
    "first_snapshot",
    "fold",
    "next_streak",
    "rebuild_streak",
    "step",
]

_SERVICE_OK = HealthAnswer(200, b'{"service":"ok"}')


def first_snapshot(
    config: Config,
    *,
    instance: str,
    now: datetime,
    verdicts: Mapping[str, RegionVerdict] | None = None,
    streaks: Mapping[str, Streak] | None = None,
    conditions: Mapping[str, Condition] | None = None,
    policy: PolicyState | None = None,
    deploy_marked: bool | None = None,
    controls: Controls | None = None,
) -> Snapshot:
    """The snapshot a service starts from: what the store remembers (the last verdicts, their
    streaks, the open conditions, whether a deploy marker was ever posted, the pins, silences
    and pause in force), or every region
    unknown."""
    verdicts = verdicts or {}
    streaks = streaks or {}
    regions = {
        name: RegionView(
            name,
            verdicts.get(name) or RegionVerdict(name, RegionStatus.UNKNOWN, now, ("no round yet",)),
            streaks.get(name),
        )
        for name in config.regions
    }
    snapshot = Snapshot(
        version=0,
        made_at=now,
        instance=instance,
        regions=MappingProxyType(regions),
        traffic_manager=TrafficManagerView() if config.traffic_manager is not None else None,
        dns=DnsView() if config.checks.dns is not None else None,
        conditions=MappingProxyType(dict(conditions or {})),
        policy=policy or first_policy(config),
        deploy_marked=deploy_marked,
        controls=controls or Controls(),
        peers=MappingProxyType({peer.name: PeerView(peer.name) for peer in config.peers}),
    )
    # The remembered conditions stand as they were until evidence judges them: the first
    # item applied closes those that are over, with an event, rather than losing them here.
    return _finish(snapshot, config, now, judge=None, before=None)


@dataclass(frozen=True, slots=True)
class Step:
    """What one item of evidence made: the new snapshot, the policy's decisions for the
    actuator, the deploys it detected (a new, stable release), and the pins, silences and
    pauses that started or ended (to store and announce)."""

    snapshot: Snapshot
    decisions: tuple[Decision, ...] = ()
    deploys: tuple[Deploy, ...] = ()
    controls: tuple[Control, ...] = ()


def fold(snapshot: Snapshot, evidence: Evidence, *, config: Config, now: datetime) -> Snapshot:
    """The snapshot after `evidence`, made at `now` (see `step`)."""
    return step(snapshot, evidence, config=config, now=now).snapshot


def step(snapshot: Snapshot, evidence: Evidence, *, config: Config, now: datetime) -> Step:
    """The snapshot after `evidence`, made at `now`, with the failover policy's decisions.
    Only what the evidence can change is judged again (a region's round: that region's
    conditions and `/healthz` answer, and the policy of the regions it touches)."""
    before_health = snapshot.health
    before_policy = snapshot.policy or first_policy(config)
    controls, expired = snapshot.controls.expire(now)
    if isinstance(evidence, ControlsChanged):
        controls = controls.changed(evidence.started, evidence.ended)
    snapshot = replace(snapshot, controls=controls)
    snapshot, scope = _apply(snapshot, evidence, config)
    policy, decisions, deploys = _decide(before_policy, evidence, snapshot, config, now)
    ended = (*expired, *(evidence.ended if isinstance(evidence, ControlsChanged) else ()))
    if ended and not isinstance(evidence, ControlsChanged):
        # Something ended by itself: what it held back is judged again now.
        unpinned = [c.region for c in ended if c.kind is ControlKind.PIN and c.region]
        policy, more = decide_controls(
            policy, _world(snapshot, config, now), config, now, unpinned=unpinned
        )
        decisions = [*decisions, *more]
    changes = [*ended, *(evidence.started if isinstance(evidence, ControlsChanged) else ())]
    policy, controls, mirrored = _operator_pins(before_policy, policy, controls, now)
    changes += mirrored
    snapshot = replace(snapshot, controls=controls)
    changed = frozenset(
        name for name, rp in policy.regions.items() if before_policy.regions.get(name) is not rp
    )
    if changes:
        scope = replace(scope, regions=None)  # a silence turns /healthz; judge every region
    elif changed and scope.regions is not None:
        scope = replace(scope, regions=scope.regions | changed)
    snapshot = replace(snapshot, policy=policy)
    finished = _finish(snapshot, config, now, judge=scope, before=before_health)
    return Step(finished, tuple(decisions), tuple(deploys), tuple(changes))


def _operator_pins(
    before: PolicyState, after: PolicyState, controls: Controls, now: datetime
) -> tuple[PolicyState, Controls, list[Control]]:
    """The policy's hold on a region whose endpoint a person enabled again after our disable,
    as a pin anyone can see and end: started when the hold begins, ended when the region has
    recovered (the policy lets go). Returns the controls and the pins started or ended."""
    changes: list[Control] = []
    for name, rp in after.regions.items():
        held_before = before.region(name).hold_until_recovered
        if rp.hold_until_recovered == held_before:
            continue
        pin = controls.pin(name, now)
        if rp.hold_until_recovered and rp.operator is not None:
            # Named for the person when they enabled it through regionwatch.
            by = rp.held_by or OPERATOR_PIN_BY
            started = Control(
                id=control_id(ControlKind.PIN, name, now, by, rp.operator),
                kind=ControlKind.PIN,
                region=name,
                reason=rp.operator,
                by=by,
                since=now,
            )
            ended = (
                [pin.ended(now, by="regionwatch", reason="replaced by a person's re-enable")]
                if pin is not None
                else []
            )
            controls = controls.changed([started], ended)
            changes += [*ended, started]
        elif pin is not None and is_hold_pin(pin):
            why = (
                f"{name} was disabled again since: the hold is over"
                if rp.out_since is not None
                else f"{name} has recovered: ours to watch again"
            )
            ended_pin = pin.ended(now, by="regionwatch", reason=why)
            controls = controls.changed([], [ended_pin])
            changes.append(ended_pin)
    return after, controls, changes


def _apply(snapshot: Snapshot, evidence: Evidence, config: Config) -> tuple[Snapshot, Scope]:
    """The evidence into the snapshot's views, and the scope of what it can change."""
    regions = snapshot.regions
    tm = snapshot.traffic_manager
    scope = Scope(regions=frozenset(), dns=False, monitor=False)  # judges nothing
    match evidence:
        case RoundFinished(verdict=verdict):
            if verdict.region not in regions:
                # A region no longer configured (an observation from an older configuration).
                return snapshot, scope
            old = regions[verdict.region]
            view = RegionView(
                old.name,
                verdict,
                next_streak(old.streak, verdict, gap=config.streak_gap),
                old.rounds_done + 1,
                old.endpoint,
            )
            regions = _with_region(regions, _with_endpoint(view, config, tm))
            snapshot = replace(snapshot, regions=regions)
            scope = Scope(regions=frozenset({verdict.region}), dns=False, monitor=False)
        case TrafficManagerRead(reading=reading):
            tm = after_read(tm or TrafficManagerView(), reading)
            regions = MappingProxyType(
                {name: _with_endpoint(view, config, tm) for name, view in regions.items()}
            )
            snapshot = replace(snapshot, traffic_manager=tm, regions=regions)
            scope = Scope(regions=None, dns=False, monitor=True)
        case AccessChecked(check=check):
            snapshot = replace(snapshot, traffic_manager=after_access_check(tm, check))
        case GeographyRead(hierarchy=hierarchy):
            snapshot = replace(
                snapshot, traffic_manager=replace(tm or TrafficManagerView(), geography=hierarchy)
            )
        case DnsRoundFinished(checked_at=checked_at, findings=findings):
            snapshot = replace(snapshot, dns=DnsView(checked_at, findings))
            scope = Scope(regions=frozenset(), dns=True, monitor=False)
        case StoreHealthChanged(failure=failure):
            snapshot = replace(snapshot, store_failure=failure)
            scope = Scope(regions=frozenset(), dns=False, monitor=True)
        case AlertChannelChanged(channel=channel, trouble=trouble):
            channels = MappingProxyType({**snapshot.alert_channels, channel: trouble})
            snapshot = replace(snapshot, alert_channels=channels)
            scope = Scope(regions=frozenset(), dns=False, monitor=True)
        case SchedulerChanged(running=running):
            snapshot = replace(snapshot, scheduler_running=running)
        case DeployMarked(deploy=deploy) if deploy.source is DeploySource.MARKER:
            snapshot = replace(snapshot, deploy_marked=True)
        case PeersPulled(pulls=pulls):
            peers = dict(snapshot.peers)
            for pull in pulls:
                if pull.peer in peers:
                    peers[pull.peer] = after_pull(peers[pull.peer], pull)
            snapshot = replace(snapshot, peers=MappingProxyType(peers))
            # An observer's /healthz answers follow the decider's: every region's is rebuilt.
            scope = Scope(regions=None, dns=False, monitor=True)
    return snapshot, scope


def _world(snapshot: Snapshot, config: Config, now: datetime) -> World:
    tm = snapshot.traffic_manager
    latest = tm.latest if tm is not None else None
    return World(
        vantage=config.vantage or LOCAL_VANTAGE,
        peers=sights(
            snapshot.peers,
            [peer.name for peer in config.peers],
            list(config.regions),
            now,
            config.checks.https.interval,
        ),
        verdicts={name: view.verdict for name, view in snapshot.regions.items()},
        profile=tm.profile if tm is not None else None,
        geography=tm.geography if tm is not None else BUILTIN,
        tm_readable=latest is None or latest.error is None,
        controls=snapshot.controls,
    )


def _decide(
    policy: PolicyState, evidence: Evidence, snapshot: Snapshot, config: Config, now: datetime
) -> tuple[PolicyState, list[Decision], list[Deploy]]:
    """The policy's part of a step: only evidence it reads can make it decide."""
    match evidence:
        case RoundFinished(verdict=verdict) if verdict.region in snapshot.regions:
            return decide_round(policy, verdict, _world(snapshot, config, now), config, now)
        case TrafficManagerRead():
            state, decisions = decide_traffic_manager(
                policy, _world(snapshot, config, now), config, now
            )
            return state, decisions, []
        case DeployMarked(deploy=deploy) if deploy.region in snapshot.regions:
            state, decisions = decide_deploy(
                policy, deploy, _world(snapshot, config, now), config, now
            )
            return state, decisions, []
        case ActionFinished() as finished:
            state, decisions = decide_action_finished(
                policy,
                decision_id=finished.decision_id,
                region=finished.region,
                action=finished.action,
                outcome=finished.outcome,
                detail=finished.detail,
                at=finished.at,
                world=_world(snapshot, config, now),
                config=config,
                now=now,
                maybe_landed=finished.maybe_landed,
                source=finished.source,
                by=finished.by,
                reason=finished.reason,
            )
            return state, decisions, []
        case ManualCommand() as command if command.region in snapshot.regions:
            state, decisions = decide_manual(
                policy,
                id=command.id,
                action=command.action,
                region=command.region,
                reason=command.reason,
                by=command.by,
                force=command.force,
                world=_world(snapshot, config, now),
                config=config,
                now=now,
            )
            return state, decisions, []
        case PeersPulled() if config.role == "decider":
            state, decisions = decide_peers(policy, _world(snapshot, config, now), config, now)
            return state, decisions, []
        case ControlsChanged(ended=ended):
            unpinned = [c.region for c in ended if c.kind is ControlKind.PIN and c.region]
            state, decisions = decide_controls(
                policy, _world(snapshot, config, now), config, now, unpinned=unpinned
            )
            return state, decisions, []
    return policy, [], []


def next_streak(previous: Streak | None, verdict: RegionVerdict, *, gap: timedelta) -> Streak:
    """The streak after one more round: one longer when the status is the same and the round
    came within `gap` of the last one; a new streak of one otherwise."""
    at = verdict.decided_at
    if (
        previous is not None
        and previous.status is verdict.status
        and at >= previous.last_at
        and at - previous.last_at <= gap
    ):
        return replace(previous, rounds=previous.rounds + 1, last_at=at)
    return Streak(verdict.status, 1, at, at)


def after_read(view: TrafficManagerView, reading: Reading) -> TrafficManagerView:
    """Traffic Manager's view after one read: a failed read never erases the last profile
    actually read, and counts towards the current run of failures."""
    if reading.profile is not None:
        return replace(view, latest=reading, last_good=reading, failing_since=None, failed_reads=0)
    return replace(
        view,
        latest=reading,
        failing_since=view.failing_since or reading.read_at,
        failed_reads=view.failed_reads + 1,
    )


def after_access_check(view: TrafficManagerView | None, check: AccessCheck) -> TrafficManagerView:
    """Traffic Manager's view after a write-permission check: a check that failed is the
    latest, and leaves the last answer standing (unknown is not "cannot write")."""
    view = view or TrafficManagerView()
    known = check if check.access is not None else view.access_known
    return replace(view, access=check, access_known=known)


def rebuild_streak(
    statuses: Sequence[tuple[RegionStatus, datetime]], *, gap: timedelta
) -> Streak | None:
    """A region's streak from its last rounds' statuses, newest first (after a restart)."""
    if not statuses:
        return None
    status, last_at = statuses[0]
    since, rounds = last_at, 1
    for earlier_status, at in statuses[1:]:
        if earlier_status is not status or since - at > gap:
            break
        since, rounds = at, rounds + 1
    return Streak(status, rounds, since, last_at)


def _with_region(regions: Mapping[str, RegionView], view: RegionView) -> Mapping[str, RegionView]:
    updated = dict(regions)
    updated[view.name] = view
    return MappingProxyType(updated)


def _with_endpoint(view: RegionView, config: Config, tm: TrafficManagerView | None) -> RegionView:
    profile: ProfileState | None = tm.profile if tm is not None else None
    if profile is None:
        return view if view.endpoint is None else replace(view, endpoint=None)
    endpoint = endpoint_view(
        profile,
        endpoint=config.endpoint_of(view.name),
        address=config.regions[view.name].address,
        our_status=view.status,
    )
    return replace(view, endpoint=endpoint)


def _finish(
    snapshot: Snapshot,
    config: Config,
    now: datetime,
    *,
    judge: Scope | None,
    before: Mapping[str, HealthAnswer] | None,
) -> Snapshot:
    """Conditions (judged within `judge`, or kept as they are when it is None), readiness and
    the `/healthz` answers (rebuilt for the regions judged, or all without `before`), then the
    new version."""
    seen = snapshot.seen
    if judge is None:
        conditions = dict(snapshot.conditions)
    else:
        judged = _judge(snapshot, config, now, judge)
        conditions, seen = judged.conditions, MappingProxyType(judged.seen)
    health = _health(snapshot, config, judge.regions if judge is not None else None, before, now)
    return replace(
        snapshot,
        version=snapshot.version + 1,
        made_at=now,
        conditions=MappingProxyType(conditions),
        seen=seen,
        readiness=_readiness(snapshot, config),
        warnings=_warnings(snapshot, config, now),
        health=health,
    )


def _judge(snapshot: Snapshot, config: Config, now: datetime, scope: Scope) -> Judged:
    tm = snapshot.traffic_manager
    profile_known = tm is not None and tm.profile is not None
    facts = [
        RegionFacts(
            name=view.name,
            status=view.status,
            reasons=view.verdict.reasons,
            results=view.verdict.results,
            streak_rounds=view.streak.rounds if view.streak is not None else 0,
            streak_since=view.streak.since if view.streak is not None else None,
            disagreement=(
                view.endpoint.disagreement.message
                if view.endpoint is not None and view.endpoint.disagreement is not None
                else None
            ),
            tm_monitor_status=(
                view.endpoint.state.monitor_status.value
                if view.endpoint is not None
                and view.endpoint.state is not None
                and view.endpoint.state.monitor_status is not None
                else None
            ),
            drift=view.endpoint.drift if view.endpoint is not None else None,
            profile_known=profile_known,
            inconclusive=_inconclusive(snapshot, view.name),
            flapping=(
                flap_limited(config, snapshot.policy, view.name, now)
                if snapshot.policy is not None
                else None
            ),
            disabled_by=disabled[0],
            disabled_detail=disabled[1],
            disabled_since=disabled[2],
        )
        for view in snapshot.regions.values()
        if scope.regions is None or view.name in scope.regions
        for disabled in [_disabled(snapshot, view)]
    ]
    dns = snapshot.dns
    return judge_conditions(
        config=config,
        regions=facts,
        dns=dns.findings if dns is not None and dns.checked_at is not None else None,
        traffic_manager_read=tm is not None and tm.latest is not None,
        tm_failed_reads=tm.failed_reads if tm is not None else 0,
        tm_error=tm.latest.error if tm is not None and tm.latest is not None else None,
        store_failure=snapshot.store_failure,
        alert_channels=snapshot.alert_channels,
        before=snapshot.conditions,
        now=now,
        scope=scope,
        # A silenced region is in maintenance: what it serves meanwhile is not drift.
        serving={
            name: view.verdict.results
            for name, view in snapshot.regions.items()
            if not snapshot.controls.silenced(name, now)
        },
        seen=snapshot.seen,
        absent_peers=_absent_peers(snapshot, config, now),
    )


def _absent_peers(snapshot: Snapshot, config: Config, now: datetime) -> dict[str, tuple[str, str]]:
    """The configured peers whose observations do not count now: (state, why)."""
    interval = config.checks.https.interval
    absent = {}
    for name, view in snapshot.peers.items():
        state = view.state(now, interval)
        if state not in (PeerState.FRESH, PeerState.WAITING):
            absent[name] = (state.value, view.describe(now, interval))
    return absent


def _disabled(snapshot: Snapshot, view: RegionView) -> tuple[str | None, str, datetime | None]:
    """Who holds the region's endpoint Disabled in Traffic Manager's profile (None: nobody),
    why, and since when when the audit trail knows: the facts of
    `endpoint.disabled_too_long`."""
    state = view.endpoint.state if view.endpoint is not None else None
    if state is None or state.enabled:
        return None, "", None
    rp = snapshot.policy.region(view.name) if snapshot.policy is not None else None
    if rp is None:
        return "someone outside regionwatch", "", None
    if rp.out_since is not None and not rp.out_dry_run:
        if rp.out_manual:
            return "a person through regionwatch", rp.operator or "", rp.out_since
        return "regionwatch", rp.reason, rp.out_since
    return "someone outside regionwatch", rp.operator or "", None


def _inconclusive(snapshot: Snapshot, region: str) -> str | None:
    policy = snapshot.policy
    if policy is None:
        return None
    held = policy.region(region)
    return held.reason if held.stance is Stance.INCONCLUSIVE else None


def _readiness(snapshot: Snapshot, config: Config) -> tuple[str, ...]:
    problems = []
    if not snapshot.scheduler_running:
        problems.append("scheduler not running")
    waiting = [name for name, view in snapshot.regions.items() if not view.rounds_done]
    if waiting:
        problems.append(f"first round not done: {', '.join(waiting)}")
    if config.failover.mode == "enforce" and config.role == "decider":
        # An observer never writes: it needs no write access to be ready (and its /healthz,
        # which Traffic Manager may probe, must not leave the Service for want of one).
        tm = snapshot.traffic_manager
        known = tm.access_known if tm is not None else None
        # Without a traffic_manager section /healthz is the only lever: nothing to write.
        if tm is None:
            pass
        elif known is not None and not known.can_write:
            problems.append(f"enforce mode, cannot write to Traffic Manager: {known.detail}")
        elif known is None:
            # Unknown is not "cannot": but enforce mode waits for a check that answered.
            why = (
                "not checked yet" if tm.access is None else f"the check failed: {tm.access.detail}"
            )
            problems.append(f"enforce mode, write access to Traffic Manager not confirmed: {why}")
    return tuple(problems)


def _decider(
    snapshot: Snapshot, config: Config, now: datetime
) -> tuple[str, Mapping[str, bool]] | None:
    """The decider's `/healthz` answers (its vantage point, and whether each region should
    serve) when a peer that is the decider answered within two intervals; None otherwise."""
    limit = FRESH_INTERVALS * config.checks.https.interval
    for view in snapshot.peers.values():
        good = view.good
        if (
            good is not None
            and good.role == "decider"
            and view.good_at is not None
            and now - view.good_at <= limit
            and view.state(now, config.checks.https.interval)
            not in (PeerState.UNAUTHENTICATED, PeerState.MALFORMED)
        ):
            return good.vantage, good.serve
    return None


def _warnings(snapshot: Snapshot, config: Config, now: datetime) -> tuple[Warning, ...]:
    # A failing store is among them, not a readiness problem: taking the pod out of its
    # Service would take `/healthz`, Traffic Manager's probe target, with it, and fail the
    # region over for the monitor's own disk.
    tm = snapshot.traffic_manager
    latest = tm.access if tm is not None else None
    return compute_warnings(
        config,
        Known(
            profile=tm.profile if tm is not None else None,
            access=tm.access_known if tm is not None else None,
            access_failure=latest if latest is not None and latest.access is None else None,
            deploy_marked=snapshot.deploy_marked,
            policy=snapshot.policy,
            store_failure=snapshot.store_failure,
            controls=snapshot.controls,
            now=now,
        ),
    )


def _health(
    snapshot: Snapshot,
    config: Config,
    regions: frozenset[str] | None,
    before: Mapping[str, HealthAnswer] | None,
    now: datetime,
) -> Mapping[str, HealthAnswer]:
    """Every `/healthz` answer, prebuilt; "" is the answer when no region is named
    (`api.local_region`'s, else the service's own). Only `regions`' answers are built again
    when the previous ones are given (None: all). 503 only when the failover policy holds the
    region out of rotation in enforce mode (docs/failover.md); 200 otherwise, whatever the
    verdict: the monitor fails static. A silenced region answers 200 (in maintenance, nobody
    acts on it)."""
    if before is not None and regions is not None and not regions:
        return before
    answers = dict(before) if before is not None and regions is not None else {"": _SERVICE_OK}
    policy = snapshot.policy
    decider = _decider(snapshot, config, now) if config.role == "observer" else None
    for name, view in snapshot.regions.items():
        if regions is not None and before is not None and name not in regions:
            continue
        body: dict[str, object] = {"region": name, "status": view.status.value}
        if config.role == "observer":
            # An observer answers what the decider decided, and 200 when it cannot tell:
            # the monitor fails static.
            if decider is None:
                out = False
                body["decider"] = DECIDER_UNREACHABLE
            else:
                out = not decider[1].get(name, True)
                body["decider"] = decider[0]
        else:
            held = policy.region(name) if policy is not None else None
            out = (
                held is not None
                and healthz_out(config, held)
                and not snapshot.controls.silenced(name, now)
            )
            if held is not None:
                body["policy"] = held.stance.value
        body = {"region": name, "serve": not out} | body
        answers[name] = HealthAnswer(503 if out else 200, json.dumps(body).encode())
    local = config.api.local_region
    if local is not None and local in answers:
        answers[""] = answers[local]
    return MappingProxyType(answers)

"""The failover policy: when to take a region out of Traffic Manager, and when to put it back.

A pure function (`decide`) of the previous policy state, one item of evidence, the snapshot it
made, the configuration and the time: it returns the new state and its decisions. It does no
I/O and reads no clock; the engine runs it inside its ordered loop, and the actuator carries
its decisions out (docs/failover.md says every rule in words).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from monitor.config import Config
from monitor.controls import OPERATOR_PIN_BY, Control, ControlKind, Controls
from monitor.deploys import (
    RELEASE_MEMORY,
    Deploy,
    DeploySource,
    Window,
    origin_release,
    stable_release,
    window_of,
)
from monitor.durations import format_duration
from monitor.guardrails import Guard, Refusal, check_disable
from monitor.observations import failure_of
from monitor.quorum import SUSPECT_ROUNDS, PeerSight, everything_fails, witnesses
from monitor.results import (
    FailureClass,
    OnFailure,
    Outcome,
    RegionStatus,
    RegionVerdict,
)
from monitor.trafficmanager.geography import BUILTIN, GeographicHierarchy
from monitor.trafficmanager.model import MonitorStatus, ProfileState

__all__ = [
    "BACKOFF_WINDOW",
    "INCONCLUSIVE_ROUNDS",
    "REGIONWATCH",
    "Action",
    "Decision",
    "Outcome_",
    "PastAction",
    "PolicyState",
    "RegionPolicy",
    "Source",
    "Stance",
    "Tally",
    "World",
    "decide_action_finished",
    "decide_controls",
    "decide_deploy",
    "decide_manual",
    "decide_peers",
    "decide_round",
    "decide_traffic_manager",
    "everything_fails_from_here",
    "first_policy",
    "flap_limited",
    "healthz_out",
    "is_hold_pin",
    "restore_memory",
    "restore_policy",
]

# ERROR-only rounds in a row before a region is inconclusive: we cannot see it.
INCONCLUSIVE_ROUNDS = 3
# Disables of one endpoint within this window make each re-enable wait longer.
BACKOFF_WINDOW = timedelta(hours=24)
_SERVING = frozenset({RegionStatus.HEALTHY, RegionStatus.DEGRADED})
# Who the policy's own decisions are by, in the audit trail.
REGIONWATCH = "regionwatch"


class Stance(enum.StrEnum):
    """What the policy holds about a region (the API's `policy.state`)."""

    SERVING = "serving"  # in rotation, nothing counting against it
    COUNTING = "counting"  # failover-level failures counting towards a disable
    ALERT_ONLY = "alert_only"  # failing outside a deploy window, and nothing acts there
    INCONCLUSIVE = "inconclusive"  # the evidence cannot decide; no action
    WITHHELD = "withheld"  # it should be out, and a guard rail refuses
    OUT = "out"  # out of rotation by our decision (Disabled by us; in dry-run: would be)
    RECOVERING = "recovering"  # out, healthy rounds counting towards putting it back
    OPERATOR = "operator"  # a person's decision stands (they disabled it)
    PINNED = "pinned"  # held where it is by a pin: no automatic decision
    SILENCED = "silenced"  # in a maintenance window: neither acted on nor alerted on
    PAUSED = "paused"  # a decision is due and everything is paused: taken once resumed


class Action(enum.StrEnum):
    DISABLE = "disable"
    ENABLE = "enable"
    ADOPT = "adopt"  # take ownership of an endpoint a person disabled: no write


class Source(enum.StrEnum):
    """Where a decision came from (the audit trail's `source`)."""

    POLICY = "policy"  # the policy's own, from the evidence
    MANUAL = "manual"  # a person's command: disable or enable
    ADOPT = "adopt"  # a person handing a Disabled endpoint to regionwatch


class Outcome_(enum.StrEnum):
    """How a decision ended (the audit trail's `result`)."""

    DONE = "done"
    DRY_RUN = "dry_run"  # recorded, not written (failover.mode: dry-run)
    REFUSED = "refused"  # a guard rail said no
    FAILED = "failed"  # Azure refused or never answered, after the retries
    SUPERSEDED = "superseded"  # too old to carry out after a restart: decided again instead


@dataclass(frozen=True, slots=True)
class Tally:
    """Consecutive rounds that count: how many, since when, the last one, and how many of them
    had a content failure (one vantage point's word is enough for those)."""

    rounds: int
    since: datetime
    last_at: datetime
    content: int = 0

    def then(self, at: datetime, *, content: bool, gap: timedelta) -> Tally:
        """One more round at `at`; a pause longer than `gap` starts again."""
        if at - self.last_at > gap or at < self.last_at:
            return Tally(1, at, at, int(content))
        return Tally(self.rounds + 1, self.since, at, self.content + int(content))


def _start(at: datetime, *, content: bool = False) -> Tally:
    return Tally(1, at, at, int(content))


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy wants done, with its reason in words and its evidence. With `refusal`,
    it is a decision withheld by a guard rail: recorded, not attempted."""

    id: str
    action: Action
    region: str
    endpoint: str
    at: datetime
    reason: str
    evidence: Mapping[str, Any]
    dry_run: bool
    urgent: bool = False  # never strand users: no back-off, no wait
    refusal: Refusal | None = None
    by: str = REGIONWATCH  # who decided: regionwatch, or the person who asked
    source: Source = Source.POLICY
    forced: bool = False  # a person's disable past the guard rails


@dataclass(frozen=True, slots=True)
class PastAction:
    """A decision carried out (`done`, or `dry_run`), as the audit trail remembers it: what
    `restore_policy` rebuilds ownership, the back-off and the flap limit from."""

    region: str
    action: Action
    outcome: Outcome_
    at: datetime
    source: Source = Source.POLICY
    by: str = REGIONWATCH
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RegionPolicy:
    stance: Stance = Stance.SERVING
    reason: str = ""
    next: str = ""  # what it would do next, in words
    failing: Tally | None = None
    healthy: Tally | None = None
    unjudged: int = 0  # ERROR-only rounds in a row
    last_failed_at: datetime | None = None  # our latest failing round of it
    out_since: datetime | None = None  # we hold it out of rotation since
    out_dry_run: bool = False  # ... only in dry-run: Traffic Manager was not written
    out_manual: bool = False  # ... by a person's command: never enabled automatically
    operator: str | None = None  # why a person's decision stands
    hold_until_recovered: bool = False  # a person undid our disable: not again until it recovers
    held_by: str | None = None  # ... who: the person, or OPERATOR_PIN_BY when done in Azure
    # Our disables of it within `failover.flap_limit.within` when the one holding it out was
    # carried out: counted then, so the flap limit holds until a person enables it, however
    # long ago those disables were (a sliding count would put it back by itself later).
    flap_count: int = 0
    tm_degraded_since: datetime | None = None  # when we first saw Traffic Manager say Degraded
    window: Window | None = None  # the latest deploy window
    releases: tuple[str | None, ...] = ()  # the origin's release in the recent rounds
    release: str | None = None  # the stable one
    refused: str | None = None  # the last refusal recorded, so each is recorded once
    # A disable of ours that failed after its PATCH was sent: if Traffic Manager shows the
    # endpoint Disabled at the next read, it is ours, not someone else's.
    maybe_out_since: datetime | None = None
    pending: str | None = None  # a decision's id, awaiting its outcome
    pending_action: Action | None = None
    pending_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PolicyState:
    regions: Mapping[str, RegionPolicy]
    # Our disables, (region, when), over BACKOFF_WINDOW: for the rate limit, the cooldown and
    # the back-off. Dry-run ones count too, so dry-run shows what enforce would do.
    disables: tuple[tuple[str, datetime], ...] = ()

    def region(self, name: str) -> RegionPolicy:
        return self.regions.get(name, RegionPolicy())


@dataclass(frozen=True, slots=True)
class World:
    """What the policy reads besides its own state: our verdicts, Traffic Manager's view."""

    verdicts: Mapping[str, RegionVerdict]
    profile: ProfileState | None
    geography: GeographicHierarchy = BUILTIN
    tm_readable: bool = True  # the last read worked
    monitor_path: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    controls: Controls = field(default_factory=Controls)  # pins, silences, the pause
    vantage: str = "local"  # this instance's vantage point
    peers: tuple[PeerSight, ...] = ()  # every configured peer: its fresh observations or absent


def first_policy(config: Config) -> PolicyState:
    return PolicyState(MappingProxyType({name: RegionPolicy() for name in config.regions}))


def healthz_out(config: Config, state: RegionPolicy) -> bool:
    """Whether `/healthz` says 503 for a region: only in enforce mode, only when the policy
    has decided it should be out (ours, decided or done; or a person's disable), and back to
    200 as soon as a re-enable is decided, before the write."""
    if config.failover.mode != "enforce":
        return False
    if state.pending_action is Action.ENABLE:
        return False
    if state.pending_action is Action.DISABLE:
        return True
    if (
        state.operator is not None
        and state.stance is Stance.OPERATOR
        and not state.hold_until_recovered
    ):
        return True
    return state.out_since is not None and not state.out_dry_run


# --- rounds ---------------------------------------------------------------------------------


def decide_round(
    state: PolicyState, verdict: RegionVerdict, world: World, config: Config, now: datetime
) -> tuple[PolicyState, list[Decision], list[Deploy]]:
    """One region's round: count it, notice a new release, and decide."""
    name = verdict.region
    rp, detected = _count(state.region(name), verdict, config)
    state = _with(state, name, rp)
    state, decisions = _judge_all(state, world, config, now, focus=name)
    return state, decisions, [detected] if detected is not None else []


def _count(
    rp: RegionPolicy, verdict: RegionVerdict, config: Config
) -> tuple[RegionPolicy, Deploy | None]:
    """One round into a region's tallies and releases (no deciding)."""
    gap = config.streak_gap
    rp, detected = _releases(rp, verdict, config)
    if verdict.status is RegionStatus.UNKNOWN:
        rp = replace(rp, unjudged=rp.unjudged + 1)
    elif verdict.status is RegionStatus.FAILING:
        content = failure_of(verdict) is FailureClass.CONTENT
        failing = (
            rp.failing.then(verdict.decided_at, content=content, gap=gap)
            if rp.failing is not None
            else _start(verdict.decided_at, content=content)
        )
        rp = replace(
            rp, failing=failing, healthy=None, unjudged=0, last_failed_at=verdict.decided_at
        )
    else:
        healthy = (
            rp.healthy.then(verdict.decided_at, content=False, gap=gap)
            if rp.healthy is not None
            else _start(verdict.decided_at)
        )
        rp = replace(rp, healthy=healthy, failing=None, unjudged=0)
        if rp.hold_until_recovered and healthy.rounds >= config.failover.healthy_rounds:
            rp = replace(rp, hold_until_recovered=False, operator=None)
    return rp, detected


def restore_memory(config: Config) -> int:
    """How many of a region's latest rounds `restore_policy` needs: enough for the longest
    count it may be in the middle of (the back-off's longest wait, at three disables)."""
    failover = config.failover
    return max(
        failover.failing_rounds_without_deploy or 0,
        failover.failing_rounds,
        failover.healthy_rounds * 8,
    )


def restore_policy(
    config: Config,
    *,
    rounds: Mapping[str, Sequence[RegionVerdict]],
    outcomes: Sequence[PastAction],
    deploys: Sequence[Deploy],
    now: datetime,
    intents: Sequence[tuple[str, str, Action, datetime]] = (),
    pins: Sequence[Control] = (),
) -> PolicyState:
    """The policy as it stood before a restart, from the store: each region's recent rounds
    counted again (a restart quicker than `failover.streak_gap` continues its tallies), the
    actions carried out (who holds which endpoint out, a person or regionwatch; our disables
    for the rate limit, the back-off and the flap limit), oldest first, the deploys (their windows), and the intents recorded but
    not finished, as (region, decision id, action, decided at), oldest first: the actuator
    reconciles them at start, so their regions wait for that outcome rather than deciding the
    same action again. `pins` are the pins in force: one held for a person who enabled again
    an endpoint we had disabled holds its region until it recovers, as before the restart."""
    state = first_policy(config)
    for name, verdicts in rounds.items():
        if name not in config.regions:
            continue
        rp = state.region(name)
        for verdict in verdicts:
            rp, _ = _count(rp, verdict, config)
        state = _with(state, name, rp)
    for past in outcomes:
        if past.region not in config.regions or past.outcome not in (
            Outcome_.DONE,
            Outcome_.DRY_RUN,
        ):
            continue
        state = _carried_out(state, past, config, tallies=False)
        held = state.region(past.region)
        if held.hold_until_recovered and _recovered_after(
            rounds.get(past.region, ()), past.at, config.failover.healthy_rounds
        ):
            # A person's enable whose region has recovered since: the hold is over.
            state = _with(
                state, past.region, replace(held, hold_until_recovered=False, operator=None)
            )
    for deploy in sorted(deploys, key=lambda d: d.at):
        if deploy.region in config.regions:
            window = window_of(
                deploy, lead=config.deploys.lead, length=config.failover.deploy_window
            )
            rp = state.region(deploy.region)
            state = _with(state, deploy.region, replace(rp, window=_later(rp.window, window)))
    for region, decision_id, action, decided_at in intents:
        if region in config.regions:
            rp = replace(
                state.region(region),
                pending=decision_id,
                pending_action=action,
                pending_at=decided_at,
            )
            state = _with(state, region, rp)
    for pin in pins:
        if is_hold_pin(pin) and pin.region in config.regions:
            rp = state.region(pin.region)
            rp = replace(
                rp,
                hold_until_recovered=True,
                held_by=pin.by,
                operator=pin.reason,
                out_since=None,
            )
            state = _with(state, pin.region, rp)
    cutoff = now - disables_memory(config)
    return replace(state, disables=tuple(d for d in state.disables if d[1] >= cutoff))


def is_hold_pin(pin: Control) -> bool:
    """Whether `pin` is the policy's hold on a region whose endpoint a person enabled again
    after our disable (through regionwatch, or in Azure): the only pins without an end, since a
    person's pin always lasts a while."""
    return pin.kind is ControlKind.PIN and pin.until is None


def disables_memory(config: Config) -> timedelta:
    """How far back our disables are kept: the back-off's window, or the flap limit's."""
    flap = config.failover.flap_limit
    return max(BACKOFF_WINDOW, flap.within) if flap is not None else BACKOFF_WINDOW


def _recovered_after(verdicts: Sequence[RegionVerdict], at: datetime, needed: int) -> bool:
    """Whether the rounds after `at` (oldest first) end with `needed` serving ones in a row."""
    after = [v for v in verdicts if v.decided_at > at]
    run = 0
    for verdict in after:
        run = run + 1 if verdict.status in _SERVING else 0
    return run >= needed


def _carried_out(
    state: PolicyState, past: PastAction, config: Config, *, tallies: bool
) -> PolicyState:
    """The policy after a decision was carried out (done, or dry_run): who holds the endpoint
    now, and our disables. `tallies`: reset the region's tallies, as a fresh outcome does (a
    restart keeps those counted again from the rounds)."""
    region, at = past.region, past.at
    rp = state.region(region)
    dry = past.outcome is Outcome_.DRY_RUN
    manual = past.source is Source.MANUAL
    disables = state.disables
    if past.action is Action.ADOPT:
        rp = replace(
            rp,
            out_since=at,
            out_dry_run=False,
            out_manual=False,
            operator=None,
            hold_until_recovered=False,
            refused=None,
            flap_count=0,
        )
        if tallies:
            rp = replace(rp, healthy=None)
    elif past.action is Action.DISABLE:
        rp = replace(rp, out_since=at, out_dry_run=dry, out_manual=manual, refused=None)
        if tallies:
            rp = replace(rp, healthy=None)
        if manual:
            rp = replace(
                rp,
                operator=f"disabled by {past.by} via regionwatch"
                + (" (dry-run: Traffic Manager was not written)" if dry else "")
                + f": {past.reason}",
                hold_until_recovered=False,
                flap_count=0,
            )
        else:
            disables = (*disables, (region, at))
            rp = replace(rp, flap_count=_flap_count(config, disables, region, at))
    else:
        rp = replace(
            rp, out_since=None, out_dry_run=False, out_manual=False, refused=None, flap_count=0
        )
        if tallies:
            rp = replace(rp, failing=None)
        if manual:
            # A person put it back: not fought, and our back-off and flap limit start afresh.
            rp = replace(
                rp,
                hold_until_recovered=True,
                held_by=past.by,
                operator=f"enabled by {past.by} via regionwatch: {past.reason}; regionwatch "
                "will not disable it again until the region has recovered",
            )
            disables = tuple(d for d in disables if d[0] != region)
    return replace(_with(state, region, rp), disables=disables)


def flap_limited(config: Config, state: PolicyState, name: str, now: datetime) -> str | None:
    """Why re-enabling `name` is left to a person (`failover.flap_limit`), when it is: we hold
    it out after disabling it that many times within the window, counted when the disable
    holding it out was carried out (it stays so until someone enables it). None otherwise."""
    flap = config.failover.flap_limit
    rp = state.region(name)
    if flap is None or rp.out_since is None or rp.out_manual or rp.flap_count < flap.disables:
        return None
    return (
        f"disabled by regionwatch {rp.flap_count} times within {format_duration(flap.within)} "
        f"(failover.flap_limit: {flap.disables}): re-enabling it is left to a person; "
        f"re-enable with `regionwatch region enable {name} --reason ...`"
    )


def _flap_count(
    config: Config, disables: Sequence[tuple[str, datetime]], region: str, at: datetime
) -> int:
    """Our disables of `region` within the flap limit's window up to `at` (0 without one)."""
    flap = config.failover.flap_limit
    if flap is None:
        return 0
    return sum(
        1 for r, when in disables if r == region and timedelta(0) <= at - when <= flap.within
    )


def _releases(
    rp: RegionPolicy, verdict: RegionVerdict, config: Config
) -> tuple[RegionPolicy, Deploy | None]:
    seen = origin_release(verdict.results)
    recent = (*rp.releases, seen)[-RELEASE_MEMORY:]
    stable = stable_release(recent)
    rp = replace(rp, releases=recent)
    if stable is None or stable == rp.release:
        return rp, None
    if rp.release is None:
        return replace(rp, release=stable), None  # the first one seen: where we start
    deploy = Deploy(
        id=_id("deploy", verdict.region, stable, verdict.decided_at),
        region=verdict.region,
        version=stable,
        at=verdict.decided_at,
        source=DeploySource.DETECTED,
        note=f"{config.deploys.version_header} changed from {rp.release} to {stable}",
    )
    window = window_of(deploy, lead=config.deploys.lead, length=config.failover.deploy_window)
    return replace(rp, release=stable, window=_later(rp.window, window)), deploy


def decide_deploy(
    state: PolicyState, deploy: Deploy, world: World, config: Config, now: datetime
) -> tuple[PolicyState, list[Decision]]:
    """A deploy marker: it opens a window for its region."""
    rp = state.region(deploy.region)
    window = window_of(deploy, lead=config.deploys.lead, length=config.failover.deploy_window)
    rp = replace(rp, window=_later(rp.window, window))
    state = _with(state, deploy.region, rp)
    return _judge_all(state, world, config, now, focus=deploy.region)


def _later(current: Window | None, new: Window) -> Window:
    return new if current is None or new.deploy.at >= current.deploy.at else current


# --- Traffic Manager --------------------------------------------------------------------------


def decide_traffic_manager(
    state: PolicyState, world: World, config: Config, now: datetime
) -> tuple[PolicyState, list[Decision]]:
    """A read of Traffic Manager: who holds which endpoint, and whether TM's own probing
    agrees with ours; then decide again (never strand users first)."""
    profile = world.profile
    if profile is None or not world.tm_readable:
        return _judge_all(state, world, config, now, focus=None)
    regions = dict(state.regions)
    for name in config.regions:
        rp = state.region(name)
        endpoint = profile.endpoint(config.endpoint_of(name))
        if endpoint is None:
            continue
        degraded = endpoint.monitor_status is MonitorStatus.DEGRADED
        rp = replace(
            rp,
            tm_degraded_since=(rp.tm_degraded_since or now) if degraded else None,
        )
        if rp.maybe_out_since is not None:
            # Our failed disable, settled by this read: landed (ours) or not.
            if not endpoint.enabled:
                rp = replace(rp, out_since=rp.maybe_out_since, out_dry_run=False, healthy=None)
            rp = replace(rp, maybe_out_since=None)
        ours = rp.out_since is not None and not rp.out_dry_run
        waiting = rp.pending is not None
        if not endpoint.enabled and not ours and not waiting:
            if rp.operator is None:
                rp = replace(
                    rp,
                    operator=f"{endpoint.name} was disabled in Traffic Manager by someone "
                    "else: regionwatch leaves it to them",
                    hold_until_recovered=False,
                    out_since=None if rp.out_dry_run else rp.out_since,
                )
        elif endpoint.enabled and ours and not waiting:
            # Before the next branch: a person's disable through regionwatch carries an
            # `operator` too, and undoing it in Azure is undoing a disable we wrote.
            rp = replace(
                rp,
                out_since=None,
                out_dry_run=False,
                out_manual=False,
                hold_until_recovered=True,
                held_by=OPERATOR_PIN_BY,
                operator=f"{endpoint.name} was enabled again in Traffic Manager by someone else "
                "after regionwatch disabled it: regionwatch will not disable it again until the "
                "region has recovered",
            )
        elif endpoint.enabled and rp.operator is not None and not rp.hold_until_recovered:
            rp = replace(rp, operator=None)  # they enabled it again: it is ours to watch again
        regions[name] = rp
    state = replace(state, regions=MappingProxyType(regions))
    return _judge_all(state, world, config, now, focus=None)


def decide_peers(
    state: PolicyState, world: World, config: Config, now: datetime
) -> tuple[PolicyState, list[Decision]]:
    """The peers' observations, pulled: a quorum that was missing may be there now."""
    return _judge_all(state, world, config, now, focus=None)


# --- outcomes ---------------------------------------------------------------------------------


def decide_action_finished(
    state: PolicyState,
    *,
    decision_id: str,
    region: str,
    action: Action,
    outcome: Outcome_,
    detail: str,
    at: datetime,
    world: World,
    config: Config,
    now: datetime,
    maybe_landed: bool = False,
    source: Source = Source.POLICY,
    by: str = REGIONWATCH,
    reason: str = "",
) -> tuple[PolicyState, list[Decision]]:
    """The actuator's report on a decision (a person's command's too: `source`, `by` and
    its `reason` say whose, and a done one leaves the endpoint theirs)."""
    rp = state.region(region)
    if rp.pending not in (None, decision_id):
        return state, []  # an older decision's late report: the newer one stands
    rp = replace(rp, pending=None, pending_action=None, pending_at=None)
    state = _with(state, region, rp)
    if outcome in (Outcome_.DONE, Outcome_.DRY_RUN):
        past = PastAction(region, action, outcome, at, source, by, reason)
        state = _carried_out(state, past, config, tallies=True)
    elif outcome is Outcome_.REFUSED:
        if source is Source.POLICY:  # each of the policy's refusals is recorded once
            state = _with(state, region, replace(rp, refused=detail))
    elif outcome is Outcome_.FAILED:
        rp = replace(rp, reason=f"the last {action.value} failed: {detail}")
        if action is Action.DISABLE and maybe_landed and source is Source.POLICY:
            rp = replace(rp, maybe_out_since=at)
        state = _with(state, region, rp)
    cutoff = now - disables_memory(config)
    state = replace(state, disables=tuple(d for d in state.disables if d[1] >= cutoff))
    # Refused or failed, it is decided again on the next evidence, not at once: on the same
    # view the policy would decide it straight away, and the actuator refuse it again, in a
    # loop until Traffic Manager is read again.
    carried = outcome in (Outcome_.DONE, Outcome_.DRY_RUN)
    again = region if carried else ""
    # A rescue refused or failed waits for new evidence too: decided again on this report
    # alone, it would be retried at the actuator's pace for as long as Azure fails.
    return _judge_all(state, world, config, now, focus=again, rescue_users=carried)


# --- operator controls ------------------------------------------------------------------------


def decide_controls(
    state: PolicyState,
    world: World,
    config: Config,
    now: datetime,
    *,
    unpinned: Sequence[str] = (),
) -> tuple[PolicyState, list[Decision]]:
    """Pins, silences or the pause started or ended (by a person, or by reaching their end):
    every region judged again on the evidence as it stands, and decisions taken for any of
    them, so what is due once a pause or a pin ends is decided then, afresh. A region in
    `unpinned` lost a pin: one held for a person who undid our disable no longer holds it."""
    for name in unpinned:
        rp = state.region(name)
        if rp.hold_until_recovered:
            state = _with(state, name, replace(rp, hold_until_recovered=False, operator=None))
    return _judge_all(state, world, config, now, focus=None)


# --- a person's commands ---------------------------------------------------------------------


def decide_manual(
    state: PolicyState,
    *,
    id: str,
    action: Action,
    region: str,
    reason: str,
    by: str,
    force: bool,
    world: World,
    config: Config,
    now: datetime,
) -> tuple[PolicyState, list[Decision]]:
    """A person's command: disable or enable `region`'s endpoint, or adopt it (a Disabled
    endpoint becomes regionwatch's, no write). Always one decision with the command's `id`,
    for the audit trail: refused here when it conflicts with what the policy holds (a decision
    of the region still in flight; adopting one that is ours already) or, for a disable
    without `force`, when a guard rail says no; else pending, for the actuator. Outside
    enforce mode nothing is written unless `force` (the command is then recorded as dry-run);
    `force` never implies never-strand's urgency."""
    rp = state.region(region)
    endpoint = config.endpoint_of(region)
    enforce = config.failover.mode == "enforce"
    source = Source.ADOPT if action is Action.ADOPT else Source.MANUAL
    evidence: dict[str, Any] = {"by": by, "force": force, "source": source.value}
    decision = Decision(
        id=id,
        action=action,
        region=region,
        endpoint=endpoint,
        at=now,
        reason=reason,
        evidence=evidence,
        # Adopting writes nothing to Traffic Manager: it is the same in every mode.
        dry_run=not enforce and not force and action is not Action.ADOPT,
        by=by,
        source=source,
        forced=force,
    )
    conflict = _manual_conflict(rp, action, endpoint)
    if conflict is not None:
        decision = replace(decision, refusal=Refusal(Guard.CONFLICT, conflict))
        return state, [decision]
    if action is Action.DISABLE:
        refusals = check_disable(
            config=config,
            region=region,
            profile=world.profile,
            geography=world.geography,
            serving={n: v.status for n, v in world.verdicts.items()},
            out=_held_out(state),
            disables=(*state.disables, *_pending_disables(state)),
            now=now,
        )
        if refusals and not force:
            summary = "; ".join(r.detail for r in refusals)
            refusal = Refusal(
                refusals[0].guard, summary, tuple(g for r in refusals for g in r.uncovered)
            )
            return state, [replace(decision, refusal=refusal)]
        # What a forced disable went past, for the audit trail.
        evidence["forced_past"] = [{"guard": r.guard.value, "detail": r.detail} for r in refusals]
    state = _with(state, region, _pending(rp, decision))
    state, _ = _judge_all(state, world, config, now, focus="")
    return state, [decision]


def _manual_conflict(rp: RegionPolicy, action: Action, endpoint: str) -> str | None:
    """Why a person's command cannot be taken now, from what the policy holds; None when it
    can (whether the endpoint is Disabled is for the actuator's fresh read to say)."""
    if rp.pending is not None:
        doing = rp.pending_action.value if rp.pending_action else "decision"
        when = f" decided at {rp.pending_at:%Y-%m-%d %H:%M:%S} UTC" if rp.pending_at else ""
        return (
            f"a {doing} of {endpoint}{when} is still being carried out: try again once it is "
            "finished"
        )
    ours = rp.out_since is not None and not rp.out_dry_run and not rp.out_manual
    if action is Action.ADOPT and ours:
        return f"{endpoint} is regionwatch's already (disabled by regionwatch)"
    return None


# --- judging ----------------------------------------------------------------------------------


def _judge_all(
    state: PolicyState,
    world: World,
    config: Config,
    now: datetime,
    *,
    focus: str | None,
    rescue_users: bool = True,
) -> tuple[PolicyState, list[Decision]]:
    """Every region's stance again (what one region does depends on the others: receivers,
    coverage, the rate limit); decisions only for `focus` (the region the evidence is about;
    "" for none), or for any region when `focus` is None, and never strand users first
    (unless not `rescue_users`)."""
    decisions: list[Decision] = []
    pause = world.controls.pause(now)
    # Never stranding users overrides pins and silences, never the pause: nothing is written.
    rescuing = rescue_users and pause is None
    rescue = _never_strand(state, world, config, now) if rescuing else None
    if rescue is not None:
        rp = state.region(rescue.region)
        state = _with(state, rescue.region, _pending(rp, rescue))
        decisions.append(rescue)
    regions = dict(state.regions)
    for name in config.regions:
        rp, decision = _judge(name, state, world, config, now)
        rp, decision = _held(name, rp, decision, world.controls, now)
        if decision is not None and (focus is None or focus == name) and rp.pending is None:
            if decision.refusal is None:
                rp = _pending(rp, decision)
                decisions.append(decision)
            elif decision.refusal.detail != rp.refused:
                rp = replace(rp, refused=decision.refusal.detail)
                decisions.append(decision)  # recorded once, never attempted
        regions[name] = rp
        state = replace(state, regions=MappingProxyType(regions))
    return state, decisions


def _held(
    name: str, rp: RegionPolicy, decision: Decision | None, controls: Controls, now: datetime
) -> tuple[RegionPolicy, Decision | None]:
    """What the controls make of a region's stance and decision: a pin or a silence holds it
    where it is (no decision, whatever is due, shown with what would be done); the pause
    withholds any decision due (taken, afresh, once it ends). A decision already pending is
    left to the actuator, which checks the pause itself."""
    if rp.pending is not None:
        return rp, decision
    would = (
        f"{decision.action.value} ({decision.reason})"
        if decision is not None and decision.refusal is None
        else ""
    )
    for control, stance in (
        (controls.pin(name, now), Stance.PINNED),
        (controls.silence(name, now), Stance.SILENCED),
    ):
        if control is not None:
            after = "nothing until it ends" + (f"; then it would {would}" if would else "")
            return replace(rp, stance=stance, reason=control.describe(), next=after), None
    pause = controls.pause(now)
    if pause is None or decision is None:
        return rp, decision
    if decision.refusal is not None:
        return rp, None  # recorded once the pause ends, if it still stands
    return (
        replace(
            rp,
            stance=Stance.PAUSED,
            reason=f"failover {pause.describe()}",
            next=f"{would} once resumed, if still due",
        ),
        None,
    )


def _pending(rp: RegionPolicy, decision: Decision) -> RegionPolicy:
    return replace(rp, pending=decision.id, pending_action=decision.action, pending_at=decision.at)


def _judge(
    name: str, state: PolicyState, world: World, config: Config, now: datetime
) -> tuple[RegionPolicy, Decision | None]:
    rp = state.region(name)
    failover = config.failover
    verdict = world.verdicts.get(name)
    if rp.pending is not None:
        doing = rp.pending_action.value if rp.pending_action else "act"
        return replace(rp, next=f"waiting for the {doing} decided at {rp.pending_at}"), None
    if rp.hold_until_recovered and rp.operator is not None:
        return (
            replace(
                rp,
                stance=Stance.PINNED,
                reason=f"pinned by {rp.held_by or OPERATOR_PIN_BY} until the region has "
                f"recovered: {rp.operator}",
                next=f"nothing until {config.failover.healthy_rounds} healthy rounds in a row "
                "or an unpin",
            ),
            None,
        )
    if rp.operator is not None:
        return replace(rp, stance=Stance.OPERATOR, reason=rp.operator, next="nothing"), None
    if rp.out_since is not None:
        return _judge_out(name, rp, state, world, config, now)
    if rp.unjudged >= INCONCLUSIVE_ROUNDS:
        return (
            _inconclusive(rp, f"{name} could not be judged for {rp.unjudged} rounds: errors only"),
            None,
        )
    if everything_fails_from_here(state, config, now):
        return (
            _inconclusive(
                rp,
                f"every region failed from here within the last {SUSPECT_ROUNDS} rounds: the "
                "fault is more likely on this monitor's side (its network, its resolver, its "
                "certificates) than everywhere",
            ),
            None,
        )
    failing = rp.failing
    if failing is None:
        return replace(rp, stance=Stance.SERVING, reason="", next="nothing"), None
    in_window = rp.window is not None and rp.window.holds(failing.last_at)
    threshold = failover.failing_rounds if in_window else failover.failing_rounds_without_deploy
    why = _why_failing(name, failing, rp, verdict, in_window)
    if threshold is None:
        return (
            replace(
                rp,
                stance=Stance.ALERT_ONLY,
                reason=f"{why}; outside a deploy window nothing acts "
                "(failover.failing_rounds_without_deploy: null)",
                next="alert only; a deploy marker would open a window",
            ),
            None,
        )
    seen = witnesses(name, world.vantage, world.peers) if world.peers else None
    if failing.rounds < threshold:
        left = threshold - failing.rounds
        after = f"disable after {left} more failing round{'s' if left != 1 else ''}"
        if failing.content == 0 and not (seen is not None and seen.majority):
            # Say now what the count will still need, rather than only once it is reached.
            agree = (
                "more than half of the vantage points or Traffic Manager's own probes agree"
                f" (now {seen.words()})"
                if seen is not None
                else "Traffic Manager's own probes agree (network failures seen from here)"
            )
            after += f", if {agree}"
        return replace(rp, stance=Stance.COUNTING, reason=why, next=after), None
    witness = None
    if failing.content == 0:
        # Network failures depend on the path: they count with a majority of every configured
        # vantage point, or with Traffic Manager's own probes agreeing (docs/failover.md).
        tm_witness = _second_witness(name, rp, world, config)
        if seen is not None and seen.majority:
            witness = seen.words()
        elif tm_witness is not None:
            witness = tm_witness + (f"; {seen.words()}" if seen is not None else "")
        elif seen is None:
            return (
                _inconclusive(
                    rp,
                    f"{why}, all of them network failures (timeouts, refused or reset "
                    "connections) seen from here alone: waiting for a second witness (Traffic "
                    "Manager's own probes saying Degraded, or another vantage point)",
                ),
                None,
            )
        else:
            return (
                _inconclusive(
                    rp,
                    f"{why}, all of them network failures (timeouts, refused or reset "
                    f"connections) {seen.words()}: waiting for more than half of the vantage "
                    "points, or Traffic Manager's own probes saying Degraded",
                ),
                None,
            )
    idle = _never_acts(config)
    if idle is not None:
        because, setting = idle
        return (
            replace(
                rp, stance=Stance.WITHHELD, reason=f"{why}; {because}", next=f"nothing ({setting})"
            ),
            None,
        )
    refusals = check_disable(
        config=config,
        region=name,
        profile=world.profile,
        geography=world.geography,
        serving={n: v.status for n, v in world.verdicts.items()},
        out=_held_out(state),
        disables=(*state.disables, *_pending_disables(state)),
        now=now,
    )
    endpoint = config.endpoint_of(name)
    evidence = _evidence(name, failing, rp, verdict, world, witness)
    if seen is not None:
        evidence["vantage_points"] = seen.evidence()
    reason = why + (f"; and {witness}" if witness else "")
    if refusals:
        first = refusals[0]
        summary = "; ".join(r.detail for r in refusals)
        decision = Decision(
            id=_id("disable", name, first.detail, now),
            action=Action.DISABLE,
            region=name,
            endpoint=endpoint,
            at=now,
            reason=reason,
            evidence=evidence,
            dry_run=failover.mode != "enforce",
            refusal=Refusal(first.guard, summary, tuple(g for r in refusals for g in r.uncovered)),
        )
        return (
            replace(
                rp,
                stance=Stance.WITHHELD,
                reason=f"{reason}; withheld: {summary}",
                next="disable once the guard rails allow it",
            ),
            decision,
        )
    receivers = _receivers_in_words(name, world, config)
    decision = Decision(
        id=_id("disable", name, "", now),
        action=Action.DISABLE,
        region=name,
        endpoint=endpoint,
        at=now,
        reason=f"{reason}{receivers}",
        evidence=evidence,
        dry_run=failover.mode != "enforce",
    )
    return replace(rp, stance=Stance.COUNTING, reason=decision.reason, next="disable now"), decision


def _judge_out(
    name: str, rp: RegionPolicy, state: PolicyState, world: World, config: Config, now: datetime
) -> tuple[RegionPolicy, Decision | None]:
    """A region we hold out: put it back after enough healthy rounds (more after each recent
    disable of it), unless re-enabling is manual."""
    failover = config.failover
    disables = sum(
        1 for region, at in state.disables if region == name and now - at <= BACKOFF_WINDOW
    )
    needed = failover.healthy_rounds * 2 ** max(0, disables - 1)
    healthy = rp.healthy.rounds if rp.healthy is not None else 0
    held = "would be disabled (dry-run)" if rp.out_dry_run else "disabled by regionwatch"
    since = f"{held} since {rp.out_since:%Y-%m-%d %H:%M:%S} UTC"
    flapping = flap_limited(config, state, name, now)
    if flapping is not None:
        # The back-off keeps growing meanwhile; only never stranding users overrides this.
        return (
            replace(
                rp,
                stance=Stance.RECOVERING if healthy else Stance.OUT,
                reason=f"{since}; {flapping}",
                next=f"enable by hand: regionwatch region enable {name} --reason ...",
            ),
            None,
        )
    if healthy < needed:
        back_off = (
            f" (back-off after {disables} disables in 24 h)"
            if needed > failover.healthy_rounds
            else ""
        )
        stance = Stance.RECOVERING if healthy else Stance.OUT
        return (
            replace(
                rp,
                stance=stance,
                reason=since,
                next=f"enable after {needed - healthy} more healthy round"
                f"{'s' if needed - healthy != 1 else ''}{back_off}",
            ),
            None,
        )
    if failover.reenable == "manual":
        return (
            replace(
                rp,
                stance=Stance.RECOVERING,
                reason=f"{since}; healthy for {healthy} rounds",
                next="enable by hand (failover.reenable: manual)",
            ),
            None,
        )
    decision = Decision(
        id=_id("enable", name, "", now),
        action=Action.ENABLE,
        region=name,
        endpoint=config.endpoint_of(name),
        at=now,
        reason=f"{name} has been healthy for {healthy} rounds in a row since "
        f"{rp.healthy.since if rp.healthy else now:%H:%M:%S} UTC ({since})",
        evidence={"healthy_rounds": healthy, "needed": needed, "disables_in_24h": disables},
        dry_run=rp.out_dry_run or failover.mode != "enforce",
    )
    return replace(
        rp, stance=Stance.RECOVERING, reason=decision.reason, next="enable now"
    ), decision


def _never_strand(
    state: PolicyState, world: World, config: Config, now: datetime
) -> Decision | None:
    """When every endpoint still enabled is failing and one we disabled is healthy, put that
    one back at once, whatever the back-off: users would otherwise have nowhere good to go."""
    profile = world.profile
    ours = [
        name
        for name in config.regions
        if (rp := state.region(name)).out_since is not None
        and not rp.out_dry_run
        and not rp.out_manual  # a person's disable is theirs: never undone automatically
        and rp.pending is None
    ]
    if not ours:
        return None
    if profile is not None:
        region_of = {config.endpoint_of(n).lower(): n for n in config.regions}
        # The profile may predate our own disables (read before they landed, or the last read
        # that worked): ours count as out whatever it says.
        enabled = [
            region
            for e in profile.endpoints
            if e.enabled and (region := region_of.get(e.name.lower())) not in ours
        ]
    else:
        enabled = [n for n in config.regions if n not in ours]
    verdicts = world.verdicts
    if not enabled or any(
        n is None or verdicts.get(n) is None or verdicts[n].status is not RegionStatus.FAILING
        for n in enabled
    ):
        return None
    healthy = [n for n in ours if (v := verdicts.get(n)) is not None and v.status in _SERVING]
    if not healthy:
        return None
    name = healthy[0]
    return Decision(
        id=_id("enable", name, "never-strand", now),
        action=Action.ENABLE,
        region=name,
        endpoint=config.endpoint_of(name),
        at=now,
        reason=f"every enabled endpoint is failing ({', '.join(str(n) for n in enabled)}) and "
        f"{name}, which regionwatch disabled, is healthy: enabling it at once, whatever the "
        "back-off, so users are not stranded on failing regions",
        evidence={"failing": [str(n) for n in enabled], "healthy": name},
        # A disable held from an earlier run in enforce mode: outside enforce, still never a write.
        dry_run=config.failover.mode != "enforce",
        urgent=True,
    )


def _never_acts(config: Config) -> tuple[str, str] | None:
    """Why this instance decides nothing, and the setting that says so; None when it acts."""
    if config.failover.mode == "off":
        return "failover.mode is off", "failover.mode: off"
    if config.role == "observer":
        return "an observer never acts: the decider decides", "role: observer"
    return None


def everything_fails_from_here(state: PolicyState, config: Config, now: datetime) -> bool:
    """Every configured region (two or more) failed a round from here within the last
    `SUSPECT_ROUNDS` intervals: judged over a window, not the latest rounds alone, so a region
    that passes one round amid a network fault on our side does not let the others be
    disabled; it ends once a region has passed for the whole window."""
    window = SUSPECT_ROUNDS * config.checks.https.interval
    failed_at = {name: state.region(name).last_failed_at for name in config.regions}
    return everything_fails(failed_at, list(config.regions), now, window)


def _second_witness(name: str, rp: RegionPolicy, world: World, config: Config) -> str | None:
    """Traffic Manager's own Degraded, when it may count as a second witness of network
    failures: its probes must not be `/healthz` (that would be our own verdict echoed back),
    the endpoint must be probed at all (not Always Serve), and it must have gone Degraded after
    our failures began."""
    profile = world.profile
    if profile is None or rp.failing is None or rp.tm_degraded_since is None:
        return None
    endpoint = profile.endpoint(config.endpoint_of(name))
    if endpoint is None or endpoint.always_serve:
        return None
    if endpoint.monitor_status is not MonitorStatus.DEGRADED:
        return None
    path = (profile.monitor.path or "").split("?", 1)[0].rstrip("/")
    if path == "/healthz":
        return None
    if rp.tm_degraded_since < rp.failing.since:
        return None
    return (
        f"Traffic Manager's own probes say Degraded since "
        f"{rp.tm_degraded_since:%H:%M:%S} UTC, after our failures began"
    )


def _why_failing(
    name: str, failing: Tally, rp: RegionPolicy, verdict: RegionVerdict | None, in_window: bool
) -> str:
    rounds = f"{name} failed {failing.rounds} round{'s' if failing.rounds != 1 else ''} in a row"
    span = failing.last_at - failing.since
    if failing.rounds > 1:
        rounds += f" over {_minutes(span)}"
    if in_window and rp.window is not None:
        deploy = rp.window.deploy
        kind = "deploy" if deploy.source is DeploySource.MARKER else "new release"
        rounds += f", within {_minutes(abs(failing.since - deploy.at))} of {kind} {deploy.version}"
    cause = _first_cause(verdict)
    return f"{rounds}: {cause}" if cause else rounds


def _first_cause(verdict: RegionVerdict | None) -> str:
    if verdict is None:
        return ""
    for result in verdict.results:
        if result.outcome is Outcome.DOWN and result.on_failure is OnFailure.FAILOVER:
            return f"{result.reason} on {result.check}"
    return "; ".join(verdict.reasons)


def _minutes(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} minutes"


def _receivers_in_words(name: str, world: World, config: Config) -> str:
    profile = world.profile
    if profile is None:
        return "; /healthz answers 503 for it (no traffic_manager section)"
    healthy = [
        n
        for n in config.regions
        if n != name and (v := world.verdicts.get(n)) is not None and v.status in _SERVING
    ]
    if not healthy:
        return ""
    covers = []
    for other in healthy:
        endpoint = profile.endpoint(config.endpoint_of(other))
        if endpoint is not None and endpoint.geo_mapping:
            covers.append(f"{other} is healthy and covers {', '.join(endpoint.geo_mapping)}")
        else:
            covers.append(f"{other} is healthy")
    return "; " + "; ".join(covers)


def _evidence(
    name: str,
    failing: Tally,
    rp: RegionPolicy,
    verdict: RegionVerdict | None,
    world: World,
    witness: str | None,
) -> dict[str, Any]:
    results = [
        {
            "check": r.check,
            "reason": r.reason,
            "class": r.failure_class.value if r.failure_class else None,
            "vantage": r.vantage,
        }
        for r in (verdict.results if verdict else ())
        if r.outcome is Outcome.DOWN and r.on_failure is OnFailure.FAILOVER
    ]
    return {
        "failing_rounds": failing.rounds,
        "since": failing.since.isoformat(),
        "content_rounds": failing.content,
        "deploy": (
            {
                "version": rp.window.deploy.version,
                "at": rp.window.deploy.at.isoformat(),
                "source": rp.window.deploy.source.value,
            }
            if rp.window is not None and rp.window.holds(failing.last_at)
            else None
        ),
        "results": results,
        "witness": witness,
    }


def _inconclusive(rp: RegionPolicy, reason: str) -> RegionPolicy:
    return replace(rp, stance=Stance.INCONCLUSIVE, reason=reason, next="nothing until it can tell")


def _held_out(state: PolicyState) -> list[str]:
    """The regions out of rotation by our decision: done, or decided and not yet carried out
    (two disables decided before either is done must not both count on the other's users)."""
    return [
        name
        for name, rp in state.regions.items()
        if rp.out_since is not None or rp.pending_action is Action.DISABLE
    ]


def _pending_disables(state: PolicyState) -> list[tuple[str, datetime]]:
    """Disables decided and not yet carried out, for the rate limit and the cooldown."""
    return [
        (name, rp.pending_at)
        for name, rp in state.regions.items()
        if rp.pending_action is Action.DISABLE and rp.pending_at is not None
    ]


def _with(state: PolicyState, name: str, rp: RegionPolicy) -> PolicyState:
    regions = dict(state.regions)
    regions[name] = rp
    return replace(state, regions=MappingProxyType(regions))


def _id(*parts: object) -> str:
    text = "|".join(p.isoformat() if isinstance(p, datetime) else str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:20]

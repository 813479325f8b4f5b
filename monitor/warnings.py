"""Warnings about regionwatch itself: a configuration under which the failover policy can never
act, or acts without the safety it assumes, and the monitor's own trouble (a failing store).

Pure: each source is a function of the configuration and what is known (`Known`: the profile
read from Traffic Manager, the write-permission check, whether a deploy marker was ever posted,
the policy's state, the store's write health) and yields `Warning` values. The engine's fold
computes them after every item of evidence, so a warning appears and goes as soon as what it
depends on changes; the service logs each change (`warning_raised`, `warning_cleared`), and
`/readyz`, the dashboard and `check --json` show them.

A new warning is one more function in `SOURCES` (and, if it needs a fact the others do not
read, one more field on `Known`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.config import Config
from monitor.controls import Controls, holding_while_paused
from monitor.events import Severity
from monitor.policy import PolicyState, RegionPolicy
from monitor.storehealth import WriteFailure
from monitor.trafficmanager.model import MonitorStatus, ProfileState
from monitor.trafficmanager.watch import AccessCheck

__all__ = [
    "SOURCES",
    "Known",
    "Warning",
    "WarningSource",
    "always_serve_endpoint",
    "changes",
    "compute_warnings",
    "decider_in_governed_region",
    "enforce_cannot_write",
    "governed_endpoints",
    "holding_disables_outside_enforce",
    "min_enabled_blocks_disables",
    "no_deploy_marker",
    "only_world_holder",
    "paused_while_holding_disables",
    "policy_acts",
    "store_writes_failing",
    "write_access_unknown",
]


@dataclass(frozen=True, slots=True)
class Warning:  # the domain's word: never raised, so never mistaken for the builtin
    """One thing wrong with regionwatch itself, while it keeps running.

    `code` is stable (scripts may match it), `subject` the endpoint, region or key it names
    (None when it is about the whole service), `message` one line saying what is wrong and
    `fix` what to do (None when `message` says both). `text` is the one line the service shows
    and logs. `code` and `subject` together identify it: the same pair is the same warning,
    whatever its words say now."""

    code: str
    severity: Severity
    message: str
    subject: str | None = None
    fix: str | None = None

    @property
    def key(self) -> str:
        return self.code if self.subject is None else f"{self.code}/{self.subject}"

    @property
    def text(self) -> str:
        """What is wrong and what to do, in one line."""
        return self.message if self.fix is None else f"{self.message}; {self.fix}"


@dataclass(frozen=True, slots=True)
class Known:
    """What the warnings are judged from, besides the configuration."""

    profile: ProfileState | None = None  # the last profile read (None: none yet, or no section)
    access: AccessCheck | None = None  # the last write-permission check that answered
    access_failure: AccessCheck | None = None  # the latest check, when it failed (unknown)
    deploy_marked: bool | None = None  # a marker was ever posted; None: cannot be known here
    policy: PolicyState | None = None
    store_failure: WriteFailure | None = None
    controls: Controls | None = None  # the pins, silences and pause in force
    now: datetime | None = None  # when the pause is judged (None: no pause can be in force)


WarningSource = Callable[[Config, Known], Iterable[Warning]]


def policy_acts(config: Config) -> bool:
    """Whether the policy decides at all: the warnings that say it can never act are noise
    when a person switched it off, or on an observer."""
    return config.failover.mode != "off" and config.role == "decider"


def governed_endpoints(config: Config, profile: ProfileState) -> dict[str, str]:
    """The profile's endpoints that regionwatch governs, by lower-case name → region."""
    by_endpoint = {config.endpoint_of(region).lower(): region for region in config.regions}
    return {
        e.name.lower(): by_endpoint[e.name.lower()]
        for e in profile.endpoints
        if e.name.lower() in by_endpoint
    }


def only_world_holder(config: Config, known: Known) -> Iterator[Warning]:
    """Under Geographic routing, the one enabled endpoint mapping WORLD can never be disabled:
    the coverage guard rail refuses to leave the rest of the world without an answer. (A
    Disabled holder is no fallback at all, which is not this warning.)"""
    profile = known.profile
    if not policy_acts(config) or profile is None or profile.routing_method.lower() != "geographic":
        return
    holders = [
        e for e in profile.endpoints if e.enabled and "WORLD" in (c.upper() for c in e.geo_mapping)
    ]
    ours = governed_endpoints(config, profile)
    if len(holders) != 1 or holders[0].name.lower() not in ours:
        return
    endpoint = holders[0].name
    region = ours[endpoint.lower()]
    yield Warning(
        "only_world_holder",
        Severity.WARNING,
        f"endpoint {endpoint} is the only one mapping WORLD: failover can never disable it "
        f"(users everywhere else would get no answer), so region {region} is never failed "
        "over, whatever its probes say",
        endpoint,
        f"accept it if {region} is the fallback region by design (the model deployment's "
        "centralus is); otherwise map WORLD to a nested profile, or to an endpoint whose "
        "region is not among those that fail",
    )


def min_enabled_blocks_disables(config: Config, known: Known) -> Iterator[Warning]:
    """`failover.min_enabled` at or above the number of endpoints: no disable can pass."""
    if not policy_acts(config):
        return
    minimum = config.failover.min_enabled
    if known.profile is not None:
        count, what = len(known.profile.endpoints), f"profile {known.profile.name} has"
    elif config.traffic_manager is None:
        count, what = len(config.regions), "the configuration has"  # regions stand for them
    else:
        return  # the profile is not read yet: its endpoints are not known
    if minimum < count:
        return
    noun = "endpoint" if config.traffic_manager is not None else "region"
    plural = noun if count == 1 else f"{noun}s"
    remedy = (
        f"set failover.min_enabled below {count}"
        if count > 1
        else f"failover needs a second {noun} to send the users to"
    )
    yield Warning(
        "min_enabled_blocks_disables",
        Severity.WARNING,
        f"failover.min_enabled is {minimum} and {what} {count} {plural}: no disable can ever "
        f"pass the min_enabled guard rail; {remedy}",
        "failover.min_enabled",
    )


def enforce_cannot_write(config: Config, known: Known) -> Iterator[Warning]:
    """Enforce mode with an identity that may not write the endpoints: every disable fails."""
    access = known.access
    if config.failover.mode != "enforce" or access is None or access.can_write:
        return
    yield Warning(
        "enforce_cannot_write",
        Severity.CRITICAL,
        f"enforce mode, cannot write to Traffic Manager: {access.detail}",
        "failover.mode",
        "give regionwatch's identity the Traffic Manager Contributor role on the profile, or "
        "set failover.mode: dry-run",
    )


def write_access_unknown(config: Config, known: Known) -> Iterator[Warning]:
    """Enforce mode, and the latest write-permission check failed: unknown, not "cannot"."""
    failure = known.access_failure
    if config.failover.mode != "enforce" or failure is None:
        return
    last = known.access
    stands = (
        "no earlier check answered"
        if last is None
        else f"the check of {_when(last.checked_at)} stands "
        f"({'can write' if last.can_write else 'cannot write'})"
    )
    yield Warning(
        "write_access_unknown",
        Severity.WARNING,
        f"the write-permission check failed at {_when(failure.checked_at)}: {failure.detail}; "
        f"{stands}",
        "traffic_manager",
        "it is tried again every hour; if it keeps failing, read the error (Resource Manager "
        "unreachable, throttled, the listing refused)",
    )


def always_serve_endpoint(config: Config, known: Known) -> Iterator[Warning]:
    """An endpoint of ours that Traffic Manager never probes (Always Serve, Unmonitored): our
    disable is the only thing that takes it out."""
    profile = known.profile
    if profile is None or config.role != "decider":
        return
    ours = governed_endpoints(config, profile)
    mode = config.failover.mode
    enforce = mode == "enforce"
    for endpoint in profile.endpoints:
        region = ours.get(endpoint.name.lower())
        unmonitored = endpoint.always_serve or endpoint.monitor_status is MonitorStatus.UNMONITORED
        if region is None or not unmonitored:
            continue
        idle = (
            ""
            if enforce
            else f"; failover.mode is {mode}, so nothing takes it out when {region} fails"
        )
        yield Warning(
            "always_serve_endpoint",
            Severity.INFO if enforce else Severity.WARNING,
            f"endpoint {endpoint.name} is Always Serve (Unmonitored): Traffic Manager never "
            f"takes it out itself, and regionwatch's disable is the only lever{idle}",
            endpoint.name,
            "keep regionwatch running in enforce mode"
            if enforce
            else f"set failover.mode: enforce, or turn Always Serve off on {endpoint.name}",
        )


def decider_in_governed_region(config: Config, known: Known) -> Iterator[Warning]:
    """The decider runs in a region it fails over (`api.local_region` or `vantage` names it):
    when that whole region is lost, the one instance that could take it out is lost with it.
    Before the profile is read every configured region counts as governed."""
    if not policy_acts(config):
        return
    profile = known.profile
    ours = (
        set(governed_endpoints(config, profile).values())
        if profile is not None
        else set(config.regions)
    )
    for key, region in (("api.local_region", config.api.local_region), ("vantage", config.vantage)):
        if region is None or region not in ours:
            continue
        yield Warning(
            "decider_in_governed_region",
            Severity.WARNING,
            f"the decider runs in {region} ({key}), a region it fails over: if the whole "
            f"region is lost, the decider goes with it and {region}'s endpoint is never "
            "disabled (under Geographic routing its users then get a dead region)",
            key,
            "run the decider where none of the regions it governs can take it down, with "
            "observers in the regions (docs/architecture.md)",
        )
        return  # one warning: both keys name where the same instance runs


def no_deploy_marker(config: Config, known: Known) -> Iterator[Warning]:
    """No deploy marker was ever posted: the bad-deploy rule waits for detection alone."""
    if not policy_acts(config) or known.deploy_marked is not False:
        return
    without = config.failover.failing_rounds_without_deploy
    outside = (
        "nothing is taken out outside a deploy window"
        if without is None
        else f"outside one a disable takes {without} failing rounds"
    )
    yield Warning(
        "no_deploy_marker",
        Severity.INFO,
        "no deploy marker was ever posted: deploy windows open only when a new release is "
        f"detected, and {outside}",
        "deploys",
        "post a marker after each region's rollout: regionwatch deploy --region NAME "
        "--version VERSION (or POST /api/v1/deploys)",
    )


def holding_disables_outside_enforce(config: Config, known: Known) -> Iterator[Warning]:
    """Out of enforce mode with endpoints still Disabled by regionwatch: nothing writes, so
    nothing enables them again."""
    policy = known.policy
    if config.failover.mode == "enforce" or policy is None:
        return
    for region, held in policy.regions.items():
        if not _ours_held_out(held):
            continue
        yield Warning(
            "holding_disables_outside_enforce",
            Severity.WARNING,
            f"failover.mode is {config.failover.mode} while {region}'s endpoint "
            f"{config.endpoint_of(region)} stays Disabled by regionwatch (since "
            f"{held.out_since:%Y-%m-%dT%H:%M:%SZ}): it is not enabled again until "
            "failover.mode is enforce; enable it yourself, or switch back",
            region,
        )


def paused_while_holding_disables(config: Config, known: Known) -> Iterator[Warning]:
    """The global pause in force while endpoints are Disabled by regionwatch: nothing enables
    them again, not even to keep users from being stranded, until it is resumed."""
    policy, controls, now = known.policy, known.controls, known.now
    if policy is None or controls is None or now is None:
        return
    out = [n for n, rp in policy.regions.items() if _ours_held_out(rp)]
    message = holding_while_paused(controls, out, now)
    if message is not None:
        yield Warning("paused_while_holding_disables", Severity.WARNING, message)


def _ours_held_out(held: RegionPolicy) -> bool:
    """Disabled in Traffic Manager by regionwatch's own decision, which it would put back: not
    a would-disable of dry-run, nor a person's disable made through regionwatch (theirs)."""
    return held.out_since is not None and not held.out_dry_run and not held.out_manual


def store_writes_failing(config: Config, known: Known) -> Iterator[Warning]:
    """The history store's writes fail: the service stays ready (see `monitor.fold`)."""
    if known.store_failure is not None:
        yield Warning(
            "store_writes_failing", Severity.WARNING, known.store_failure.describe(), "storage"
        )


# The order is the order shown: the monitor's own trouble first, then what stops it acting.
SOURCES: tuple[WarningSource, ...] = (
    store_writes_failing,
    enforce_cannot_write,
    write_access_unknown,
    holding_disables_outside_enforce,
    paused_while_holding_disables,
    only_world_holder,
    min_enabled_blocks_disables,
    always_serve_endpoint,
    decider_in_governed_region,
    no_deploy_marker,
)


def compute_warnings(
    config: Config, known: Known, sources: Sequence[WarningSource] = SOURCES
) -> tuple[Warning, ...]:
    """Every source's warnings, in the sources' order."""
    return tuple(warning for source in sources for warning in source(config, known))


def changes(
    before: Sequence[Warning], after: Sequence[Warning]
) -> tuple[list[Warning], list[Warning]]:
    """The warnings raised (in `after`, not `before`) and cleared (the other way), by key: a
    warning whose words changed (a new error, a later time) is neither."""
    old = {w.key for w in before}
    new = {w.key for w in after}
    return [w for w in after if w.key not in old], [w for w in before if w.key not in new]


def _when(epoch: float) -> str:
    return f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%dT%H:%M:%SZ}"

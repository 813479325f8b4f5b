"""The guard rails a disable must pass: never make things worse than Traffic Manager alone.

Pure functions of Traffic Manager's view (the snapshot's for the policy, a fresh read for the
actuator just before the write), our own probes' view of every region, the history of our
disables and the time. Each refusal names its guard rail and says why in words, naming the
geographies a disable would leave without an answer.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config import Config
from monitor.durations import format_duration
from monitor.results import RegionStatus
from monitor.trafficmanager.geography import GeographicHierarchy
from monitor.trafficmanager.model import ProfileState

__all__ = ["Guard", "Refusal", "check_disable", "coverage_gaps"]

_SERVING = frozenset({RegionStatus.HEALTHY, RegionStatus.DEGRADED})


class Guard(enum.StrEnum):
    """The guard rails, by name (the audit trail and `action.refused` events carry them)."""

    MODE = "mode"  # failover.mode is off
    MIN_ENABLED = "min_enabled"
    COVERAGE = "coverage"  # a geography left with no endpoint (Geographic routing)
    RECEIVERS = "receivers"  # the endpoints that would take the traffic are not healthy
    RATE = "rate"  # failover.max_disables_per_hour
    COOLDOWN = "cooldown"  # failover.cooldown since this endpoint's last disable
    UNREADABLE = "unreadable"  # Traffic Manager could not be read just before the write
    MISSING = "missing"  # the endpoint is not in the profile
    PAUSED = "paused"
    CONFLICT = "conflict"  # a person's command conflicts with a decision in flight or the owner


@dataclass(frozen=True, slots=True)
class Refusal:
    guard: Guard
    detail: str
    uncovered: tuple[str, ...] = ()  # geographies left with no answer, `CODE (Name)`


def check_disable(
    *,
    config: Config,
    region: str,
    profile: ProfileState | None,
    geography: GeographicHierarchy,
    serving: Mapping[str, RegionStatus],
    out: Collection[str],
    disables: Sequence[tuple[str, datetime]],
    now: datetime,
) -> list[Refusal]:
    """Why disabling `region`'s endpoint now would make things worse; empty when it would not.

    `serving` is every region's verdict by our probes, `out` the regions the policy holds out
    of rotation already (disabled by us, or would be in dry-run), `disables` our disables as
    (region, when), any order. Without a profile (no `traffic_manager` section, `/healthz` as
    the only lever) the regions stand for the endpoints and coverage cannot be told.
    """
    failover = config.failover
    refusals: list[Refusal] = []
    recent = [at for _, at in disables if now - at < timedelta(hours=1)]
    if len(recent) >= failover.max_disables_per_hour:
        refusals.append(
            Refusal(
                Guard.RATE,
                f"{len(recent)} disable{'s' if len(recent) != 1 else ''} in the last hour already "
                f"(failover.max_disables_per_hour: {failover.max_disables_per_hour})",
            )
        )
    mine = [at for name, at in disables if name == region]
    if mine and now - max(mine) < failover.cooldown:
        # When, not how long ago: a refusal is recorded again only when its words change, and
        # an age would change them every round.
        refusals.append(
            Refusal(
                Guard.COOLDOWN,
                f"{region} was disabled at {max(mine):%Y-%m-%d %H:%M:%S} UTC, less than "
                f"failover.cooldown ({format_duration(failover.cooldown)}) ago",
            )
        )
    if profile is None:
        refusals += _without_profile(config, region, serving, out)
        return refusals
    endpoint_name = config.endpoint_of(region)
    endpoint = profile.endpoint(endpoint_name)
    if endpoint is None:
        return [
            Refusal(Guard.MISSING, f"endpoint {endpoint_name!r} is not in profile {profile.name!r}")
        ]
    region_of = {config.endpoint_of(name).lower(): name for name in config.regions}
    enabled = [
        e for e in profile.endpoints if e.enabled and region_of.get(e.name.lower()) not in out
    ]
    others = [e for e in enabled if e.name.lower() != endpoint.name.lower()]
    if len(others) < failover.min_enabled:
        refusals.append(
            Refusal(
                Guard.MIN_ENABLED,
                f"disabling {endpoint.name} would leave {len(others)} enabled "
                f"endpoint{'s' if len(others) != 1 else ''}, fewer than failover.min_enabled "
                f"({failover.min_enabled})",
            )
        )
    if profile.routing_method.lower() == "geographic":
        gaps, receivers = coverage_gaps(
            endpoint.name,
            endpoint.geo_mapping,
            profile,
            geography,
            exclude=out_endpoints(config, out),
        )
        if gaps:
            named = tuple(geography.describe(code) for code in gaps)
            refusals.append(
                Refusal(
                    Guard.COVERAGE,
                    f"disabling {endpoint.name} would leave {', '.join(named)} with no endpoint: "
                    "users there would get no answer",
                    named,
                )
            )
    else:
        receivers = [e.name for e in others]
    unhealthy = []
    for name in sorted(set(receivers)):
        owner = region_of.get(name.lower())
        if owner is None:
            unhealthy.append(f"{name} (not watched by regionwatch)")
        elif serving.get(owner) not in _SERVING:
            status = serving.get(owner)
            unhealthy.append(f"{owner} ({status.value if status else 'not judged yet'})")
    if unhealthy:
        refusals.append(
            Refusal(
                Guard.RECEIVERS,
                f"the endpoints that would take {endpoint.name}'s users are not healthy by our "
                f"probes: {', '.join(unhealthy)}",
            )
        )
    return refusals


def out_endpoints(config: Config, out: Collection[str]) -> frozenset[str]:
    return frozenset(config.endpoint_of(region).lower() for region in out)


def coverage_gaps(
    endpoint: str,
    codes: Sequence[str],
    profile: ProfileState,
    geography: GeographicHierarchy,
    *,
    exclude: Collection[str] = (),
) -> tuple[list[str], list[str]]:
    """Under Geographic routing, the codes `endpoint` maps that no other enabled endpoint
    covers at a parent level once it is disabled, and the endpoints that would take the
    others. A lookup walks from a code up to WORLD and the first mapped code wins."""
    owners: dict[str, str] = {}
    for other in profile.endpoints:
        if not other.enabled or other.name.lower() == endpoint.lower():
            continue
        if other.name.lower() in exclude:
            continue
        for code in other.geo_mapping:
            owners.setdefault(code.upper(), other.name)
    gaps, receivers = [], []
    for code in codes:
        for ancestor in geography.lineage(code)[1:]:
            owner = owners.get(ancestor.upper())
            if owner is not None:
                receivers.append(owner)
                break
        else:
            gaps.append(code)
    return gaps, receivers


def _without_profile(
    config: Config, region: str, serving: Mapping[str, RegionStatus], out: Collection[str]
) -> list[Refusal]:
    others = [name for name in config.regions if name != region and name not in out]
    refusals = []
    if len(others) < config.failover.min_enabled:
        refusals.append(
            Refusal(
                Guard.MIN_ENABLED,
                f"taking {region} out would leave {len(others)} region"
                f"{'s' if len(others) != 1 else ''} in rotation, fewer than failover.min_enabled "
                f"({config.failover.min_enabled})",
            )
        )
    healthy = [name for name in others if serving.get(name) in _SERVING]
    if others and not healthy:
        refusals.append(
            Refusal(
                Guard.RECEIVERS,
                f"no other region is healthy by our probes to take {region}'s users: "
                + ", ".join(
                    f"{name} ({s.value if (s := serving.get(name)) else 'not judged yet'})"
                    for name in others
                ),
            )
        )
    return refusals

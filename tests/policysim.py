"""A world for the failover policy's property tests, without a socket: configurations to vary,
synthetic rounds of every kind, and a simulated Traffic Manager profile that the actuator and
an operator change, with the oracles the invariants are judged by (written from
docs/failover.md and docs/traffic-manager.md, not from the guard rails' code)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from monitor.config import Config, parse_config
from monitor.evaluate import verdict
from monitor.results import (
    CheckResult,
    FailureClass,
    OnFailure,
    Outcome,
    RegionStatus,
    RegionVerdict,
)
from monitor.trafficmanager.geography import BUILTIN, WORLD
from monitor.trafficmanager.model import (
    EndpointState,
    EndpointStatus,
    MonitorConfig,
    MonitorStatus,
    ProfileState,
)

__all__ = [
    "GEOGRAPHIC",
    "NO_PROFILE",
    "PRIORITY",
    "REGION_NAMES",
    "START",
    "UNWATCHED",
    "RoundKind",
    "Setup",
    "SimulatedTrafficManager",
    "answered",
    "round_of",
    "setups",
]

START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
REGION_NAMES = ("westeurope", "centralus", "eastasia", "brazilsouth")
# An endpoint in the profile that no configured region watches (a legacy origin, say).
UNWATCHED = "legacy"
GEOGRAPHIC, PRIORITY, NO_PROFILE = "Geographic", "Priority", None
# Codes an endpoint may map besides WORLD: two regional groupings, one of them with a country
# beneath it mapped separately, and one grouping nothing else mentions.
CODES = ("GEO-EU", "GEO-NA", "GEO-AS", "DE", "US")
_SERVING = frozenset({RegionStatus.HEALTHY, RegionStatus.DEGRADED})


class RoundKind(enum.StrEnum):
    """What a region's round saw."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"  # alert-level findings only (HSTS missing)
    FAILING_CONTENT = "failing_content"  # a 5xx: the same from anywhere
    FAILING_TRANSPORT = "failing_transport"  # refused connections: this path's word only
    FAILING_MIXED = "failing_mixed"  # both
    ERRORS = "errors"  # could not judge: our network
    ERRORS_AND_ALERT = "errors_and_alert"  # could not judge, and an alert-level finding


def _result(
    region: str,
    check: str,
    at: datetime,
    outcome: Outcome,
    *,
    on_failure: OnFailure = OnFailure.FAILOVER,
    failure_class: FailureClass | None = None,
    reason: str = "",
    release: str | None = None,
) -> CheckResult:
    return CheckResult(
        check,
        "https",
        region,
        outcome,
        at,
        timedelta(milliseconds=5),
        reason=reason,
        on_failure=on_failure,
        failure_class=failure_class,
        facts={"bypass_cache": "on"} if check == "origin" else {},
        release=release,
    )


def round_of(region: str, kind: RoundKind, at: datetime, release: str | None) -> RegionVerdict:
    """A round of `kind`, judged by the real `monitor.evaluate.verdict`; `release` is what the
    origin path's version header said, when it answered at all."""
    up = Outcome.UP
    down, error = Outcome.DOWN, Outcome.ERROR
    content, transport = FailureClass.CONTENT, FailureClass.TRANSPORT
    refused = "connection refused"
    results: list[CheckResult]
    match kind:
        case RoundKind.HEALTHY:
            results = [
                _result(region, "home", at, up),
                _result(region, "origin", at, up, release=release),
            ]
        case RoundKind.DEGRADED:
            results = [
                _result(region, "home", at, up),
                _result(region, "origin", at, up, release=release),
                _result(
                    region,
                    "hsts",
                    at,
                    down,
                    on_failure=OnFailure.ALERT,
                    failure_class=content,
                    reason="Strict-Transport-Security missing",
                ),
            ]
        case RoundKind.FAILING_CONTENT:
            results = [
                _result(region, "home", at, up),
                _result(
                    region,
                    "origin",
                    at,
                    down,
                    failure_class=content,
                    reason="status 500, expected 200",
                    release=release,
                ),
            ]
        case RoundKind.FAILING_TRANSPORT:
            results = [
                _result(region, "home", at, down, failure_class=transport, reason=refused),
                _result(region, "origin", at, down, failure_class=transport, reason=refused),
            ]
        case RoundKind.FAILING_MIXED:
            results = [
                _result(region, "home", at, down, failure_class=transport, reason=refused),
                _result(
                    region,
                    "origin",
                    at,
                    down,
                    failure_class=content,
                    reason="X-Cache-Status: STALE",
                    release=release,
                ),
            ]
        case RoundKind.ERRORS:
            results = [
                _result(region, "home", at, error, reason="our resolver timed out"),
                _result(region, "origin", at, error, reason="our resolver timed out"),
            ]
        case RoundKind.ERRORS_AND_ALERT:
            results = [
                _result(region, "home", at, error, reason="our resolver timed out"),
                _result(
                    region,
                    "hsts",
                    at,
                    down,
                    on_failure=OnFailure.ALERT,
                    failure_class=content,
                    reason="Strict-Transport-Security missing",
                ),
            ]
    return verdict(region, results, at)


@dataclass
class SimulatedEndpoint:
    name: str  # as the profile spells it (maybe not as the configuration does)
    region: str | None  # None: not watched by regionwatch
    enabled: bool = True
    probe: MonitorStatus = MonitorStatus.ONLINE  # Traffic Manager's own probes, while enabled
    always_serve: bool = False
    geo: tuple[str, ...] = ()
    priority: int | None = None

    def state(self) -> EndpointState:
        if not self.enabled:
            monitor = MonitorStatus.DISABLED
        elif self.always_serve:
            monitor = MonitorStatus.UNMONITORED
        else:
            monitor = self.probe
        return EndpointState(
            name=self.name,
            type_segment="ExternalEndpoints",
            target=f"{self.name}.example.net",
            endpoint_status=EndpointStatus.ENABLED if self.enabled else EndpointStatus.DISABLED,
            monitor_status=monitor,
            geo_mapping=self.geo,
            priority=self.priority,
            always_serve=self.always_serve,
        )


@dataclass
class SimulatedTrafficManager:
    """The profile as Azure holds it: changed by our PATCHes and by people, read whole."""

    routing: str
    monitor_path: str
    endpoints: list[SimulatedEndpoint] = field(default_factory=list)

    def profile(self) -> ProfileState:
        return ProfileState(
            name="blog",
            routing_method=self.routing,
            profile_status="Enabled",
            fqdn="blog.trafficmanager.net",
            ttl=60,
            monitor=MonitorConfig("HTTPS", 443, self.monitor_path, 30, 10, 3),
            endpoints=tuple(e.state() for e in self.endpoints),
        )

    def of_region(self, region: str) -> SimulatedEndpoint:
        return next(e for e in self.endpoints if e.region == region)

    def enabled(self, *, without: Iterable[str] = ()) -> list[SimulatedEndpoint]:
        """The enabled endpoints, leaving out those of the regions `without` (held out in
        dry-run: what enforce would have disabled)."""
        left_out = set(without)
        return [e for e in self.endpoints if e.enabled and e.region not in left_out]


def answered(enabled: Iterable[SimulatedEndpoint]) -> frozenset[str]:
    """Every code of the hierarchy whose users get an answer from these enabled endpoints:
    the walk from a code up to WORLD finds one of them mapping it."""
    mapped = {code.upper() for e in enabled for code in e.geo}
    codes = [g.code for g, _ in BUILTIN.root.walk()]
    return frozenset(c for c in codes if any(a in mapped for a in BUILTIN.lineage(c)))


def receiver_of(code: str, enabled: Iterable[SimulatedEndpoint]) -> SimulatedEndpoint | None:
    """Who answers the users of `code` once its own mapping is gone: the first enabled
    endpoint mapping one of its parents."""
    owners = {c.upper(): e for e in enabled for c in e.geo}
    for ancestor in BUILTIN.lineage(code)[1:]:
        if ancestor in owners:
            return owners[ancestor]
    return None


@dataclass(frozen=True, repr=False)
class Setup:
    """One configuration and the profile it starts with (None: no traffic_manager section)."""

    config: Config
    tm: SimulatedTrafficManager | None

    @property
    def regions(self) -> list[str]:
        return list(self.config.regions)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # Hypothesis' report: the shape, not every default

    def __repr__(self) -> str:
        f = self.config.failover
        tm = self.tm
        shape = (
            "no traffic_manager"
            if tm is None
            else f"{tm.routing}, path {tm.monitor_path}, "
            + ", ".join(
                f"{e.name}{'*' if e.always_serve else ''}:{'/'.join(e.geo) or e.priority}"
                for e in tm.endpoints
            )
        )
        return (
            f"{shape}; mode {f.mode}, min_enabled {f.min_enabled}, rate {f.max_disables_per_hour}"
            f"/h, cooldown {f.cooldown}, failing {f.failing_rounds}/"
            f"{f.failing_rounds_without_deploy}, healthy {f.healthy_rounds}"
        )


def _config(regions: list[str], routing: str | None, failover: Mapping[str, Any]) -> Config:
    data: dict[str, Any] = {
        "site": {"hostname": "blog.example.com"},
        "regions": {name: {"address": f"192.0.2.{i + 1}"} for i, name in enumerate(regions)},
        "checks": {"https": {"interval": "10s", "timeout": "5s"}},
        "failover": dict(failover),
    }
    if routing is not None:
        data["traffic_manager"] = {
            "subscription_id": "s",
            "resource_group": "rg",
            "profile": "blog",
        }
    return parse_config(data)


@st.composite
def _failover(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "mode": draw(st.sampled_from(["enforce", "dry-run"])),
        "failing_rounds": draw(st.integers(1, 3)),
        "failing_rounds_without_deploy": draw(st.sampled_from([None, 2, 4])),
        "healthy_rounds": draw(st.integers(1, 3)),
        "min_enabled": draw(st.integers(1, 2)),
        "max_disables_per_hour": draw(st.sampled_from([1, 2, 5, 0])),
        "cooldown": draw(st.sampled_from(["1m", "10m", "30m"])),
        "deploy_window": draw(st.sampled_from(["5m", "30m"])),
    }


@st.composite
def setups(draw: st.DrawFn, routing: str | None) -> Setup:
    """A configuration of 2–4 regions and its profile: Geographic (with or without a WORLD
    holder, which may be unwatched), Priority, or no profile at all."""
    regions = list(REGION_NAMES[: draw(st.integers(2, 4))])
    config = _config(regions, routing, draw(_failover()))
    if routing is None:
        return Setup(config, None)
    # Profile names spelled otherwise than the configuration: Azure compares them regardless.
    capitals = draw(st.booleans())
    endpoints = [
        SimulatedEndpoint(name.capitalize() if capitals else name, name) for name in regions
    ]
    unwatched = draw(st.booleans())
    if unwatched:
        endpoints.append(SimulatedEndpoint(UNWATCHED, None))
    if routing == GEOGRAPHIC:
        # Azure: each endpoint maps at least one code, each code one endpoint at most.
        codes = draw(st.permutations(CODES))
        geo: dict[int, list[str]] = {i: [codes[i]] for i in range(len(endpoints))}
        for code in codes[len(endpoints) :]:
            owner = draw(st.sampled_from([None, *range(len(endpoints))]))
            if owner is not None:
                geo[owner].append(code)
        world = draw(st.sampled_from([None, *range(len(endpoints))]))
        if world is not None:
            geo[world].append(WORLD)
        endpoints = [replace(e, geo=tuple(geo[i])) for i, e in enumerate(endpoints)]
    else:
        order = draw(st.permutations(range(1, len(endpoints) + 1)))
        endpoints = [replace(e, priority=order[i]) for i, e in enumerate(endpoints)]
    endpoints = [
        replace(e, always_serve=draw(st.booleans()) if draw(st.booleans()) else False)
        for e in endpoints
    ]
    path = draw(st.sampled_from(["/", "/healthz", "/healthz?region=westeurope"]))
    return Setup(config, SimulatedTrafficManager(routing, path, endpoints))


def serving(status: RegionStatus | None) -> bool:
    return status in _SERVING

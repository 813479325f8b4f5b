"""The API's response shapes (pydantic), built from the engine's snapshot and the store.

They are kept apart from the internal dataclasses so the contract can stay still while the
engine changes. `check --json` prints the same region and DNS shapes
(docs/contract/check.schema.json).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from monitor.dnsmap import DnsFinding
from monitor.events import EventType, Severity
from monitor.eventstore import StoredEvent
from monitor.results import CheckResult, DnsStatus, FailureClass, OnFailure, Outcome, RegionStatus
from monitor.snapshot import RegionView, Snapshot, TrafficManagerView
from monitor.snapshot import Streak as StreakState
from monitor.trafficmanager.compare import EndpointView
from monitor.trafficmanager.model import EndpointState, EndpointStatus, MonitorStatus
from monitor.trafficmanager.watch import Reading

__all__ = [
    "CheckOut",
    "DnsAnswerOut",
    "DnsOut",
    "EndpointOut",
    "ErrorOut",
    "EventOut",
    "EventsPage",
    "ReadinessOut",
    "RegionOut",
    "RegionsOut",
    "TrafficManagerOut",
    "TrafficManagerReadOut",
    "check_out",
    "dns_answer_out",
    "event_out",
    "region_out",
    "traffic_manager_out",
    "traffic_manager_read_out",
]

Fact = str | int | float | bool | None


class ErrorOut(BaseModel):
    """Every error the API answers has this shape."""

    status: int = Field(examples=[404])
    error: str = Field(description="A short, stable code", examples=["not_found"])
    detail: str = Field(examples=["unknown region 'westeurop'"])


class CheckOut(BaseModel):
    """One check's result in one round (samples folded)."""

    check: str = Field(examples=["home"])
    kind: str = Field(examples=["https"])
    outcome: Outcome
    reason: str = Field(examples=["status 500, expected 200"])
    latency_ms: float | None
    on_failure: OnFailure | None = Field(description="What a `down` means; null unless down")
    failure_class: FailureClass | None = Field(
        description="content (seen the same from anywhere) or transport (path-dependent)"
    )
    started_at: datetime
    vantage: str = Field(description="The vantage point that saw it", examples=["local"])
    release: str | None = Field(description="The version header's value, when present")
    facts: dict[str, Fact]


class EndpointOut(BaseModel):
    """Traffic Manager's view of one endpoint."""

    endpoint: str = Field(examples=["westeurope"])
    endpoint_status: EndpointStatus
    monitor_status: MonitorStatus
    target: str | None
    geo_mapping: list[str]
    priority: int | None
    weight: int | None
    always_serve: bool


class StreakOut(BaseModel):
    """Consecutive rounds with the same status."""

    status: RegionStatus
    rounds: int
    since: datetime
    last_at: datetime


class RegionOut(BaseModel):
    name: str = Field(examples=["westeurope"])
    status: RegionStatus = Field(description="The verdict of the region's latest round alone")
    decided_at: datetime
    reasons: list[str]
    checks: list[CheckOut]
    traffic_manager: EndpointOut | None = Field(
        description="Traffic Manager's view of the region's endpoint (null before a read)"
    )
    findings: list[str] = Field(
        description="Drift from the configuration and disagreements with Traffic Manager"
    )
    streak: StreakOut | None = Field(description="The run of rounds with this status")


class RegionsOut(BaseModel):
    regions: list[RegionOut]


class HistoryItemOut(BaseModel):
    status: RegionStatus
    decided_at: datetime
    reasons: list[str]


class RegionDetailOut(RegionOut):
    history: list[HistoryItemOut] = Field(description="Earlier rounds' verdicts, newest first")
    recent_checks: list[CheckOut] = Field(description="Their checks, newest first")


class HopOut(BaseModel):
    name: str
    target: str
    ttl: int


class DnsAnswerOut(BaseModel):
    """One resolver × vantage point, judged."""

    resolver: str = Field(examples=["eu"])
    vantage: str | None = Field(examples=["europe"])
    addresses: list[str]
    region: str | None
    expected_region: str | None
    status: DnsStatus
    reason: str
    ttl: int | None
    cname_chain: list[HopOut]
    ecs_sent: str | None
    ecs_scope: int | None
    tcp: bool
    latency_ms: float | None


class DnsOut(BaseModel):
    configured: bool
    checked_at: datetime | None
    site_nxdomain: bool = Field(description="Every resolver says the site's name does not exist")
    dns: list[DnsAnswerOut]


class TrafficManagerReadOut(BaseModel):
    """The latest read of the profile: when, and its error (null when it worked)."""

    read_at: datetime
    error: str | None


class EventOut(BaseModel):
    id: str = Field(description="Stable: the same change always has the same id")
    type: EventType
    severity: Severity
    region: str | None
    at: datetime = Field(description="When the change was seen")
    since: datetime = Field(description="When the condition it opens or closes began")
    summary: str
    evidence: dict[str, Any]
    instance: str = Field(description="The instance that saw it")
    problem: str = Field(description="The condition it is about, e.g. region/westeurope")
    resolved: bool = Field(description="True when it closes that condition")


class EventsPage(BaseModel):
    events: list[EventOut]
    next: int | None = Field(
        description="Pass as `before` for the next (older) page; null on the last page"
    )


class ReadinessOut(BaseModel):
    ready: bool
    problems: list[str] = Field(description="Why the service is not ready (then 503)")
    warnings: list[str] = Field(description="What is wrong while it stays ready")


class TrafficManagerOut(BaseModel):
    configured: bool
    mode: str | None = None
    read_at: datetime | None = None
    error: str | None = None
    failing_since: datetime | None = None
    profile_read_at: datetime | None = None
    profile: dict[str, Any] | None = None
    write_access: dict[str, Any] | None = None
    regions: dict[str, dict[str, Any]] = Field(default_factory=dict)


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def check_out(result: CheckResult) -> CheckOut:
    return CheckOut(
        check=result.check,
        kind=result.kind,
        outcome=result.outcome,
        reason=result.reason,
        latency_ms=result.latency_ms,
        on_failure=result.on_failure if result.outcome is Outcome.DOWN else None,
        failure_class=result.failure_class,
        started_at=result.started_at,
        vantage=result.vantage,
        release=result.release,
        facts=dict(result.facts),
    )


def endpoint_out(view: EndpointView | None) -> EndpointOut | None:
    """A region's `traffic_manager` object; None when Traffic Manager was not read, lacks the
    endpoint, or reports no monitor status this release knows (the contract's enum)."""
    if view is None or view.state is None or view.state.monitor_status is None:
        return None
    state = view.state
    return EndpointOut(endpoint=view.endpoint, **_endpoint_fields(state))


def _endpoint_fields(state: EndpointState) -> dict[str, Any]:
    return {
        "endpoint_status": state.endpoint_status,
        "monitor_status": state.monitor_status,
        "target": state.target,
        "geo_mapping": list(state.geo_mapping),
        "priority": state.priority,
        "weight": state.weight,
        "always_serve": state.always_serve,
    }


def _streak_out(streak: StreakState | None) -> StreakOut | None:
    if streak is None:
        return None
    return StreakOut(
        status=streak.status, rounds=streak.rounds, since=streak.since, last_at=streak.last_at
    )


def region_out(view: RegionView) -> RegionOut:
    verdict = view.verdict
    return RegionOut(
        name=view.name,
        status=verdict.status,
        decided_at=verdict.decided_at,
        reasons=list(verdict.reasons),
        checks=[check_out(r) for r in verdict.results],
        traffic_manager=endpoint_out(view.endpoint),
        findings=list(view.endpoint.findings) if view.endpoint is not None else [],
        streak=_streak_out(view.streak),
    )


def dns_answer_out(finding: DnsFinding) -> DnsAnswerOut:
    answer = finding.answer
    return DnsAnswerOut(
        resolver=answer.resolver,
        vantage=answer.vantage,
        addresses=list(answer.addresses),
        region=finding.region,
        expected_region=finding.expected_region,
        status=finding.status,
        reason=finding.reason,
        ttl=answer.address_ttl,
        cname_chain=[HopOut(name=h.name, target=h.target, ttl=h.ttl) for h in answer.hops],
        ecs_sent=answer.ecs_sent,
        ecs_scope=answer.ecs_scope,
        tcp=answer.used_tcp,
        latency_ms=answer.latency_ms,
    )


def traffic_manager_read_out(reading: Reading | None) -> TrafficManagerReadOut | None:
    if reading is None:
        return None
    return TrafficManagerReadOut(read_at=_time(reading.read_at), error=reading.error)


def event_out(stored: StoredEvent) -> EventOut:
    e = stored.event
    return EventOut(
        id=e.id,
        type=e.type,
        severity=e.severity,
        region=e.region,
        at=e.at,
        since=e.since,
        summary=e.summary,
        evidence=dict(e.evidence),
        instance=e.instance,
        problem=e.problem,
        resolved=e.resolved,
    )


def traffic_manager_out(snapshot: Snapshot, mode: str) -> TrafficManagerOut:
    """`GET /api/v1/traffic-manager`: the last read, the write-access check, the views."""
    tm: TrafficManagerView | None = snapshot.traffic_manager
    if tm is None:
        return TrafficManagerOut(configured=False)
    reading, access, good, profile = tm.latest, tm.access, tm.last_good, tm.profile
    return TrafficManagerOut(
        configured=True,
        mode=mode,
        read_at=_time(reading.read_at) if reading else None,
        error=reading.error if reading else None,
        failing_since=_time(tm.failing_since) if tm.failing_since is not None else None,
        profile_read_at=_time(good.read_at) if good else None,
        profile=None
        if profile is None
        else {
            "name": profile.name,
            "routing_method": profile.routing_method,
            "profile_status": profile.profile_status,
            "fqdn": profile.fqdn,
            "ttl": profile.ttl,
            "monitor": {
                "protocol": profile.monitor.protocol,
                "port": profile.monitor.port,
                "path": profile.monitor.path,
                "interval_s": profile.monitor.interval_s,
                "timeout_s": profile.monitor.timeout_s,
                "tolerated_failures": profile.monitor.tolerated_failures,
            },
            "endpoints": [
                {
                    "name": e.name,
                    "type": e.type_segment,
                    **_json_fields(e),
                    "geographies": [tm.geography.describe(code) for code in e.geo_mapping],
                }
                for e in profile.endpoints
            ],
        },
        write_access=None
        if access is None
        else {
            "checked_at": _time(access.checked_at),
            "can_write": access.can_write,
            "detail": access.detail,
        },
        regions={
            name: {"endpoint": view.endpoint.endpoint, "findings": list(view.endpoint.findings)}
            for name, view in snapshot.regions.items()
            if view.endpoint is not None
        },
    )


def _json_fields(state: EndpointState) -> dict[str, Any]:
    fields = _endpoint_fields(state)
    fields["endpoint_status"] = state.endpoint_status.value
    fields["monitor_status"] = state.monitor_status.value if state.monitor_status else None
    return fields

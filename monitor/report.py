"""Verdicts as JSON documents: the `check --json` contract and the API's region shape."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.dnsmap import FAILING_STATUSES, DnsFinding
from monitor.results import CheckResult, Outcome, RegionStatus, RegionVerdict
from monitor.trafficmanager.compare import EndpointView
from monitor.trafficmanager.model import EndpointState
from monitor.trafficmanager.watch import Reading

if TYPE_CHECKING:
    from monitor.service import Service

__all__ = [
    "check_document",
    "dns_dict",
    "endpoint_dict",
    "exit_code",
    "iso",
    "result_dict",
    "traffic_manager_dict",
    "verdict_dict",
]


def result_dict(result: CheckResult) -> dict[str, Any]:
    return {
        "check": result.check,
        "kind": result.kind,
        "outcome": result.outcome.value,
        "reason": result.reason,
        "latency_ms": result.latency_ms,
        "on_failure": result.on_failure.value if result.outcome is Outcome.DOWN else None,
        "failure_class": result.failure_class.value if result.failure_class else None,
        "started_at": result.started_at.isoformat(),
        "facts": dict(result.facts),
    }


# The values docs/contract/check.schema.json allows; anything else (or nothing) is not reported
# as a Traffic Manager view rather than breaking the contract.
_ENDPOINT_STATUSES = frozenset({"Enabled", "Disabled"})
_MONITOR_STATUSES = frozenset(
    {"CheckingEndpoint", "Online", "Degraded", "Disabled", "Inactive", "Stopped", "Unmonitored"}
)


def _endpoint_fields(state: EndpointState) -> dict[str, Any]:
    return {
        "endpoint_status": state.endpoint_status,
        "monitor_status": state.monitor_status,
        "target": state.target,
        "geo_mapping": list(state.geo_mapping),
        "priority": state.priority,
        "weight": state.weight,
    }


def endpoint_dict(view: EndpointView | None) -> dict[str, Any] | None:
    """A region's `traffic_manager` object; None when TM was not read, lacks the endpoint, or
    reports a status outside the contract's values."""
    if view is None or view.state is None:
        return None
    state = view.state
    if (
        state.endpoint_status not in _ENDPOINT_STATUSES
        or state.monitor_status not in _MONITOR_STATUSES
    ):
        return None
    return {"endpoint": view.endpoint, **_endpoint_fields(state)}


def verdict_dict(verdict: RegionVerdict, view: EndpointView | None = None) -> dict[str, Any]:
    """A region: our verdict and checks, Traffic Manager's view of its endpoint, and findings
    that are not part of the verdict (drift, disagreement with Traffic Manager)."""
    return {
        "name": verdict.region,
        "status": verdict.status.value,
        "decided_at": verdict.decided_at.isoformat(),
        "reasons": list(verdict.reasons),
        "checks": [result_dict(r) for r in verdict.results],
        "traffic_manager": endpoint_dict(view),
        "findings": list(view.findings) if view is not None else [],
    }


def dns_dict(finding: DnsFinding) -> dict[str, Any]:
    """One resolver × vantage point: the `dns` items of `check --json` and `/api/v1/dns`."""
    answer = finding.answer
    return {
        "resolver": answer.resolver,
        "vantage": answer.vantage,
        "addresses": list(answer.addresses),
        "region": finding.region,
        "expected_region": finding.expected_region,
        "status": finding.status,
        "reason": finding.reason,
        "ttl": answer.address_ttl,
        "cname_chain": [{"name": h.name, "target": h.target, "ttl": h.ttl} for h in answer.hops],
        "ecs_sent": answer.ecs_sent,
        "ecs_scope": answer.ecs_scope,
        "tcp": answer.used_tcp,
        "latency_ms": answer.latency_ms,
    }


def check_document(
    verdicts: Iterable[RegionVerdict],
    views: Mapping[str, EndpointView] | None = None,
    dns: Iterable[DnsFinding] = (),
    *,
    traffic_manager: Reading | None = None,
) -> dict[str, Any]:
    """The document `regionwatch check --json` prints (docs/contract/check.schema.json).
    `traffic_manager` is the round's read of the profile: when it failed, its error is in the
    document (the regions then have no `traffic_manager` view)."""
    views = views or {}
    return {
        "regions": [verdict_dict(v, views.get(v.region)) for v in verdicts],
        "dns": [dns_dict(f) for f in dns],
        "traffic_manager": None
        if traffic_manager is None
        else {"read_at": iso(traffic_manager.read_at), "error": traffic_manager.error},
    }


def exit_code(verdicts: Iterable[RegionVerdict], dns: Iterable[DnsFinding] = ()) -> int:
    """0 when every region is healthy or degraded and no DNS answer is wrong; 1 when a region
    is failing or unknown, or a DNS answer is mismatch, nxdomain, nodata, servfail or timeout."""
    ok = {RegionStatus.HEALTHY, RegionStatus.DEGRADED}
    regions_ok = all(v.status in ok for v in verdicts)
    dns_ok = all(f.status not in FAILING_STATUSES for f in dns)
    return 0 if regions_ok and dns_ok else 1


def traffic_manager_dict(service: Service) -> dict[str, Any]:
    """`GET /api/v1/traffic-manager`: the last read, the write-access check, the views."""
    watch = service.traffic_manager
    if watch is None:
        return {"configured": False}
    reading, access, good = watch.latest, watch.access, watch.last_good
    profile = watch.profile
    return {
        "configured": True,
        "mode": service.config.failover.mode,
        "read_at": iso(reading.read_at) if reading else None,
        "error": reading.error if reading else None,
        "failing_since": iso(watch.failing_since) if watch.failing_since is not None else None,
        "profile_read_at": iso(good.read_at) if good else None,
        "profile": None
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
                {"name": e.name, "type": e.type_segment, **_endpoint_fields(e)}
                for e in profile.endpoints
            ],
        },
        "write_access": None
        if access is None
        else {
            "checked_at": iso(access.checked_at),
            "can_write": access.can_write,
            "detail": access.access.detail if access.access else access.error,
        },
        "regions": {
            region: {"endpoint": view.endpoint, "findings": list(view.findings)}
            for region, view in service.endpoint_views().items()
        },
    }


def iso(timestamp: float) -> str:
    """An epoch timestamp as ISO 8601 in UTC."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat()

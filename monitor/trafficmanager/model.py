"""Traffic Manager's state as plain frozen dataclasses, parsed from ARM's REST JSON.

Parsing the REST shape (not the SDK's models) keeps us independent of the SDK's model
generation: 2.x returns "hybrid" models that nest fields under `properties`, 1.x flat ones,
and both serialize to the same JSON (docs/traffic-manager.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EndpointState", "MonitorConfig", "ProfileState", "WriteAccess", "parse_profile"]


@dataclass(frozen=True, slots=True)
class EndpointState:
    name: str
    type_segment: (
        str  # the URL segment the SDK takes: ExternalEndpoints, AzureEndpoints, NestedEndpoints
    )
    target: str | None
    endpoint_status: str  # Enabled | Disabled
    monitor_status: (
        str | None
    )  # CheckingEndpoint | Online | Degraded | Disabled | Inactive | Stopped | Unmonitored
    geo_mapping: tuple[str, ...] = ()
    priority: int | None = None
    weight: int | None = None

    @property
    def enabled(self) -> bool:
        return self.endpoint_status.lower() == "enabled"


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    protocol: str | None
    port: int | None
    path: str | None
    interval_s: int | None
    timeout_s: int | None
    tolerated_failures: int | None
    custom_headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ProfileState:
    name: str
    routing_method: str
    profile_status: str | None
    fqdn: str | None
    ttl: int | None
    monitor: MonitorConfig
    endpoints: tuple[EndpointState, ...] = ()

    def endpoint(self, name: str) -> EndpointState | None:
        """An endpoint by name; Azure compares names case-insensitively."""
        return next((e for e in self.endpoints if e.name.lower() == name.lower()), None)


@dataclass(frozen=True, slots=True)
class WriteAccess:
    """Whether this identity may write the profile's endpoints, from ARM's permissions listing."""

    can_write: bool
    detail: str
    actions: tuple[str, ...] = field(default=())


def _type_segment(resource_type: str) -> str:
    # The response says Microsoft.Network/trafficManagerProfiles/externalEndpoints; calls take
    # ExternalEndpoints (docs/traffic-manager.md).
    last = resource_type.rsplit("/", 1)[-1]
    return last[:1].upper() + last[1:]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def parse_profile(raw: Mapping[str, Any]) -> ProfileState:
    """A profile from its REST JSON (`properties` nested, camelCase keys)."""
    props = raw.get("properties") or {}
    dns = props.get("dnsConfig") or {}
    monitor = props.get("monitorConfig") or {}
    endpoints = []
    for item in props.get("endpoints") or []:
        ep = item.get("properties") or {}
        endpoints.append(
            EndpointState(
                name=str(item.get("name", "")),
                type_segment=_type_segment(str(item.get("type", "externalEndpoints"))),
                target=_text(ep.get("target")),
                endpoint_status=_text(ep.get("endpointStatus")) or "Enabled",
                monitor_status=_text(ep.get("endpointMonitorStatus")),
                geo_mapping=tuple(ep.get("geoMapping") or ()),
                priority=ep.get("priority"),
                weight=ep.get("weight"),
            )
        )
    return ProfileState(
        name=str(raw.get("name", "")),
        routing_method=_text(props.get("trafficRoutingMethod")) or "",
        profile_status=_text(props.get("profileStatus")),
        fqdn=dns.get("fqdn"),
        ttl=dns.get("ttl"),
        monitor=MonitorConfig(
            protocol=_text(monitor.get("protocol")),
            port=monitor.get("port"),
            path=monitor.get("path"),
            interval_s=monitor.get("intervalInSeconds"),
            timeout_s=monitor.get("timeoutInSeconds"),
            tolerated_failures=monitor.get("toleratedNumberOfFailures"),
            custom_headers=tuple(
                (str(h.get("name")), str(h.get("value")))
                for h in monitor.get("customHeaders") or ()
            ),
        ),
        endpoints=tuple(endpoints),
    )

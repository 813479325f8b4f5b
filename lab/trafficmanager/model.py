"""Traffic Manager's resources as ARM describes them: profiles and endpoints, and their REST JSON
shapes (docs/traffic-manager.md). Reading and validating request bodies is `parse.py`'s job.

Everything here is immutable configuration. What Traffic Manager's probing finds out (an
endpoint's monitor status) lives in `state.py`, so a PATCH never races the prober.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "TM_SUFFIX",
    "Endpoint",
    "EndpointType",
    "Header",
    "MonitorConfig",
    "MonitorStatus",
    "Profile",
    "ProfileMonitorStatus",
    "Protocol",
    "RoutingMethod",
    "Status",
    "StatusRange",
    "Subnet",
    "deep_merge",
    "endpoint_properties",
    "monitor_json",
    "profile_properties",
]

Json = dict[str, Any]
TM_SUFFIX = "trafficmanager.net"
PROFILE_TYPE = "Microsoft.Network/trafficManagerProfiles"


class RoutingMethod(enum.StrEnum):
    PERFORMANCE = "Performance"
    PRIORITY = "Priority"
    WEIGHTED = "Weighted"
    GEOGRAPHIC = "Geographic"
    MULTI_VALUE = "MultiValue"
    SUBNET = "Subnet"


class EndpointType(enum.StrEnum):
    """The URL segment the SDK sends; responses spell it camelCase (`segment`)."""

    EXTERNAL = "ExternalEndpoints"
    AZURE = "AzureEndpoints"
    NESTED = "NestedEndpoints"

    @property
    def segment(self) -> str:
        return self.value[0].lower() + self.value[1:]

    @property
    def resource_type(self) -> str:
        return f"{PROFILE_TYPE}/{self.segment}"

    @classmethod
    def parse(cls, text: str) -> EndpointType | None:
        """`ExternalEndpoints`, `externalendpoints` or the full resource type; None if unknown."""
        last = text.rsplit("/", 1)[-1].lower()
        return next((kind for kind in cls if kind.value.lower() == last), None)


class Status(enum.StrEnum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"


class Protocol(enum.StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TCP = "TCP"


class MonitorStatus(enum.StrEnum):
    """An endpoint's monitor status (docs/traffic-manager.md, "Endpoint monitor status")."""

    CHECKING = "CheckingEndpoint"
    ONLINE = "Online"
    DEGRADED = "Degraded"
    DISABLED = "Disabled"
    INACTIVE = "Inactive"
    STOPPED = "Stopped"
    UNMONITORED = "Unmonitored"


class ProfileMonitorStatus(enum.StrEnum):
    CHECKING = "CheckingEndpoints"
    ONLINE = "Online"
    DEGRADED = "Degraded"
    DISABLED = "Disabled"
    INACTIVE = "Inactive"


@dataclass(frozen=True, slots=True)
class Header:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class StatusRange:
    min: int
    max: int


@dataclass(frozen=True, slots=True)
class Subnet:
    first: str
    last: str | None = None
    scope: int | None = None

    def contains(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
            first = ipaddress.ip_address(self.first)
            if self.scope is not None:
                return ip in ipaddress.ip_network(f"{self.first}/{self.scope}", strict=False)
            last = ipaddress.ip_address(self.last) if self.last else first
        except ValueError:
            return False
        return ip.version == first.version and first <= ip <= last  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    protocol: Protocol
    port: int
    path: str | None
    interval: int = 30
    timeout: int = 10
    tolerated_failures: int = 3
    custom_headers: tuple[Header, ...] = ()
    expected_status_ranges: tuple[StatusRange, ...] = ()

    def accepts(self, status: int) -> bool:
        """Whether a probe answer counts as a success: 200 only unless ranges are configured."""
        if not self.expected_status_ranges:
            return status == 200
        return any(r.min <= status <= r.max for r in self.expected_status_ranges)


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    type: EndpointType
    target: str | None
    status: Status = Status.ENABLED
    weight: int = 1
    priority: int = 0  # 0 only while parsing: the profile assigns the next free priority
    target_resource_id: str | None = None
    endpoint_location: str | None = None
    geo_mapping: tuple[str, ...] = ()
    subnets: tuple[Subnet, ...] = ()
    custom_headers: tuple[Header, ...] = ()
    min_child_endpoints: int | None = None
    always_serve: bool = False


@dataclass(frozen=True, slots=True)
class Profile:
    subscription_id: str
    resource_group: str
    name: str
    routing_method: RoutingMethod
    relative_name: str
    ttl: int
    monitor: MonitorConfig
    status: Status = Status.ENABLED
    endpoints: tuple[Endpoint, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    traffic_view: Status = Status.DISABLED
    allowed_record_types: tuple[str, ...] = ()
    max_return: int | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.subscription_id.lower(), self.resource_group.lower(), self.name.lower())

    @property
    def fqdn(self) -> str:
        return f"{self.relative_name}.{TM_SUFFIX}".lower()

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{PROFILE_TYPE}/{self.name}"
        )

    def endpoint(self, name: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.name.lower() == name.lower()), None)

    def endpoint_id(self, endpoint: Endpoint) -> str:
        return f"{self.id}/{endpoint.type.segment}/{endpoint.name}"


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> Json:
    """`patch` over `base`: objects merge key by key, anything else (lists too) replaces, and
    null removes the key (JSON merge patch, RFC 7396)."""
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# The REST shapes, without what Traffic Manager computes (`state.py` adds that).


def _headers_json(headers: Sequence[Header]) -> list[Json]:
    return [{"name": h.name, "value": h.value} for h in headers]


def monitor_json(monitor: MonitorConfig) -> Json:
    out: Json = {"protocol": monitor.protocol.value, "port": monitor.port}
    if monitor.path is not None:
        out["path"] = monitor.path
    out |= {
        "intervalInSeconds": monitor.interval,
        "timeoutInSeconds": monitor.timeout,
        "toleratedNumberOfFailures": monitor.tolerated_failures,
        "customHeaders": _headers_json(monitor.custom_headers),
        "expectedStatusCodeRanges": [
            {"min": r.min, "max": r.max} for r in monitor.expected_status_ranges
        ],
    }
    return out


def endpoint_properties(endpoint: Endpoint) -> Json:
    """The endpoint's configured properties, without what Traffic Manager computes."""
    out: Json = {}
    if endpoint.target_resource_id is not None:
        out["targetResourceId"] = endpoint.target_resource_id
    out |= {
        "target": endpoint.target,
        "endpointStatus": endpoint.status.value,
        "weight": endpoint.weight,
        "priority": endpoint.priority,
    }
    if endpoint.endpoint_location is not None:
        out["endpointLocation"] = endpoint.endpoint_location
    if endpoint.geo_mapping:
        out["geoMapping"] = list(endpoint.geo_mapping)
    if endpoint.subnets:
        out["subnets"] = [
            {k: v for k, v in (("first", s.first), ("last", s.last), ("scope", s.scope)) if v}
            for s in endpoint.subnets
        ]
    out["customHeaders"] = _headers_json(endpoint.custom_headers)
    if endpoint.min_child_endpoints is not None:
        out["minChildEndpoints"] = endpoint.min_child_endpoints
    out["alwaysServe"] = "Enabled" if endpoint.always_serve else "Disabled"
    return out


def profile_properties(profile: Profile) -> Json:
    """The profile's configured properties, without endpoints and computed fields."""
    props: Json = {
        "profileStatus": profile.status.value,
        "trafficRoutingMethod": profile.routing_method.value,
        "dnsConfig": {"relativeName": profile.relative_name, "ttl": profile.ttl},
        "monitorConfig": monitor_json(profile.monitor),
        "trafficViewEnrollmentStatus": profile.traffic_view.value,
        "allowedEndpointRecordTypes": list(profile.allowed_record_types),
    }
    if profile.max_return is not None:
        props["maxReturn"] = profile.max_return
    return props

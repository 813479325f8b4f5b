"""Traffic Manager's resources as ARM describes them: profiles and endpoints, and their REST JSON
shapes (docs/traffic-manager.md). Reading request bodies is `parse.py`'s job.

Everything here is immutable configuration. What Traffic Manager's probing finds out (an
endpoint's monitor status) lives in `state.py`, so a PATCH never races the prober.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GEOGRAPHIC",
    "TM_SUFFIX",
    "Endpoint",
    "EndpointType",
    "Header",
    "MonitorConfig",
    "MonitorStatus",
    "Profile",
    "ProfileMonitorStatus",
    "Protocol",
    "Status",
    "deep_merge",
    "endpoint_properties",
    "monitor_json",
    "profile_properties",
]

Json = dict[str, Any]
TM_SUFFIX = "trafficmanager.net"
PROFILE_TYPE = "Microsoft.Network/trafficManagerProfiles"


# The one routing method the emulator answers DNS by: the model deployment's.
GEOGRAPHIC = "Geographic"


class EndpointType(enum.StrEnum):
    """The URL segment the SDK sends; responses spell it camelCase (`segment`). External
    endpoints only: the model deployment's LoadBalancer IPs are all the service ever reads
    or writes."""

    EXTERNAL = "ExternalEndpoints"

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
class MonitorConfig:
    protocol: Protocol
    port: int
    path: str | None
    interval: int = 30
    timeout: int = 10
    tolerated_failures: int = 3
    custom_headers: tuple[Header, ...] = ()


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    type: EndpointType
    target: str
    status: Status = Status.ENABLED
    weight: int = 1
    priority: int = 0  # 0 only while parsing: the profile assigns the next free priority
    geo_mapping: tuple[str, ...] = ()
    always_serve: bool = False
    custom_headers: tuple[Header, ...] = ()  # when set, the prober sends these, not the profile's


@dataclass(frozen=True, slots=True)
class Profile:
    subscription_id: str
    resource_group: str
    name: str
    relative_name: str
    ttl: int
    monitor: MonitorConfig
    status: Status = Status.ENABLED
    endpoints: tuple[Endpoint, ...] = ()

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
    }
    return out


def endpoint_properties(endpoint: Endpoint) -> Json:
    """The endpoint's configured properties, without what Traffic Manager computes."""
    out: Json = {
        "target": endpoint.target,
        "endpointStatus": endpoint.status.value,
        "weight": endpoint.weight,
        "priority": endpoint.priority,
    }
    if endpoint.geo_mapping:
        out["geoMapping"] = list(endpoint.geo_mapping)
    out["alwaysServe"] = "Enabled" if endpoint.always_serve else "Disabled"
    if endpoint.custom_headers:
        out["customHeaders"] = _headers_json(endpoint.custom_headers)
    return out


def profile_properties(profile: Profile) -> Json:
    """The profile's configured properties, without endpoints and computed fields."""
    return {
        "profileStatus": profile.status.value,
        "trafficRoutingMethod": GEOGRAPHIC,
        "dnsConfig": {"relativeName": profile.relative_name, "ttl": profile.ttl},
        "monitorConfig": monitor_json(profile.monitor),
    }

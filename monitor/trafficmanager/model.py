"""Traffic Manager's state as plain frozen dataclasses, parsed from ARM's REST JSON.

Parsing the REST shape (not the SDK's models) keeps us independent of the SDK's model
generation: 2.x returns "hybrid" models that nest fields under `properties`, 1.x flat ones,
and both serialize to the same JSON (docs/traffic-manager.md).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class EndpointStatus(enum.StrEnum):
    """What the profile's owner set: the only field regionwatch ever writes."""

    ENABLED = "Enabled"
    DISABLED = "Disabled"


class MonitorStatus(enum.StrEnum):
    """What Traffic Manager's own probing says of an endpoint (docs/traffic-manager.md,
    "Endpoint monitor status")."""

    CHECKING_ENDPOINT = "CheckingEndpoint"  # first probe pending; in DNS answers
    ONLINE = "Online"
    DEGRADED = "Degraded"  # probes fail; under Geographic routing it keeps its traffic
    DISABLED = "Disabled"  # the endpoint is Disabled
    INACTIVE = "Inactive"  # the profile is disabled
    STOPPED = "Stopped"
    # Always Serve: never probed, never taken out by Traffic Manager itself; regionwatch's
    # disable is the only lever there is.
    UNMONITORED = "Unmonitored"


__all__ = [
    "EndpointState",
    "EndpointStatus",
    "MonitorConfig",
    "MonitorStatus",
    "NotAProfile",
    "ProfileState",
    "WriteAccess",
    "cut",
    "parse_endpoint",
    "parse_profile",
]

# How much of a name or value from an answer an error message quotes: enough to recognise it.
QUOTE_LIMIT = 80


@dataclass(frozen=True, slots=True)
class EndpointState:
    name: str
    type_segment: (
        str  # the URL segment the SDK takes: ExternalEndpoints, AzureEndpoints, NestedEndpoints
    )
    target: str | None
    endpoint_status: EndpointStatus
    monitor_status: MonitorStatus | None  # None: not reported, or a value this release lacks
    geo_mapping: tuple[str, ...] = ()
    priority: int | None = None
    weight: int | None = None
    always_serve: bool = False
    # The endpoint's own monitor headers: when set, Traffic Manager sends them instead of the
    # profile's (how each endpoint tells /healthz which region it is).
    custom_headers: tuple[tuple[str, str], ...] = ()

    @property
    def enabled(self) -> bool:
        return self.endpoint_status is EndpointStatus.ENABLED


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
    _by_name: Mapping[str, EndpointState] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        # Looked up per region on every read: an index, not a scan (the first of a name wins).
        index: dict[str, EndpointState] = {}
        for endpoint in self.endpoints:
            index.setdefault(endpoint.name.lower(), endpoint)
        object.__setattr__(self, "_by_name", index)

    def endpoint(self, name: str) -> EndpointState | None:
        """An endpoint by name; Azure compares names case-insensitively."""
        return self._by_name.get(name.lower())


@dataclass(frozen=True, slots=True)
class WriteAccess:
    """Whether this identity may write the profile's endpoints, from ARM's permissions listing."""

    can_write: bool
    detail: str
    actions: tuple[str, ...] = field(default=())


class NotAProfile(ValueError):
    """An answer that is not a Traffic Manager profile (or endpoint); the message says why."""


_PROFILE_TYPE = "microsoft.network/trafficmanagerprofiles"


def cut(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` as an error message may quote it: at most `limit` characters, an ellipsis
    saying when some were left out. An answer's names are the answer's: any length."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _type_segment(resource_type: str) -> str:
    # The response says Microsoft.Network/trafficManagerProfiles/externalEndpoints; calls take
    # ExternalEndpoints (docs/traffic-manager.md).
    last = resource_type.rsplit("/", 1)[-1]
    return last[:1].upper() + last[1:]


def _object(value: object, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise NotAProfile(f"{where} is {_kind(value)}, not an object")
    return value


def _list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise NotAProfile(f"{where} is {_kind(value)}, not a list")
    return value


def _str(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise NotAProfile(f"{where} is {_kind(value)}, not a string")
    return value


def _int(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotAProfile(f"{where} is {_kind(value)}, not a number")
    return value


def _name(raw: Mapping[str, Any], where: str) -> str:
    name = _str(raw.get("name"), f"{where}name")
    if not name:
        raise NotAProfile(f"{where.rstrip('.') or 'it'} has no name")
    return name


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _endpoint_status(value: str | None, where: str) -> EndpointStatus:
    if value is None:
        return EndpointStatus.ENABLED  # Azure's default when the field is left out
    for status in EndpointStatus:
        if value.lower() == status.value.lower():
            return status
    raise NotAProfile(f"{where} is {value!r}, not Enabled or Disabled")


def _monitor_status(value: str | None) -> MonitorStatus | None:
    # A status this release does not know is shown as unknown rather than refusing the profile.
    if value is None:
        return None
    return next((s for s in MonitorStatus if s.value.lower() == value.lower()), None)


def parse_endpoint(raw: object, where: str = "") -> EndpointState:
    """An endpoint from its REST JSON; NotAProfile when it is not one (`where` prefixes the
    field named in the message)."""
    item = _object(raw, where.rstrip(".") or "the answer")
    ep = _object(item.get("properties"), f"{where}properties")
    geo = [
        _str(code, f"{where}properties.geoMapping[{i}]")
        for i, code in enumerate(_list(ep.get("geoMapping"), f"{where}properties.geoMapping"))
    ]
    return EndpointState(
        name=_name(item, where),
        type_segment=_type_segment(_str(item.get("type"), f"{where}type") or "externalEndpoints"),
        target=_str(ep.get("target"), f"{where}properties.target"),
        endpoint_status=_endpoint_status(
            _str(ep.get("endpointStatus"), f"{where}properties.endpointStatus"),
            f"{where}properties.endpointStatus",
        ),
        monitor_status=_monitor_status(
            _str(ep.get("endpointMonitorStatus"), f"{where}properties.endpointMonitorStatus")
        ),
        always_serve=(_str(ep.get("alwaysServe"), f"{where}properties.alwaysServe") or "").lower()
        == "enabled",
        geo_mapping=tuple(code for code in geo if code is not None),
        priority=_int(ep.get("priority"), f"{where}properties.priority"),
        weight=_int(ep.get("weight"), f"{where}properties.weight"),
        custom_headers=_headers(ep.get("customHeaders"), f"{where}properties.customHeaders"),
    )


def _headers(value: object, where: str) -> tuple[tuple[str, str], ...]:
    """`customHeaders` as (name, value) pairs."""
    items = [_object(h, f"{where}[{i}]") for i, h in enumerate(_list(value, where))]
    return tuple((str(h.get("name")), str(h.get("value"))) for h in items)


def parse_profile(raw: object, *, name: str | None = None) -> ProfileState:
    """A profile from its REST JSON (`properties` nested, camelCase keys).

    Raises NotAProfile, saying why, for anything that is not a profile: not a JSON object, no
    name, another resource type, no routing method, a field of the wrong type, or (with `name`)
    another profile than `name` (compared case-insensitively, as Azure does)."""
    if raw is None:
        raise NotAProfile("the answer is null")
    obj = _object(raw, "the answer")
    if not obj:
        raise NotAProfile("it is an empty object")
    resource_type = _str(obj.get("type"), "type")
    if resource_type is not None and resource_type.lower() != _PROFILE_TYPE:
        raise NotAProfile(f"it is a {cut(resource_type)!r}")
    found = _name(obj, "")
    if name is not None and found.lower() != name.lower():
        raise NotAProfile(f"it is the profile {cut(found)!r}")
    props = _object(obj.get("properties"), "properties")
    routing = _str(props.get("trafficRoutingMethod"), "properties.trafficRoutingMethod")
    if not routing:
        raise NotAProfile("it has no properties.trafficRoutingMethod")
    dns = _object(props.get("dnsConfig"), "properties.dnsConfig")
    monitor = _object(props.get("monitorConfig"), "properties.monitorConfig")
    at = "properties.monitorConfig."
    return ProfileState(
        name=found,
        routing_method=routing,
        profile_status=_str(props.get("profileStatus"), "properties.profileStatus"),
        fqdn=_str(dns.get("fqdn"), "properties.dnsConfig.fqdn"),
        ttl=_int(dns.get("ttl"), "properties.dnsConfig.ttl"),
        monitor=MonitorConfig(
            protocol=_str(monitor.get("protocol"), f"{at}protocol"),
            port=_int(monitor.get("port"), f"{at}port"),
            path=_str(monitor.get("path"), f"{at}path"),
            interval_s=_int(monitor.get("intervalInSeconds"), f"{at}intervalInSeconds"),
            timeout_s=_int(monitor.get("timeoutInSeconds"), f"{at}timeoutInSeconds"),
            tolerated_failures=_int(
                monitor.get("toleratedNumberOfFailures"), f"{at}toleratedNumberOfFailures"
            ),
            custom_headers=_headers(monitor.get("customHeaders"), f"{at}customHeaders"),
        ),
        endpoints=tuple(
            parse_endpoint(item, f"properties.endpoints[{i}].")
            for i, item in enumerate(_list(props.get("endpoints"), "properties.endpoints"))
        ),
    )

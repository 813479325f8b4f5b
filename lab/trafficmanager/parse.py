"""Reading profile and endpoint request bodies into `model` types, with Traffic Manager's
documented validation rules (docs/traffic-manager.md, "The REST API as the SDK uses it") and messages that say
which field is wrong."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from lab.trafficmanager.errors import ArmError, bad_request
from lab.trafficmanager.model import (
    PROFILE_TYPE,
    Endpoint,
    EndpointType,
    Header,
    MonitorConfig,
    Profile,
    Protocol,
    RoutingMethod,
    Status,
    StatusRange,
    Subnet,
)

__all__ = ["parse_endpoint", "parse_profile", "validate_endpoints"]

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)
_MAX_HEADERS = 8  # profile and endpoint custom headers, and expected status code ranges


_E = TypeVar("_E", bound=enum.StrEnum)


def _object(value: object, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise bad_request(f"'{what}' must be a JSON object.")
    return value


def _list(value: object, what: str) -> Sequence[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"'{what}' must be a JSON array.")
    return value


def _text(obj: Mapping[str, Any], key: str, what: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise bad_request(f"The '{what}' property is required.")
        return None
    if not isinstance(value, str):
        raise bad_request(f"The value of '{what}' must be a string.")
    return value


def _integer(
    obj: Mapping[str, Any], key: str, what: str, low: int, high: int, default: int | None
) -> int:
    value = obj.get(key)
    if value is None:
        if default is None:
            raise bad_request(f"The '{what}' property is required.")
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"The value of '{what}' must be an integer.")
    if not low <= value <= high:
        raise bad_request(f"The value '{value}' of '{what}' is invalid: it must be {low}-{high}.")
    return value


def _choice(obj: Mapping[str, Any], key: str, what: str, kind: type[_E], default: _E | None) -> _E:
    text = _text(obj, key, what, required=default is None)
    if text is None:
        assert default is not None
        return default
    found = next((m for m in kind if m.value.lower() == text.lower()), None)
    if found is None:
        allowed = ", ".join(m.value for m in kind)
        raise bad_request(f"The value '{text}' of '{what}' is invalid. Allowed values: {allowed}.")
    return found


def _headers(value: object, what: str) -> tuple[Header, ...]:
    items = _list(value, what)
    if len(items) > _MAX_HEADERS:
        raise bad_request(f"At most {_MAX_HEADERS} custom headers are allowed in '{what}'.")
    headers = []
    for item in items:
        entry = _object(item, what)
        name = _text(entry, "name", f"{what}.name", required=True)
        text = _text(entry, "value", f"{what}.value", required=True)
        assert name is not None and text is not None
        if name.lower() == "host" and "*" in text:
            raise bad_request("A '*' in a custom Host header is not supported.")
        headers.append(Header(name, text))
    return tuple(headers)


# Monitor configuration.


def _monitor(value: object) -> MonitorConfig:
    obj = _object(value, "monitorConfig")
    protocol = _choice(obj, "protocol", "monitorConfig.protocol", Protocol, None)
    port = _integer(obj, "port", "monitorConfig.port", 1, 65535, None)
    path = _text(obj, "path", "monitorConfig.path")
    if protocol is Protocol.TCP:
        if path is not None:
            raise bad_request("The monitor path cannot be specified for the TCP protocol.")
        if obj.get("expectedStatusCodeRanges"):
            raise bad_request("Expected status code ranges are only allowed for HTTP(S).")
    elif path is None or not path.startswith("/"):
        raise bad_request("A monitor path starting with '/' is required for HTTP and HTTPS.")
    interval = _integer(obj, "intervalInSeconds", "monitorConfig.intervalInSeconds", 10, 30, 30)
    if interval not in (10, 30):
        raise bad_request(f"The probing interval '{interval}' is invalid. Allowed: 10, 30.")
    # Documented ranges: 5-10 s at a 30 s interval (default 10), 5-9 s at 10 s (default 9).
    high = 10 if interval == 30 else 9
    timeout = _integer(obj, "timeoutInSeconds", "monitorConfig.timeoutInSeconds", 5, high, high)
    tolerated = _integer(
        obj, "toleratedNumberOfFailures", "monitorConfig.toleratedNumberOfFailures", 0, 9, 3
    )
    ranges = []
    range_items = _list(obj.get("expectedStatusCodeRanges"), "expectedStatusCodeRanges")
    if len(range_items) > _MAX_HEADERS:
        raise bad_request(f"At most {_MAX_HEADERS} expected status code ranges are allowed.")
    for item in range_items:
        entry = _object(item, "expectedStatusCodeRanges")
        low = _integer(entry, "min", "expectedStatusCodeRanges.min", 100, 999, None)
        high_code = _integer(entry, "max", "expectedStatusCodeRanges.max", 100, 999, None)
        if low > high_code:
            raise bad_request(f"The status code range {low}-{high_code} is invalid.")
        ranges.append(StatusRange(low, high_code))
    return MonitorConfig(
        protocol=protocol,
        port=port,
        path=path,
        interval=interval,
        timeout=timeout,
        tolerated_failures=tolerated,
        custom_headers=_headers(obj.get("customHeaders"), "monitorConfig.customHeaders"),
        expected_status_ranges=tuple(ranges),
    )


# Endpoints.


def parse_endpoint(
    body: object,
    *,
    name: str | None = None,
    kind: EndpointType | None = None,
    canonical_geo: Callable[[str], str | None],
) -> Endpoint:
    """An endpoint resource (`{"name", "type", "properties"}`); `name`/`kind` come from the URL
    when the endpoint is addressed directly, and win over the body's."""
    obj = _object(body, "endpoint")
    if name is None:
        name = _text(obj, "name", "endpoints.name", required=True)
        assert name is not None
    if not name or name.strip() != name:
        raise bad_request(f"Endpoint name '{name}' is invalid.")
    if kind is None:
        type_text = _text(obj, "type", "endpoints.type", required=True)
        assert type_text is not None
        kind = EndpointType.parse(type_text)
        if kind is None:
            raise bad_request(f"The endpoint type '{type_text}' is invalid.")
    props = _object(obj.get("properties"), "properties")
    target = _text(props, "target", "target")
    resource_id = _text(props, "targetResourceId", "targetResourceId")
    if kind is EndpointType.EXTERNAL:
        if target is None:
            raise bad_request(f"The target of external endpoint '{name}' is required.")
        if resource_id is not None:
            raise bad_request("External endpoints cannot have a targetResourceId.")
    elif resource_id is None:
        raise bad_request(f"The targetResourceId of endpoint '{name}' is required.")
    geo = []
    for code in _list(props.get("geoMapping"), "geoMapping"):
        canonical = canonical_geo(code) if isinstance(code, str) else None
        if canonical is None:
            raise bad_request(f"The geographic region code '{code}' is invalid.")
        geo.append(canonical)
    subnets = []
    for item in _list(props.get("subnets"), "subnets"):
        entry = _object(item, "subnets")
        first = _text(entry, "first", "subnets.first", required=True)
        assert first is not None
        scope = entry.get("scope")
        if scope is not None and (isinstance(scope, bool) or not isinstance(scope, int)):
            raise bad_request("The value of 'subnets.scope' must be an integer.")
        subnets.append(Subnet(first, _text(entry, "last", "subnets.last"), scope))
    always = _choice(props, "alwaysServe", "alwaysServe", Status, Status.DISABLED)
    status = _choice(props, "endpointStatus", "endpointStatus", Status, Status.ENABLED)
    if always is Status.ENABLED and kind is EndpointType.NESTED:
        raise bad_request("Always serve is not allowed on nested endpoints.")
    min_child = None
    if kind is EndpointType.NESTED:
        min_child = _integer(props, "minChildEndpoints", "minChildEndpoints", 1, 1000, 1)
    return Endpoint(
        name=name,
        type=kind,
        target=target,
        status=status,
        weight=_integer(props, "weight", "weight", 1, 1000, 1),
        priority=_integer(props, "priority", "priority", 1, 1000, 0),
        target_resource_id=resource_id,
        endpoint_location=_text(props, "endpointLocation", "endpointLocation"),
        geo_mapping=tuple(geo),
        subnets=tuple(subnets),
        custom_headers=_headers(props.get("customHeaders"), "endpoints.customHeaders"),
        min_child_endpoints=min_child,
        always_serve=always is Status.ENABLED,
    )


# Profiles.


def parse_profile(
    body: object,
    *,
    subscription_id: str,
    resource_group: str,
    name: str,
    endpoints: Sequence[Endpoint] | None,
    canonical_geo: Callable[[str], str | None],
) -> Profile:
    """A profile resource; `endpoints` given replaces the body's (a PATCH keeps the existing
    endpoints, a PUT reads them from the body). Validates the whole profile."""
    obj = _object(body, "profile")
    location = obj.get("location")
    if location is not None and str(location).lower() != "global":
        raise ArmError(
            400,
            "LocationNotAvailableForResourceType",
            f"The provided location '{location}' is not available for resource type "
            f"'{PROFILE_TYPE}'. List of available regions for the resource type is 'global'.",
        )
    tags = _object(obj.get("tags"), "tags")
    if not all(isinstance(v, str) for v in tags.values()):
        raise bad_request("Tag values must be strings.")
    props = _object(obj.get("properties"), "properties")
    dns = _object(props.get("dnsConfig"), "dnsConfig")
    relative = _text(dns, "relativeName", "dnsConfig.relativeName", required=True)
    assert relative is not None
    if not _LABEL.match(relative):
        raise bad_request(f"The relative DNS name '{relative}' is invalid.")
    routing = _choice(props, "trafficRoutingMethod", "trafficRoutingMethod", RoutingMethod, None)
    if endpoints is None:
        endpoints = [
            parse_endpoint(item, canonical_geo=canonical_geo)
            for item in _list(props.get("endpoints"), "endpoints")
        ]
    max_return = None
    if routing is RoutingMethod.MULTI_VALUE:
        max_return = _integer(props, "maxReturn", "maxReturn", 1, 10, 2)
    profile = Profile(
        subscription_id=subscription_id,
        resource_group=resource_group,
        name=name,
        routing_method=routing,
        relative_name=relative.lower(),
        ttl=_integer(dns, "ttl", "dnsConfig.ttl", 0, 2_147_483_647, None),
        monitor=_monitor(props.get("monitorConfig")),
        status=_choice(props, "profileStatus", "profileStatus", Status, Status.ENABLED),
        endpoints=_assign_priorities(endpoints),
        tags=dict(tags),
        traffic_view=_choice(
            props,
            "trafficViewEnrollmentStatus",
            "trafficViewEnrollmentStatus",
            Status,
            Status.DISABLED,
        ),
        allowed_record_types=tuple(
            str(t)
            for t in _list(props.get("allowedEndpointRecordTypes"), "allowedEndpointRecordTypes")
        ),
        max_return=max_return,
    )
    validate_endpoints(profile)
    return profile


def _assign_priorities(endpoints: Sequence[Endpoint]) -> tuple[Endpoint, ...]:
    """Fill in omitted priorities, as the service does: the next one after the highest in use."""
    highest = max((e.priority for e in endpoints), default=0)
    out = []
    for endpoint in endpoints:
        if endpoint.priority == 0:
            highest += 1
            endpoint = replace(endpoint, priority=highest)
        out.append(endpoint)
    return tuple(out)


def validate_endpoints(profile: Profile) -> None:
    """The profile-wide rules: unique names and priorities, geographic and performance rules."""
    names: set[str] = set()
    priorities: dict[int, str] = {}
    mapped: dict[str, str] = {}
    for endpoint in profile.endpoints:
        if endpoint.name.lower() in names:
            raise bad_request(f"The endpoint name '{endpoint.name}' is used more than once.")
        names.add(endpoint.name.lower())
        if endpoint.priority in priorities:
            raise bad_request(
                f"Endpoints '{priorities[endpoint.priority]}' and '{endpoint.name}' have the "
                f"same priority {endpoint.priority}; priorities must be unique within a profile."
            )
        priorities[endpoint.priority] = endpoint.name
        if profile.routing_method is RoutingMethod.GEOGRAPHIC:
            if not endpoint.geo_mapping:
                raise bad_request(
                    f"Endpoint '{endpoint.name}' must have at least one geographic region mapped "
                    "in a profile with the Geographic traffic routing method."
                )
            for code in endpoint.geo_mapping:
                if code in mapped:
                    raise bad_request(
                        f"The geographic region '{code}' is mapped to endpoints '{mapped[code]}' "
                        f"and '{endpoint.name}'; a region can be mapped to only one endpoint."
                    )
                mapped[code] = endpoint.name
        if (
            profile.routing_method is RoutingMethod.PERFORMANCE
            and endpoint.type is not EndpointType.AZURE
            and endpoint.endpoint_location is None
        ):
            raise bad_request(
                f"The location must be specified for endpoint '{endpoint.name}' in a profile "
                "with the Performance traffic routing method."
            )

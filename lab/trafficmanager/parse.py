"""Reading profile and endpoint request bodies into `model` types. The emulator takes what its
seeding and the service's endpoint PATCH send (docs/traffic-manager.md, "The emulator"); a value
of the wrong JSON type is ARM's 400, naming the field, and Azure's profile-wide validation rules
are not re-checked."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from lab.trafficmanager.errors import bad_request
from lab.trafficmanager.model import (
    GEOGRAPHIC,
    Endpoint,
    EndpointType,
    Header,
    MonitorConfig,
    Profile,
    Protocol,
    Status,
)

__all__ = ["parse_endpoint", "parse_profile"]

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
    headers = []
    for item in _list(value, what):
        entry = _object(item, what)
        name = _text(entry, "name", f"{what}.name", required=True)
        text = _text(entry, "value", f"{what}.value", required=True)
        assert name is not None and text is not None
        headers.append(Header(name, text))
    return tuple(headers)


def _monitor(value: object) -> MonitorConfig:
    obj = _object(value, "monitorConfig")
    return MonitorConfig(
        protocol=_choice(obj, "protocol", "monitorConfig.protocol", Protocol, None),
        port=_integer(obj, "port", "monitorConfig.port", 1, 65535, None),
        path=_text(obj, "path", "monitorConfig.path"),
        interval=_integer(obj, "intervalInSeconds", "monitorConfig.intervalInSeconds", 1, 30, 30),
        timeout=_integer(obj, "timeoutInSeconds", "monitorConfig.timeoutInSeconds", 1, 10, 10),
        tolerated_failures=_integer(
            obj, "toleratedNumberOfFailures", "monitorConfig.toleratedNumberOfFailures", 0, 9, 3
        ),
        custom_headers=_headers(obj.get("customHeaders"), "monitorConfig.customHeaders"),
    )


def parse_endpoint(
    body: object,
    *,
    name: str | None = None,
    canonical_geo: Callable[[str], str | None],
) -> Endpoint:
    """An external endpoint resource (`{"name", "type", "properties"}`); `name` comes from the
    URL when the endpoint is addressed directly, and wins over the body's."""
    obj = _object(body, "endpoint")
    if name is None:
        name = _text(obj, "name", "endpoints.name", required=True)
        assert name is not None
        type_text = _text(obj, "type", "endpoints.type", required=True)
        assert type_text is not None
        if EndpointType.parse(type_text) is None:
            raise bad_request(f"The endpoint type '{type_text}' is not emulated.")
    props = _object(obj.get("properties"), "properties")
    target = _text(props, "target", "target", required=True)
    assert target is not None
    geo = []
    for code in _list(props.get("geoMapping"), "geoMapping"):
        canonical = canonical_geo(code) if isinstance(code, str) else None
        if canonical is None:
            raise bad_request(f"The geographic region code '{code}' is invalid.")
        geo.append(canonical)
    return Endpoint(
        name=name,
        type=EndpointType.EXTERNAL,
        target=target,
        status=_choice(props, "endpointStatus", "endpointStatus", Status, Status.ENABLED),
        weight=_integer(props, "weight", "weight", 1, 1000, 1),
        priority=_integer(props, "priority", "priority", 1, 1000, 0),
        geo_mapping=tuple(geo),
        always_serve=_choice(props, "alwaysServe", "alwaysServe", Status, Status.DISABLED)
        is Status.ENABLED,
        custom_headers=_headers(props.get("customHeaders"), "customHeaders"),
    )


def parse_profile(
    body: object,
    *,
    subscription_id: str,
    resource_group: str,
    name: str,
    endpoints: Sequence[Endpoint] | None,
    canonical_geo: Callable[[str], str | None],
) -> Profile:
    """A Geographic profile resource; `endpoints` given replaces the body's (a PATCH keeps the
    existing endpoints, a PUT reads them from the body)."""
    obj = _object(body, "profile")
    props = _object(obj.get("properties"), "properties")
    dns = _object(props.get("dnsConfig"), "dnsConfig")
    relative = _text(dns, "relativeName", "dnsConfig.relativeName", required=True)
    assert relative is not None
    routing = _text(props, "trafficRoutingMethod", "trafficRoutingMethod", required=True)
    if routing != GEOGRAPHIC:
        raise bad_request(f"The emulator routes {GEOGRAPHIC} profiles only, not '{routing}'.")
    if endpoints is None:
        endpoints = [
            parse_endpoint(item, canonical_geo=canonical_geo)
            for item in _list(props.get("endpoints"), "endpoints")
        ]
    return Profile(
        subscription_id=subscription_id,
        resource_group=resource_group,
        name=name,
        relative_name=relative.lower(),
        ttl=_integer(dns, "ttl", "dnsConfig.ttl", 0, 2_147_483_647, None),
        monitor=_monitor(props.get("monitorConfig")),
        status=_choice(props, "profileStatus", "profileStatus", Status, Status.ENABLED),
        endpoints=_assign_priorities(endpoints),
    )


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

"""The model deployment's Traffic Manager profile as a PUT body (reference: model-deployment.md):
two external endpoints, westeurope mapped to GEO-EU and centralus to WORLD."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["LAB_GEO_MAPPING", "LAB_TARGETS", "lab_profile_body"]

# The regional LoadBalancer IPs of the model deployment.
LAB_TARGETS: Mapping[str, str] = {"westeurope": "20.1.2.3", "centralus": "52.165.160.200"}
LAB_GEO_MAPPING: Mapping[str, Sequence[str]] = {"westeurope": ["GEO-EU"], "centralus": ["WORLD"]}
_LOCATIONS = {"westeurope": "West Europe", "centralus": "Central US"}


def lab_profile_body(
    *,
    relative_name: str = "blog-tm",
    targets: Mapping[str, str] | None = None,
    geo_mapping: Mapping[str, Sequence[str]] | None = None,
    ttl: int = 60,
    monitor_path: str = "/",
    monitor_port: int = 443,
    host_header: str = "blog.example.com",
    routing_method: str = "Geographic",
) -> dict[str, Any]:
    """A profile body; endpoints are named after `targets`' keys, in their order (which is
    also their priority order)."""
    targets = LAB_TARGETS if targets is None else targets
    geo_mapping = LAB_GEO_MAPPING if geo_mapping is None else geo_mapping
    endpoints = []
    for priority, (name, target) in enumerate(targets.items(), start=1):
        props: dict[str, Any] = {
            "target": target,
            "endpointStatus": "Enabled",
            "priority": priority,
            "endpointLocation": _LOCATIONS.get(name, "West Europe"),
        }
        if routing_method == "Geographic":
            props["geoMapping"] = list(geo_mapping.get(name, []))
        endpoints.append({"name": name, "type": "ExternalEndpoints", "properties": props})
    return {
        "location": "global",
        "tags": {},
        "properties": {
            "profileStatus": "Enabled",
            "trafficRoutingMethod": routing_method,
            "dnsConfig": {"relativeName": relative_name, "ttl": ttl},
            "monitorConfig": {
                "protocol": "HTTPS",
                "port": monitor_port,
                "path": monitor_path,
                "intervalInSeconds": 30,
                "timeoutInSeconds": 10,
                "toleratedNumberOfFailures": 3,
                "customHeaders": [{"name": "Host", "value": host_header}],
            },
            "endpoints": endpoints,
            "trafficViewEnrollmentStatus": "Disabled",
        },
    }

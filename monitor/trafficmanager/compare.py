"""Traffic Manager's view beside ours: drift from the configuration, and disagreements.

"Our probes say failing, Traffic Manager says Online" is the case this service exists for: TM
keeps sending users to a region that is broken. "TM says Degraded, we say healthy" usually
points at TM's probe configuration (path, port, expected status, Host header).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.config import Config
from monitor.results import RegionStatus
from monitor.trafficmanager.model import EndpointState, ProfileState

__all__ = ["EndpointView", "endpoint_view", "endpoint_views"]


@dataclass(frozen=True, slots=True)
class EndpointView:
    """One region's endpoint as Traffic Manager sees it, with what we make of that."""

    endpoint: str
    state: EndpointState | None  # None: the endpoint is not in the profile
    findings: tuple[str, ...] = ()


def endpoint_view(
    profile: ProfileState,
    *,
    endpoint: str,
    address: str,
    our_status: RegionStatus | None,
) -> EndpointView:
    state = profile.endpoint(endpoint)
    if state is None:
        return EndpointView(
            endpoint, None, (f"endpoint {endpoint!r} is not in profile {profile.name!r}",)
        )
    findings = []
    drift = _target_drift(state, address)
    if drift:
        findings.append(drift)
    monitor = state.monitor_status or "unknown"
    if state.enabled and our_status is RegionStatus.FAILING and monitor == "Online":
        findings.append(
            "our probes say failing, Traffic Manager says Online: it keeps sending users here"
        )
    if state.enabled and our_status is RegionStatus.HEALTHY and monitor == "Degraded":
        findings.append(
            "Traffic Manager says Degraded, our probes say healthy: check its probe "
            "configuration (path, port, expected status codes, Host header)"
        )
    return EndpointView(endpoint, state, tuple(findings))


def _target_drift(state: EndpointState, address: str) -> str | None:
    target = state.target
    if not target:
        return None
    try:
        same = ipaddress.ip_address(target) == ipaddress.ip_address(address)
    except ValueError:
        # A hostname on either side: compare names; DNS checks map names to addresses.
        same = target.rstrip(".").lower() == address.rstrip(".").lower()
        if not same and _is_ip(address) != _is_ip(target):
            return None
    if same:
        return None
    return f"endpoint target {target} is not the configured address {address}"


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def endpoint_views(
    config: Config, profile: ProfileState, statuses: Mapping[str, RegionStatus]
) -> dict[str, EndpointView]:
    """Every configured region's endpoint view, given our statuses."""
    return {
        region: endpoint_view(
            profile,
            endpoint=config.endpoint_of(region),
            address=settings.address,
            our_status=statuses.get(region),
        )
        for region, settings in config.regions.items()
    }

"""Traffic Manager's view beside ours: drift from the configuration, and disagreements.

"Our probes say failing, Traffic Manager says Online" is the case this service exists for: TM
keeps sending users to a region that is broken. "TM says Degraded, we say healthy" usually
points at TM's probe configuration (path, port, expected status, Host header).
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.config import Config
from monitor.results import RegionStatus
from monitor.trafficmanager.model import EndpointState, MonitorStatus, ProfileState

__all__ = ["Disagreement", "EndpointView", "endpoint_view", "endpoint_views"]


class Disagreement(enum.StrEnum):
    """How Traffic Manager's probing and ours disagree about an enabled endpoint."""

    TM_ONLINE_WE_FAILING = "tm_online_we_failing"
    TM_DEGRADED_WE_HEALTHY = "tm_degraded_we_healthy"

    @property
    def message(self) -> str:
        if self is Disagreement.TM_ONLINE_WE_FAILING:
            return (
                "our probes say failing, Traffic Manager says Online: it keeps sending users here"
            )
        return (
            "Traffic Manager says Degraded, our probes say healthy: check its probe "
            "configuration (path, port, expected status codes, Host header)"
        )


@dataclass(frozen=True, slots=True)
class EndpointView:
    """One region's endpoint as Traffic Manager sees it, with what we make of that."""

    endpoint: str
    state: EndpointState | None  # None: the endpoint is not in the profile
    disagreement: Disagreement | None = None
    drift: str | None = (
        None  # the endpoint's target is not the configured address, or it is missing
    )

    @property
    def findings(self) -> tuple[str, ...]:
        """Drift and disagreement, each in one line."""
        found = [self.drift] if self.drift else []
        if self.disagreement is not None:
            found.append(self.disagreement.message)
        return tuple(found)


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
            endpoint, None, drift=f"endpoint {endpoint!r} is not in profile {profile.name!r}"
        )
    disagreement = None
    if state.enabled:
        if our_status is RegionStatus.FAILING and state.monitor_status is MonitorStatus.ONLINE:
            disagreement = Disagreement.TM_ONLINE_WE_FAILING
        elif our_status is RegionStatus.HEALTHY and state.monitor_status is MonitorStatus.DEGRADED:
            disagreement = Disagreement.TM_DEGRADED_WE_HEALTHY
    return EndpointView(endpoint, state, disagreement, _target_drift(state, address))


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

"""Which endpoints Traffic Manager's DNS returns for a profile and a client: the documented
routing rules of docs/traffic-manager.md, as a pure function of the state.

- Geographic: walk the client's geography up to WORLD; the first code mapped by an *enabled*
  endpoint wins, whatever its health (a Degraded endpoint keeps its traffic); a matched Stopped
  endpoint, or no match at all, is NODATA.
- Priority, Weighted, Performance, MultiValue: only endpoints that are Online, CheckingEndpoint
  or Unmonitored are eligible; when every enabled, non-Stopped endpoint is Degraded, Traffic
  Manager fails open and treats them all as Online.
- Subnet: the endpoint whose ranges hold the client address, else the one without ranges.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from lab.trafficmanager.model import Endpoint, MonitorStatus, Profile, RoutingMethod, Status
from lab.trafficmanager.state import TrafficManagerState

__all__ = ["Client", "Decision", "route"]

_SERVING = frozenset({MonitorStatus.ONLINE, MonitorStatus.CHECKING, MonitorStatus.UNMONITORED})

# Performance routing, simplified: the regional grouping an Azure region is closest to. Real
# Traffic Manager uses a latency table between client networks and Azure regions.
_AZURE_REGION_GEO = {
    "westeurope": "GEO-EU",
    "northeurope": "GEO-EU",
    "uksouth": "GEO-EU",
    "francecentral": "GEO-EU",
    "germanywestcentral": "GEO-EU",
    "centralus": "GEO-NA",
    "eastus": "GEO-NA",
    "eastus2": "GEO-NA",
    "westus": "GEO-NA",
    "westus2": "GEO-NA",
    "canadacentral": "GEO-NA",
    "brazilsouth": "GEO-SA",
    "japaneast": "GEO-AS",
    "southeastasia": "GEO-AS",
    "centralindia": "GEO-AS",
    "australiaeast": "GEO-AP",
    "southafricanorth": "GEO-AF",
    "uaenorth": "GEO-ME",
}


@dataclass(frozen=True, slots=True)
class Client:
    """Where a query comes from: a geography code (None: unknown) and, for Subnet routing, the
    client subnet's address or the resolver's."""

    geography: str | None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The endpoints to answer with; none is NODATA, unless `nxdomain`."""

    endpoints: tuple[Endpoint, ...]
    reason: str
    nxdomain: bool = False


def route(
    state: TrafficManagerState,
    profile: Profile,
    client: Client,
    rng: random.Random | None = None,
) -> Decision:
    if profile.status is Status.DISABLED:
        return Decision((), "profile disabled", nxdomain=True)
    enabled = [e for e in profile.endpoints if e.status is Status.ENABLED]
    method = profile.routing_method
    if method is RoutingMethod.GEOGRAPHIC:
        return _geographic(state, profile, enabled, client)
    if method is RoutingMethod.SUBNET:
        return _subnet(enabled, client)
    pool, reason = _eligible(state, profile, enabled)
    if not pool:
        return Decision((), "no endpoint available")
    if method is RoutingMethod.PRIORITY:
        best = min(pool, key=lambda e: e.priority)
        return Decision((best,), f"{reason}; priority {best.priority}")
    if method is RoutingMethod.WEIGHTED:
        chooser = rng or random.Random()  # noqa: S311 - load spreading, not security
        picked = chooser.choices(pool, weights=[e.weight for e in pool])[0]
        return Decision((picked,), f"{reason}; weighted")
    if method is RoutingMethod.MULTI_VALUE:
        ordered = sorted(pool, key=lambda e: e.priority)
        return Decision(tuple(ordered[: profile.max_return or 2]), f"{reason}; multivalue")
    return _performance(state, pool, reason, client)


def _eligible(
    state: TrafficManagerState, profile: Profile, enabled: Sequence[Endpoint]
) -> tuple[list[Endpoint], str]:
    statuses = {e.name: state.monitor_status(profile, e) for e in enabled}
    healthy = [e for e in enabled if statuses[e.name] in _SERVING]
    if healthy:
        return healthy, "healthy"
    degraded = [e for e in enabled if statuses[e.name] is MonitorStatus.DEGRADED]
    # "If all endpoints are Degraded, Traffic Manager makes a best effort attempt and responds
    # as if all the Degraded status endpoints actually are in an online state."
    return degraded, "all degraded: failing open"


def _geographic(
    state: TrafficManagerState, profile: Profile, enabled: Sequence[Endpoint], client: Client
) -> Decision:
    for code in state.locator.lineage(client.geography):
        for endpoint in enabled:
            if code in endpoint.geo_mapping:
                if state.monitor_status(profile, endpoint) is MonitorStatus.STOPPED:
                    return Decision((), f"{code} maps to stopped endpoint {endpoint.name}")
                return Decision((endpoint,), f"{code} maps to {endpoint.name}")
    return Decision((), f"no enabled endpoint maps {client.geography or 'an unknown place'}")


def _subnet(enabled: Sequence[Endpoint], client: Client) -> Decision:
    if client.address is not None:
        for endpoint in enabled:
            if any(s.contains(client.address) for s in endpoint.subnets):
                return Decision((endpoint,), f"{client.address} in {endpoint.name}'s subnets")
    fallback = next((e for e in enabled if not e.subnets), None)
    if fallback is None:
        return Decision((), "no subnet matched and no fallback endpoint", nxdomain=True)
    return Decision((fallback,), "fallback endpoint")


def _performance(
    state: TrafficManagerState, pool: Sequence[Endpoint], reason: str, client: Client
) -> Decision:
    lineage = state.locator.lineage(client.geography)

    def distance(endpoint: Endpoint) -> int:
        location = (endpoint.endpoint_location or "").replace(" ", "").lower()
        group = _AZURE_REGION_GEO.get(location)
        return lineage.index(group) if group in lineage else len(lineage)

    best = min(pool, key=lambda e: (distance(e), e.priority))
    return Decision((best,), f"{reason}; closest to {client.geography or 'an unknown place'}")

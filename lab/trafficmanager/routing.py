"""Which endpoint Traffic Manager's DNS returns for a Geographic profile and a client: the
documented routing rules of docs/traffic-manager.md, as a pure function of the state.

Walk the client's geography up to WORLD; the first code mapped by an *enabled* endpoint wins,
whatever its health (a Degraded endpoint keeps its traffic); a matched Stopped endpoint, or no
match at all, is NODATA. A disabled profile is NXDOMAIN.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.trafficmanager.model import Endpoint, MonitorStatus, Profile, Status
from lab.trafficmanager.state import TrafficManagerState

__all__ = ["Client", "Decision", "route"]


@dataclass(frozen=True, slots=True)
class Client:
    """Where a query comes from: a geography code (None: unknown) and the client subnet's
    address or the resolver's."""

    geography: str | None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The endpoints to answer with; none is NODATA, unless `nxdomain`."""

    endpoints: tuple[Endpoint, ...]
    reason: str
    nxdomain: bool = False


def route(state: TrafficManagerState, profile: Profile, client: Client) -> Decision:
    if profile.status is Status.DISABLED:
        return Decision((), "profile disabled", nxdomain=True)
    enabled = [e for e in profile.endpoints if e.status is Status.ENABLED]
    for code in state.locator.lineage(client.geography):
        for endpoint in enabled:
            if code in endpoint.geo_mapping:
                if state.monitor_status(profile, endpoint) is MonitorStatus.STOPPED:
                    return Decision((), f"{code} maps to stopped endpoint {endpoint.name}")
                return Decision((endpoint,), f"{code} maps to {endpoint.name}")
    return Decision((), f"no enabled endpoint maps {client.geography or 'an unknown place'}")

"""The seam between the engine and Traffic Manager."""

from __future__ import annotations

from typing import Protocol

from monitor.trafficmanager.geography import GeographicHierarchy
from monitor.trafficmanager.model import EndpointState, EndpointStatus, ProfileState, WriteAccess

__all__ = ["EndpointStatus", "TrafficManager"]


class TrafficManager(Protocol):
    """Reads one profile and changes one endpoint's status.

    Implementations raise `TrafficManagerError` (with `retryable`) for every failure and never
    put a token or secret in a message. The only write is a PATCH of one endpoint's
    `endpointStatus`: never a PUT, which would replace the profile or endpoint whole.
    """

    async def profile(self) -> ProfileState: ...

    async def set_status(self, endpoint: EndpointState, status: EndpointStatus) -> EndpointState:
        """PATCH `endpoint`'s status, in one attempt (no retries: the caller owns them); its
        type comes from the endpoint as last read."""
        ...

    async def write_access(self) -> WriteAccess: ...

    async def geographic_hierarchy(self) -> GeographicHierarchy:
        """Traffic Manager's geographic hierarchy (`trafficManagerGeographicHierarchies/default`)."""
        ...

    async def close(self) -> None: ...

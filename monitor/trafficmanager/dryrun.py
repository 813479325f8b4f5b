"""A Traffic Manager that reads the real one and records the writes it would make."""

from __future__ import annotations

from dataclasses import replace

from monitor.trafficmanager.geography import GeographicHierarchy
from monitor.trafficmanager.model import EndpointState, EndpointStatus, ProfileState, WriteAccess
from monitor.trafficmanager.port import TrafficManager

__all__ = ["DryRunTrafficManager"]


class DryRunTrafficManager:
    """Reads go to `real`; `set_status` writes nothing and answers as if it had, and keeps
    what it would have done in `would` (endpoint, status), in order."""

    def __init__(self, real: TrafficManager) -> None:
        self._real = real
        self.would: list[tuple[str, EndpointStatus]] = []

    async def profile(self) -> ProfileState:
        return await self._real.profile()

    async def set_status(self, endpoint: EndpointState, status: EndpointStatus) -> EndpointState:
        self.would.append((endpoint.name, status))
        return replace(endpoint, endpoint_status=status)

    async def write_access(self) -> WriteAccess:
        return await self._real.write_access()

    async def geographic_hierarchy(self) -> GeographicHierarchy:
        return await self._real.geographic_hierarchy()

    async def close(self) -> None:
        """The real client is closed by its owner."""

"""The lab's table of where client addresses are, over Traffic Manager's geographic hierarchy.

The hierarchy itself is the service's (`monitor.trafficmanager.geography`): the emulator serves
and routes by the same data the service reads, rather than keeping a copy of its own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from monitor.trafficmanager.geography import BUILTIN, WORLD, GeographicHierarchy

__all__ = ["DEFAULT_GEOGRAPHY_TABLE", "WORLD", "GeoLocator"]

# Where client subnets are, for EDNS Client Subnet routing in the lab: the subnets of the lab's
# resolvers. The first is the GB network of MaxMind's test database, the one regionwatch's docs
# use for a European reader.
DEFAULT_GEOGRAPHY_TABLE: Mapping[str, str] = {
    "81.2.69.0/24": "GB",
    "8.8.8.0/24": "US",
    "133.0.0.0/8": "JP",
}


class GeoLocator:
    """The hierarchy's lookups, and the table saying which code a client address is in."""

    def __init__(
        self, hierarchy: GeographicHierarchy | None = None, table: Mapping[str, str] | None = None
    ) -> None:
        self.hierarchy = hierarchy or BUILTIN
        self._table: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
        for network, code in (DEFAULT_GEOGRAPHY_TABLE if table is None else table).items():
            self.place(network, code)

    def canonical(self, code: str) -> str | None:
        """The code as the hierarchy spells it, or None when the hierarchy has no such code."""
        return self.hierarchy.canonical(code)

    def lineage(self, code: str | None) -> list[str]:
        """`code` and its ancestors up to WORLD; just WORLD for an unknown or missing code."""
        if code is None or self.canonical(code) is None:
            return [WORLD]
        return self.hierarchy.lineage(code)

    def place(self, network: str, code: str) -> None:
        """Say that addresses in `network` are in `code` (the most specific network wins)."""
        canonical = self.canonical(code)
        if canonical is None:
            raise ValueError(f"{code!r} is not a code of the geographic hierarchy")
        self._table.append((ipaddress.ip_network(network, strict=False), canonical))
        self._table.sort(key=lambda entry: entry[0].prefixlen, reverse=True)

    def locate(self, address: str) -> str | None:
        """The code of the most specific table entry holding `address`, or None."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        for network, code in self._table:
            if ip.version == network.version and ip in network:
                return code
        return None

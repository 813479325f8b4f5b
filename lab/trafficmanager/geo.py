"""Traffic Manager's geographic hierarchy (a subset) and the lab's table of where addresses are.

The hierarchy has the shape of `GET /providers/Microsoft.Network/trafficManagerGeographicHierarchies/
default` (WORLD → regional groupings → countries/regions → states/provinces); Geographic routing
walks it from the most specific code up to WORLD, and the first mapped code wins (docs/traffic-manager.md).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_GEOGRAPHY_TABLE",
    "WORLD",
    "GeoLocator",
    "GeoRegion",
    "default_hierarchy",
    "hierarchy_json",
]

WORLD = "WORLD"

HIERARCHY_ID = "/providers/Microsoft.Network/trafficManagerGeographicHierarchies/default"
HIERARCHY_TYPE = "Microsoft.Network/trafficManagerGeographicHierarchies"

# Where client subnets are, for EDNS Client Subnet routing in the lab. The first entry is the
# GB network of MaxMind's test database, the one regionwatch's docs use for a European reader.
DEFAULT_GEOGRAPHY_TABLE: Mapping[str, str] = {
    "81.2.69.0/24": "GB",
    "5.9.0.0/16": "DE",
    "51.15.0.0/16": "FR",
    "145.100.0.0/16": "NL",
    "8.8.8.0/24": "US",
    "12.0.0.0/8": "US-CA",
    "24.48.0.0/13": "CA",
    "189.203.0.0/16": "MX",
    "133.0.0.0/8": "JP",
    "49.36.0.0/14": "IN",
    "200.160.0.0/20": "BR",
    "196.25.0.0/16": "ZA",
    "1.120.0.0/13": "AU",
}


@dataclass(frozen=True, slots=True)
class GeoRegion:
    code: str
    name: str
    regions: tuple[GeoRegion, ...] = field(default=())

    def walk(self) -> Iterator[tuple[GeoRegion, GeoRegion | None]]:
        """Every region under (and including) this one, with its parent."""
        stack: list[tuple[GeoRegion, GeoRegion | None]] = [(self, None)]
        while stack:
            region, parent = stack.pop()
            yield region, parent
            stack.extend((child, region) for child in reversed(region.regions))


def _r(code: str, name: str, *regions: GeoRegion) -> GeoRegion:
    return GeoRegion(code, name, tuple(regions))


def default_hierarchy() -> GeoRegion:
    """A subset of Traffic Manager's hierarchy: every regional grouping, a few countries each."""
    return _r(
        WORLD,
        "World",
        _r(
            "GEO-EU",
            "Europe",
            _r("DE", "Germany"),
            _r("FR", "France"),
            _r("GB", "United Kingdom"),
            _r("NL", "Netherlands"),
            _r("IE", "Ireland"),
            _r("ES", "Spain"),
            _r("IT", "Italy"),
            _r("SE", "Sweden"),
        ),
        _r(
            "GEO-NA",
            "North America / Central America / Caribbean",
            _r(
                "US",
                "United States",
                _r("US-CA", "California"),
                _r("US-NY", "New York"),
                _r("US-TX", "Texas"),
                _r("US-WA", "Washington"),
            ),
            _r("CA", "Canada"),
            _r("MX", "Mexico"),
        ),
        _r("GEO-SA", "South America", _r("BR", "Brazil"), _r("AR", "Argentina")),
        _r("GEO-AS", "Asia", _r("JP", "Japan"), _r("IN", "India"), _r("SG", "Singapore")),
        _r(
            "GEO-AP",
            "Australia / Pacific",
            _r("AU", "Australia", _r("AU-NSW", "New South Wales"), _r("AU-VIC", "Victoria")),
            _r("NZ", "New Zealand"),
        ),
        _r("GEO-AF", "Africa", _r("ZA", "South Africa"), _r("NG", "Nigeria")),
        _r("GEO-ME", "Middle East", _r("AE", "United Arab Emirates"), _r("IL", "Israel")),
        _r("GEO-AN", "Antarctica", _r("AQ", "Antarctica")),
    )


def _region_json(region: GeoRegion) -> dict[str, Any]:
    return {
        "code": region.code,
        "name": region.name,
        "regions": [_region_json(child) for child in region.regions],
    }


def hierarchy_json(root: GeoRegion) -> dict[str, Any]:
    """The ARM resource `trafficManagerGeographicHierarchies/default`."""
    return {
        "id": HIERARCHY_ID,
        "name": "default",
        "type": HIERARCHY_TYPE,
        "properties": {"geographicHierarchy": _region_json(root)},
    }


class GeoLocator:
    """The hierarchy's lookups, and the table saying which code a client address is in."""

    def __init__(
        self, root: GeoRegion | None = None, table: Mapping[str, str] | None = None
    ) -> None:
        self.root = root or default_hierarchy()
        self._parents: dict[str, str | None] = {}
        for region, parent in self.root.walk():
            self._parents[region.code.upper()] = parent.code.upper() if parent else None
        self._table: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
        for network, code in (DEFAULT_GEOGRAPHY_TABLE if table is None else table).items():
            self.place(network, code)

    def canonical(self, code: str) -> str | None:
        """The code as the hierarchy spells it, or None when the hierarchy has no such code."""
        upper = code.strip().upper()
        return upper if upper in self._parents else None

    def lineage(self, code: str | None) -> list[str]:
        """`code` and its ancestors up to WORLD; just WORLD for an unknown or missing code."""
        current = self.canonical(code) if code else None
        if current is None:
            return [WORLD]
        chain: list[str] = []
        while current is not None:
            chain.append(current)
            current = self._parents[current]
        return chain

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

"""Traffic Manager's geographic hierarchy: WORLD → regional groupings → countries/regions →
states/provinces, as `GET …/trafficManagerGeographicHierarchies/default` returns it.

Geographic routing walks it from a client's most specific code up to WORLD, and the first code
an enabled endpoint maps wins (docs/traffic-manager.md, "Routing under failure"). The failover
policy walks it the same way to tell whether disabling an endpoint leaves a geography with no
answer. The service reads Azure's hierarchy through the SDK and keeps it; `BUILTIN` is a
subset (every regional grouping, a few countries each) the lab's emulator serves, and the one
the service uses until Azure's has been read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BUILTIN",
    "WORLD",
    "GeographicHierarchy",
    "Geography",
    "NotAHierarchy",
    "hierarchy_json",
    "parse_hierarchy",
]

WORLD = "WORLD"
HIERARCHY_ID = "/providers/Microsoft.Network/trafficManagerGeographicHierarchies/default"
HIERARCHY_TYPE = "Microsoft.Network/trafficManagerGeographicHierarchies"


class NotAHierarchy(ValueError):
    """An answer that is not a geographic hierarchy; the message says why."""


@dataclass(frozen=True, slots=True)
class Geography:
    code: str
    name: str
    regions: tuple[Geography, ...] = field(default=())

    def walk(self) -> Iterator[tuple[Geography, Geography | None]]:
        """Every geography under (and including) this one, with its parent."""
        stack: list[tuple[Geography, Geography | None]] = [(self, None)]
        while stack:
            geography, parent = stack.pop()
            yield geography, parent
            stack.extend((child, geography) for child in reversed(geography.regions))


class GeographicHierarchy:
    """Lookups over one hierarchy: spelling, names, and the walk up to WORLD."""

    def __init__(self, root: Geography) -> None:
        self.root = root
        self._names: dict[str, str] = {}
        self._parents: dict[str, str | None] = {}
        for geography, parent in root.walk():
            code = geography.code.upper()
            self._names[code] = geography.name
            self._parents[code] = parent.code.upper() if parent is not None else None

    def canonical(self, code: str) -> str | None:
        """`code` as the hierarchy spells it, or None when it has no such code."""
        upper = code.strip().upper()
        return upper if upper in self._parents else None

    def lineage(self, code: str | None) -> list[str]:
        """`code` and its ancestors up to WORLD. A code the hierarchy lacks is kept, directly
        under WORLD: only WORLD is known to cover it."""
        if not code:
            return [WORLD]
        current = self.canonical(code)
        if current is None:
            upper = code.strip().upper()
            return [upper, WORLD] if upper != WORLD else [WORLD]
        chain: list[str] = []
        while current is not None:
            chain.append(current)
            current = self._parents[current]
        return chain

    def describe(self, code: str) -> str:
        """A code with its name, as people read it: `GEO-EU (Europe)`."""
        name = self._names.get(code.strip().upper())
        return f"{code} ({name})" if name else code

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GeographicHierarchy) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)


def _g(code: str, name: str, *regions: Geography) -> Geography:
    return Geography(code, name, tuple(regions))


BUILTIN = GeographicHierarchy(
    _g(
        WORLD,
        "World",
        _g(
            "GEO-EU",
            "Europe",
            _g("DE", "Germany"),
            _g("FR", "France"),
            _g("GB", "United Kingdom"),
            _g("NL", "Netherlands"),
            _g("IE", "Ireland"),
            _g("ES", "Spain"),
            _g("IT", "Italy"),
            _g("SE", "Sweden"),
        ),
        _g(
            "GEO-NA",
            "North America / Central America / Caribbean",
            _g(
                "US",
                "United States",
                _g("US-CA", "California"),
                _g("US-NY", "New York"),
                _g("US-TX", "Texas"),
                _g("US-WA", "Washington"),
            ),
            _g("CA", "Canada"),
            _g("MX", "Mexico"),
        ),
        _g("GEO-SA", "South America", _g("BR", "Brazil"), _g("AR", "Argentina")),
        _g("GEO-AS", "Asia", _g("JP", "Japan"), _g("IN", "India"), _g("SG", "Singapore")),
        _g(
            "GEO-AP",
            "Australia / Pacific",
            _g("AU", "Australia", _g("AU-NSW", "New South Wales"), _g("AU-VIC", "Victoria")),
            _g("NZ", "New Zealand"),
        ),
        _g("GEO-AF", "Africa", _g("ZA", "South Africa"), _g("NG", "Nigeria")),
        _g("GEO-ME", "Middle East", _g("AE", "United Arab Emirates"), _g("IL", "Israel")),
        _g("GEO-AN", "Antarctica", _g("AQ", "Antarctica")),
    )
)


def _geography_json(geography: Geography) -> dict[str, Any]:
    return {
        "code": geography.code,
        "name": geography.name,
        "regions": [_geography_json(child) for child in geography.regions],
    }


def hierarchy_json(hierarchy: GeographicHierarchy) -> dict[str, Any]:
    """The ARM resource `trafficManagerGeographicHierarchies/default`."""
    return {
        "id": HIERARCHY_ID,
        "name": "default",
        "type": HIERARCHY_TYPE,
        "properties": {"geographicHierarchy": _geography_json(hierarchy.root)},
    }


def parse_hierarchy(raw: object) -> GeographicHierarchy:
    """The hierarchy from its REST JSON; NotAHierarchy, saying why, for anything else."""
    if not isinstance(raw, Mapping):
        raise NotAHierarchy("the answer is not an object")
    props = raw.get("properties")
    root = props.get("geographicHierarchy") if isinstance(props, Mapping) else None
    if not isinstance(root, Mapping):
        raise NotAHierarchy("it has no properties.geographicHierarchy")
    parsed = _parse(root, "properties.geographicHierarchy", depth=0)
    if parsed.code.upper() != WORLD:
        raise NotAHierarchy(f"its root is {parsed.code!r}, not WORLD")
    return GeographicHierarchy(parsed)


def _parse(raw: Mapping[str, Any], where: str, *, depth: int) -> Geography:
    if depth > 8:  # the real one is four deep; anything deeper is not it
        raise NotAHierarchy(f"{where} is nested too deep")
    code, name = raw.get("code"), raw.get("name")
    if not isinstance(code, str) or not code or not isinstance(name, str):
        raise NotAHierarchy(f"{where} has no code and name")
    children = raw.get("regions") or []
    if not isinstance(children, list):
        raise NotAHierarchy(f"{where}.regions is not a list")
    return Geography(
        code,
        name,
        tuple(
            _parse(child, f"{where}.regions[{i}]", depth=depth + 1)
            if isinstance(child, Mapping)
            else _bad(f"{where}.regions[{i}]")
            for i, child in enumerate(children)
        ),
    )


def _bad(where: str) -> Geography:
    raise NotAHierarchy(f"{where} is not an object")

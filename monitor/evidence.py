"""What producers hand the engine: one typed item per thing that happened, applied in order.

Producers (the scheduler's rounds and reads, and later the API's commands and the peers'
observations) only describe what they saw; the engine alone decides what it means.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.dnsmap import DnsFinding
from monitor.results import RegionVerdict
from monitor.storehealth import WriteFailure
from monitor.trafficmanager.geography import GeographicHierarchy
from monitor.trafficmanager.watch import AccessCheck, Reading

__all__ = [
    "AccessChecked",
    "DnsRoundFinished",
    "Evidence",
    "GeographyRead",
    "RoundFinished",
    "SchedulerChanged",
    "StoreHealthChanged",
    "TrafficManagerRead",
]


@dataclass(frozen=True, slots=True)
class RoundFinished:
    """One region's HTTPS round: its verdict and the results that decided it."""

    verdict: RegionVerdict


@dataclass(frozen=True, slots=True)
class TrafficManagerRead:
    """One read of the profile, or why it failed."""

    reading: Reading


@dataclass(frozen=True, slots=True)
class AccessChecked:
    """Whether this identity may write the profile's endpoints."""

    check: AccessCheck


@dataclass(frozen=True, slots=True)
class GeographyRead:
    """Traffic Manager's geographic hierarchy, as Azure has it."""

    hierarchy: GeographicHierarchy


@dataclass(frozen=True, slots=True)
class DnsRoundFinished:
    """Every resolver × vantage point, judged against the freshest Traffic Manager view."""

    checked_at: datetime
    findings: tuple[DnsFinding, ...]


@dataclass(frozen=True, slots=True)
class StoreHealthChanged:
    """History writes started failing (`failure`) or recovered (None)."""

    failure: WriteFailure | None


@dataclass(frozen=True, slots=True)
class SchedulerChanged:
    """The scheduler started or stopped."""

    running: bool


Evidence = (
    RoundFinished
    | TrafficManagerRead
    | AccessChecked
    | GeographyRead
    | DnsRoundFinished
    | StoreHealthChanged
    | SchedulerChanged
)

"""The snapshot: one immutable, versioned view of everything the engine knows.

The engine makes a new one for every item of evidence it applies and swaps it in whole, so a
reader (the API, the dashboard, `/healthz`, `check`, metrics) never sees a half-applied change.
Readers read the snapshot (and the store for history); they never reach into the engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from monitor.alerts.health import ChannelTrouble
from monitor.controls import Controls
from monitor.dnsmap import DnsFinding
from monitor.events import Condition
from monitor.policy import PolicyState
from monitor.quorum import PeerView
from monitor.results import DnsStatus, RegionStatus, RegionVerdict
from monitor.storehealth import WriteFailure
from monitor.trafficmanager.compare import EndpointView
from monitor.trafficmanager.geography import BUILTIN, GeographicHierarchy
from monitor.trafficmanager.model import ProfileState
from monitor.trafficmanager.watch import AccessCheck, Outage, Reading
from monitor.warnings import Warning

__all__ = [
    "DnsView",
    "HealthAnswer",
    "RegionView",
    "Snapshot",
    "Streak",
    "TrafficManagerView",
]


@dataclass(frozen=True, slots=True)
class Streak:
    """Consecutive rounds of a region with the same verdict: how many, since when, and when the
    last one was. A gap longer than `failover.streak_gap` between two rounds starts a new one."""

    status: RegionStatus
    rounds: int
    since: datetime
    last_at: datetime


@dataclass(frozen=True, slots=True)
class RegionView:
    """A region as of this snapshot: this round's verdict, its streak, and Traffic Manager's
    view of its endpoint (None until a profile was read)."""

    name: str
    verdict: RegionVerdict
    streak: Streak | None = None  # None: no round yet
    rounds_done: int = 0  # rounds finished by this process (restored history not counted)
    endpoint: EndpointView | None = None

    @property
    def status(self) -> RegionStatus:
        return self.verdict.status


@dataclass(frozen=True, slots=True)
class TrafficManagerView:
    """What is known of Traffic Manager: the latest read, the last profile actually read, the
    current run of failed reads, and the write-access check: the latest (`access`), and the
    last one that answered (`access_known`): a check that failed says nothing about the
    permissions, so the last answer stands."""

    latest: Reading | None = None
    last_good: Reading | None = None
    failing_since: float | None = None  # epoch seconds; None while reads succeed
    failed_reads: int = 0  # consecutive failed reads
    access: AccessCheck | None = None
    access_known: AccessCheck | None = None
    # Azure's once read; until then the built-in subset (every regional grouping is in it).
    geography: GeographicHierarchy = BUILTIN

    @property
    def profile(self) -> ProfileState | None:
        """The last profile actually read: one failed read must not erase what is known."""
        return self.last_good.profile if self.last_good is not None else None

    @property
    def outage(self) -> Outage | None:
        """Why and since when Traffic Manager cannot be read; None when the last read worked."""
        latest = self.latest
        if latest is None or latest.error is None or self.failing_since is None:
            return None
        profile_read_at = self.last_good.read_at if self.last_good is not None else None
        return Outage(latest.error, self.failing_since, profile_read_at)


@dataclass(frozen=True, slots=True)
class DnsView:
    """The last DNS round."""

    checked_at: datetime | None = None
    findings: tuple[DnsFinding, ...] = ()

    @property
    def site_nxdomain(self) -> bool:
        """Every resolver says the site's name does not exist: a site-wide emergency."""
        return bool(self.findings) and all(f.status is DnsStatus.NXDOMAIN for f in self.findings)


@dataclass(frozen=True, slots=True)
class HealthAnswer:
    """What `/healthz` answers: a status code and a tiny body, built with the snapshot."""

    status_code: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a reader may ask, as of `made_at`. `version` grows by one per snapshot."""

    version: int
    made_at: datetime
    instance: str  # the identity of the instance that made it (events carry it too)
    regions: Mapping[str, RegionView]  # in the configuration's order
    traffic_manager: TrafficManagerView | None  # None: no traffic_manager section
    dns: DnsView | None  # None: no checks.dns section
    store_failure: WriteFailure | None = None
    # Alert channels whose health is known since the start: their trouble, None when they
    # deliver. A channel not in it has not been heard of yet.
    alert_channels: Mapping[str, ChannelTrouble | None] = field(default_factory=dict)
    scheduler_running: bool = False
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    policy: PolicyState | None = None  # the failover policy's state (set by the fold)
    controls: Controls = field(default_factory=Controls)  # pins, silences, the pause in force
    readiness: tuple[str, ...] = ()  # why the service is not ready; empty when it is
    warnings: tuple[Warning, ...] = ()  # what is wrong while the service stays ready
    # Whether a deploy marker was ever posted (within the audit retention); None: not known
    # here (`check` has no store to ask).
    deploy_marked: bool | None = None
    health: Mapping[str, HealthAnswer] = field(default_factory=dict)  # by region; "" itself
    # When each state that opens a condition only once it has lasted (regions drifting, an
    # endpoint left disabled) was first seen, by condition key; not kept across a restart.
    seen: Mapping[str, datetime] = field(default_factory=dict)
    # Every configured peer (in the configuration's order) and what it last told us.
    peers: Mapping[str, PeerView] = field(default_factory=dict)

    def health_for(self, region: str | None) -> HealthAnswer:
        """The `/healthz` answer for `region` (None: the service itself). A name that is not
        a configured region answers 200 saying so: a mistyped header must not take an endpoint
        out (the monitor fails static)."""
        answer = self.health.get(region or "")
        if answer is None and region:
            # Region names are lowercase; a header typed `WestEurope` in Traffic Manager means it.
            answer = self.health.get(region.strip().lower())
        if answer is not None:
            return answer
        return HealthAnswer(200, _unknown_region_body(region or ""))

    @property
    def ready(self) -> bool:
        return not self.readiness


def _unknown_region_body(region: str) -> bytes:
    return json.dumps({"region": region, "serve": True, "status": "unknown region"}).encode()

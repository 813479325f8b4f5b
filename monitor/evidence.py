"""What producers hand the engine: one typed item per thing that happened, applied in order.

Producers (the scheduler's rounds and reads, and later the API's commands and the peers'
observations) only describe what they saw; the engine alone decides what it means.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.alerts.health import ChannelTrouble
from monitor.controls import Control
from monitor.deploys import Deploy
from monitor.dnsmap import DnsFinding
from monitor.guardrails import Guard
from monitor.policy import REGIONWATCH, Action, Outcome_, Source
from monitor.quorum import PeerPull
from monitor.results import RegionVerdict
from monitor.storehealth import WriteFailure
from monitor.trafficmanager.geography import GeographicHierarchy
from monitor.trafficmanager.watch import AccessCheck, Reading

__all__ = [
    "AccessChecked",
    "ActionFinished",
    "AlertChannelChanged",
    "ControlsChanged",
    "DeployMarked",
    "DnsRoundFinished",
    "Evidence",
    "GeographyRead",
    "ManualCommand",
    "PeersPulled",
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
class AlertChannelChanged:
    """An alert channel started failing (`trouble`: dead letters, or attempts failing in a
    row) or delivers again (None)."""

    channel: str
    trouble: ChannelTrouble | None


@dataclass(frozen=True, slots=True)
class DeployMarked:
    """A deploy marker (posted, stored): its region's window opens."""

    deploy: Deploy


@dataclass(frozen=True, slots=True)
class ActionFinished:
    """The actuator's report on one of the policy's decisions."""

    decision_id: str
    region: str
    action: Action
    outcome: Outcome_
    detail: str  # one line: what was done, or why not
    at: datetime
    guard: Guard | None = None  # the guard rail that refused it
    uncovered: tuple[str, ...] = ()
    dry_run: bool = False
    urgent: bool = False
    reason: str = ""  # the decision's reason, for the event
    maybe_landed: bool = False  # failed after a PATCH was sent: it may have taken effect
    source: Source = Source.POLICY
    by: str = REGIONWATCH
    forced: bool = False


@dataclass(frozen=True, slots=True)
class ManualCommand:
    """A person's command (the API's `POST /api/v1/regions/{name}/disable|enable|adopt`):
    decided by the policy like any evidence, under the `id` its answer waits for."""

    id: str
    action: Action
    region: str
    reason: str
    by: str
    force: bool = False


@dataclass(frozen=True, slots=True)
class ControlsChanged:
    """Pins, silences or the pause started or ended by a person (stored already): `started`
    in force from now, `ended` (with who ended them and why) over."""

    started: tuple[Control, ...] = ()
    ended: tuple[Control, ...] = ()


@dataclass(frozen=True, slots=True)
class PeersPulled:
    """One pull of every peer's observations (those that answered, and why the others did
    not)."""

    pulls: tuple[PeerPull, ...]


@dataclass(frozen=True, slots=True)
class SchedulerChanged:
    """The scheduler started or stopped; `stopping`: stopped because the service is stopping
    (`monitor.stopping`), not at the end of `check`'s one round."""

    running: bool
    stopping: bool = False


Evidence = (
    RoundFinished
    | TrafficManagerRead
    | AccessChecked
    | GeographyRead
    | DnsRoundFinished
    | StoreHealthChanged
    | AlertChannelChanged
    | SchedulerChanged
    | DeployMarked
    | ActionFinished
    | ControlsChanged
    | ManualCommand
    | PeersPulled
)

"""The facts that flow from probes to verdicts, the store and the API: plain frozen dataclasses."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = [
    "CheckResult",
    "FailureClass",
    "OnFailure",
    "Outcome",
    "RegionStatus",
    "RegionVerdict",
]

Fact = str | int | float | bool | None


class Outcome(enum.StrEnum):
    UP = "up"  # answered and met every expectation
    DOWN = "down"  # answered wrongly, or not at all
    ERROR = "error"  # we could not judge: our resolver, our network, our bug


class OnFailure(enum.StrEnum):
    """What a failed expectation means: only `failover` failures count toward a disable."""

    FAILOVER = "failover"
    ALERT = "alert"


class FailureClass(enum.StrEnum):
    """Where a DOWN happened. Content failures look the same from anywhere; transport ones
    depend on the network path, so the failover policy needs a quorum for them."""

    CONTENT = "content"
    TRANSPORT = "transport"


class RegionStatus(enum.StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"  # serving, with alert-level findings
    FAILING = "failing"  # a failover-level failure this round
    UNKNOWN = "unknown"  # no round yet, or ERROR only


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's result for one region in one round (samples already folded in)."""

    check: str
    kind: str
    region: str
    outcome: Outcome
    started_at: datetime
    duration: timedelta
    reason: str = ""  # one line, secrets redacted
    on_failure: OnFailure = OnFailure.FAILOVER  # meaningful when outcome is DOWN
    failure_class: FailureClass | None = None  # set when outcome is DOWN
    latency_ms: float | None = None
    facts: Mapping[str, Fact] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RegionVerdict:
    """A region's status after one round, with the reasons that decided it."""

    region: str
    status: RegionStatus
    decided_at: datetime
    reasons: tuple[str, ...] = ()
    results: tuple[CheckResult, ...] = ()

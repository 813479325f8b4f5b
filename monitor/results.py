"""The facts that flow from probes to verdicts, the store and the API: plain frozen dataclasses."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = [
    "LOCAL_VANTAGE",
    "CheckResult",
    "DnsStatus",
    "FailureClass",
    "OnFailure",
    "Outcome",
    "RegionStatus",
    "RegionVerdict",
]

Fact = str | int | float | bool | None

# The vantage point of an instance whose configuration names none (`vantage: null`).
LOCAL_VANTAGE = "local"


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


class DnsStatus(enum.StrEnum):
    """Where one resolver sends one vantage point's users, judged (docs/dns.md)."""

    OK = "ok"  # the expected region
    FAILOVER = "failover"  # another region, because the expected one is out of rotation
    MISMATCH = "mismatch"  # another region, and nothing explains it
    UNKNOWN = "unknown"  # cannot be placed, or the resolver ignored the client subnet
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    SERVFAIL = "servfail"
    TIMEOUT = "timeout"
    ERROR = "error"  # we could not ask: our side, or a refusal

    @property
    def wrong(self) -> bool:
        """Users of this vantage point are sent nowhere, or to the wrong place: `check` exits 1."""
        return self in _WRONG_DNS


_WRONG_DNS = frozenset(
    {
        DnsStatus.MISMATCH,
        DnsStatus.NXDOMAIN,
        DnsStatus.NODATA,
        DnsStatus.SERVFAIL,
        DnsStatus.TIMEOUT,
    }
)


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
    release: str | None = None  # the version header's value, when the answer carried one
    vantage: str = LOCAL_VANTAGE  # the vantage point that saw it
    received_at: datetime | None = None  # when the engine's side received it; None before


@dataclass(frozen=True, slots=True)
class RegionVerdict:
    """A region's status after one round, with the reasons that decided it."""

    region: str
    status: RegionStatus
    decided_at: datetime
    reasons: tuple[str, ...] = ()
    results: tuple[CheckResult, ...] = ()

"""Synthetic rounds for tests of the engine's pure parts: a two-region configuration and a
verdict of any status at any time, without a socket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config import Config, parse_config
from monitor.results import CheckResult, OnFailure, Outcome, RegionStatus, RegionVerdict

START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
REGIONS = ("westeurope", "centralus")
CONFIG: Config = parse_config(
    {
        "site": {"hostname": "blog.example.com"},
        "regions": {name: {"address": f"192.0.2.{i + 1}"} for i, name in enumerate(REGIONS)},
    }
)
_OUTCOMES = {
    RegionStatus.HEALTHY: (Outcome.UP, OnFailure.FAILOVER),
    RegionStatus.FAILING: (Outcome.DOWN, OnFailure.FAILOVER),
    RegionStatus.DEGRADED: (Outcome.DOWN, OnFailure.ALERT),
    RegionStatus.UNKNOWN: (Outcome.ERROR, OnFailure.FAILOVER),
}


def verdict(region: str, status: RegionStatus, at: datetime) -> RegionVerdict:
    outcome, meaning = _OUTCOMES[status]
    result = CheckResult(
        "home",
        "https",
        region,
        outcome,
        at,
        timedelta(milliseconds=5),
        reason="" if outcome is Outcome.UP else f"{status.value} on purpose",
        on_failure=meaning,
    )
    reasons = () if status is RegionStatus.HEALTHY else (f"home: {status.value} on purpose",)
    return RegionVerdict(region, status, at, reasons, (result,))

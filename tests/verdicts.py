"""Synthetic rounds for tests of the engine's pure parts: a two-region configuration and a
verdict of any status at any time, without a socket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.config import Config, parse_config
from monitor.observations import Observation, PeerDocument
from monitor.results import (
    CheckResult,
    FailureClass,
    OnFailure,
    Outcome,
    RegionStatus,
    RegionVerdict,
)

START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
REGIONS = ("westeurope", "centralus")


def config_with(**sections: Any) -> Config:
    """The two-region configuration with `sections` added (or replacing the defaults)."""
    return parse_config(
        {
            "site": {"hostname": "blog.example.com"},
            "regions": {name: {"address": f"192.0.2.{i + 1}"} for i, name in enumerate(REGIONS)},
            **sections,
        }
    )


CONFIG: Config = config_with()
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


def peer_document(
    vantage: str,
    seen: dict[str, RegionStatus],
    *,
    age: float = 1.0,
    role: str = "observer",
    serve: dict[str, bool] | None = None,
) -> PeerDocument:
    """A peer's observations document as parsed: each region with `age`, a failing one by
    transport (a path of the peer's own)."""
    observations = {
        region: Observation(
            region,
            status,
            age,
            FailureClass.TRANSPORT if status is RegionStatus.FAILING else None,
        )
        for region, status in seen.items()
    }
    return PeerDocument(f"monitor-{vantage}", vantage, role, observations, serve or {})

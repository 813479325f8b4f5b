"""Verdicts as JSON documents: the `check --json` contract and the API's region shape."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from monitor.results import CheckResult, RegionStatus, RegionVerdict

__all__ = ["check_document", "exit_code", "result_dict", "verdict_dict"]


def result_dict(result: CheckResult) -> dict[str, Any]:
    return {
        "check": result.check,
        "kind": result.kind,
        "outcome": result.outcome.value,
        "reason": result.reason,
        "latency_ms": result.latency_ms,
        "on_failure": result.on_failure.value if result.reason else None,
        "failure_class": result.failure_class.value if result.failure_class else None,
        "started_at": result.started_at.isoformat(),
        "facts": dict(result.facts),
    }


def verdict_dict(verdict: RegionVerdict) -> dict[str, Any]:
    return {
        "name": verdict.region,
        "status": verdict.status.value,
        "decided_at": verdict.decided_at.isoformat(),
        "reasons": list(verdict.reasons),
        "checks": [result_dict(r) for r in verdict.results],
        "traffic_manager": None,
    }


def check_document(verdicts: Iterable[RegionVerdict]) -> dict[str, Any]:
    """The document `regionwatch check --json` prints (contract/check.schema.json)."""
    return {"regions": [verdict_dict(v) for v in verdicts], "dns": []}


def exit_code(verdicts: Iterable[RegionVerdict]) -> int:
    """0 when every region is healthy or degraded; 1 when one is failing or unknown."""
    ok = {RegionStatus.HEALTHY, RegionStatus.DEGRADED}
    return 0 if all(v.status in ok for v in verdicts) else 1

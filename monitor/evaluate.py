"""Results → verdicts: samples folded by majority, then one status per region with its reasons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from monitor.results import CheckResult, OnFailure, Outcome, RegionStatus, RegionVerdict

__all__ = ["fold_samples", "verdict"]


def fold_samples(samples: Sequence[CheckResult]) -> CheckResult:
    """One result from a request's samples: it fails the round only when most samples failed.

    DOWN needs a strict majority of DOWN samples; otherwise one UP sample is evidence enough
    that the region serves; with neither, we could not judge (ERROR).
    """
    if not samples:
        raise ValueError("fold_samples needs at least one sample")
    if len(samples) == 1:
        return samples[0]
    down = [s for s in samples if s.outcome is Outcome.DOWN]
    up = [s for s in samples if s.outcome is Outcome.UP]
    total = len(samples)
    if len(down) * 2 > total:
        chosen = down[0]
        # The failover meaning wins if any failing sample carried it.
        if any(s.on_failure is OnFailure.FAILOVER for s in down):
            chosen = next(s for s in down if s.on_failure is OnFailure.FAILOVER)
        note = f" ({len(down)}/{total} samples failed)"
    elif up:
        failed = total - len(up)
        note = f"{failed}/{total} samples failed, no majority down" if failed else ""
        return _with(up[0], note, samples, replace_reason=True)
    else:
        chosen = next(s for s in samples if s.outcome is Outcome.ERROR)
        note = f" (no majority: {len(down)} down, {total - len(down)} could not judge)"
    return _with(chosen, note, samples)


def _with(
    chosen: CheckResult, note: str, samples: Sequence[CheckResult], *, replace_reason: bool = False
) -> CheckResult:
    latencies = [s.latency_ms for s in samples if s.latency_ms is not None]
    facts = dict(chosen.facts)
    facts["samples"] = len(samples)
    facts["samples_down"] = sum(s.outcome is Outcome.DOWN for s in samples)
    facts["samples_error"] = sum(s.outcome is Outcome.ERROR for s in samples)
    reason = note if replace_reason else chosen.reason + note
    median = sorted(latencies)[len(latencies) // 2] if latencies else None
    return replace(chosen, reason=reason, facts=facts, latency_ms=median)


def verdict(region: str, results: Sequence[CheckResult], decided_at: datetime) -> RegionVerdict:
    """The region's status for one round.

    failing: any DOWN with failover meaning; degraded: only alert-level DOWNs; unknown: no
    result, or nothing but ERROR; healthy otherwise (an ERROR beside UPs is our problem, not
    the region's, and is named in the reasons).
    """
    failover = [
        r for r in results if r.outcome is Outcome.DOWN and r.on_failure is OnFailure.FAILOVER
    ]
    alerts = [r for r in results if r.outcome is Outcome.DOWN and r.on_failure is OnFailure.ALERT]
    errors = [r for r in results if r.outcome is Outcome.ERROR]
    reasons = [f"{r.check}: {r.reason}" for r in (*failover, *alerts)]
    reasons += [f"{r.check}: could not judge: {r.reason}" for r in errors]
    if failover:
        status = RegionStatus.FAILING
    elif alerts:
        status = RegionStatus.DEGRADED
    elif not results or len(errors) == len(results):
        status = RegionStatus.UNKNOWN
        if not results:
            reasons = ["no round yet"]
    else:
        status = RegionStatus.HEALTHY
    return RegionVerdict(region, status, decided_at, tuple(reasons), tuple(results))

"""Samples folded by majority, and region verdicts from results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.evaluate import fold_samples, verdict
from monitor.results import CheckResult, OnFailure, Outcome, RegionStatus

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def result(
    outcome: Outcome,
    *,
    check: str = "home",
    reason: str = "",
    on_failure: OnFailure = OnFailure.FAILOVER,
    latency_ms: float | None = 10.0,
) -> CheckResult:
    return CheckResult(
        check=check,
        kind="https",
        region="westeurope",
        outcome=outcome,
        started_at=NOW,
        duration=timedelta(milliseconds=10),
        reason=reason or ("" if outcome is Outcome.UP else f"{outcome.value} reason"),
        on_failure=on_failure,
        latency_ms=latency_ms,
    )


UP, DOWN, ERROR = Outcome.UP, Outcome.DOWN, Outcome.ERROR


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([UP], UP),
        ([DOWN], DOWN),
        ([ERROR], ERROR),
        ([DOWN, DOWN, UP], DOWN),
        ([DOWN, UP, UP], UP),
        ([DOWN, UP], UP),
        ([DOWN, DOWN], DOWN),
        ([DOWN, ERROR, ERROR], ERROR),
        ([DOWN, DOWN, ERROR], DOWN),
        ([UP, ERROR, ERROR], UP),
        ([DOWN, UP, ERROR], UP),
        ([DOWN] * 5 + [UP] * 4, DOWN),
        ([DOWN] * 4 + [UP] * 5, UP),
    ],
)
def test_a_request_fails_the_round_only_when_most_samples_fail(
    samples: list[Outcome], expected: Outcome
) -> None:
    """A strict majority of DOWN samples fails the request; one UP otherwise carries it."""
    folded = fold_samples([result(o) for o in samples])
    assert folded.outcome is expected
    if len(samples) > 1:
        assert folded.facts["samples"] == len(samples)
        assert folded.facts["samples_down"] == samples.count(DOWN)


def test_folded_reason_counts_the_failed_samples() -> None:
    """The reason of a folded DOWN says how many samples failed."""
    folded = fold_samples([result(DOWN, reason="status 502"), result(DOWN), result(UP)])
    assert folded.reason == "status 502 (2/3 samples failed)"
    up = fold_samples([result(DOWN), result(UP), result(UP)])
    assert up.reason == "1/3 samples failed, no majority down"


def test_failover_meaning_wins_among_failing_samples() -> None:
    """When failing samples disagree on meaning, the failover one decides."""
    folded = fold_samples(
        [result(DOWN, on_failure=OnFailure.ALERT), result(DOWN, reason="status 500"), result(UP)]
    )
    assert folded.on_failure is OnFailure.FAILOVER
    assert folded.reason.startswith("status 500")


def test_folded_latency_is_the_median_sample() -> None:
    """Latency of a folded result is the median of its samples, not the first."""
    folded = fold_samples([result(UP, latency_ms=v) for v in (30.0, 10.0, 20.0)])
    assert folded.latency_ms == 20.0


def test_fold_needs_samples() -> None:
    """Folding nothing is a bug, not an UP."""
    with pytest.raises(ValueError, match="at least one sample"):
        fold_samples([])


@pytest.mark.parametrize(
    ("results", "status"),
    [
        ([], RegionStatus.UNKNOWN),
        ([result(UP), result(UP, check="b")], RegionStatus.HEALTHY),
        ([result(UP), result(DOWN, check="b")], RegionStatus.FAILING),
        ([result(UP), result(DOWN, check="b", on_failure=OnFailure.ALERT)], RegionStatus.DEGRADED),
        (
            [result(DOWN, on_failure=OnFailure.ALERT), result(DOWN, check="b")],
            RegionStatus.FAILING,
        ),
        ([result(ERROR), result(ERROR, check="b")], RegionStatus.UNKNOWN),
        ([result(UP), result(ERROR, check="b")], RegionStatus.HEALTHY),
        ([result(ERROR), result(DOWN, check="b")], RegionStatus.FAILING),
    ],
)
def test_region_verdict(results: list[CheckResult], status: RegionStatus) -> None:
    """failing beats degraded beats healthy; ERROR alone is unknown, never failing."""
    assert verdict("westeurope", results, NOW).status is status


def test_verdict_reasons_name_the_check_and_what_we_could_not_judge() -> None:
    """Reasons list failures first, then checks we could not judge."""
    v = verdict(
        "westeurope",
        [
            result(ERROR, check="a", reason="local network error"),
            result(DOWN, check="b", reason="status 503"),
        ],
        NOW,
    )
    assert v.reasons == ("b: status 503", "a: could not judge: local network error")

"""Properties that hold for every input, not just the examples: durations and sample folding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from monitor.durations import format_duration, parse_duration
from monitor.evaluate import fold_samples, verdict
from monitor.results import CheckResult, OnFailure, Outcome, RegionStatus

NOW = datetime(2026, 11, 27, tzinfo=UTC)


@given(st.integers(min_value=0, max_value=400 * 86_400_000))
def test_a_formatted_duration_reads_back_exactly(milliseconds: int) -> None:
    """format_duration writes what parse_duration reads, to the millisecond."""
    value = timedelta(milliseconds=milliseconds)
    assert parse_duration(format_duration(value)) == value


def sample(outcome: Outcome) -> CheckResult:
    return CheckResult(
        "home", "https", "westeurope", outcome, NOW, timedelta(0), reason=outcome.value
    )


@given(st.lists(st.sampled_from(list(Outcome)), min_size=1, max_size=15))
def test_a_request_fails_exactly_when_most_samples_fail(outcomes: list[Outcome]) -> None:
    """DOWN iff a strict majority of samples are DOWN; otherwise UP iff any sample is UP."""
    folded = fold_samples([sample(o) for o in outcomes])
    down = outcomes.count(Outcome.DOWN)
    if down * 2 > len(outcomes):
        assert folded.outcome is Outcome.DOWN
    elif Outcome.UP in outcomes:
        assert folded.outcome is Outcome.UP
    else:
        assert folded.outcome is Outcome.ERROR


@given(st.lists(st.sampled_from([Outcome.UP, Outcome.ERROR]), min_size=0, max_size=10))
def test_errors_alone_never_make_a_region_failing(outcomes: list[Outcome]) -> None:
    """Our own failures (ERROR) can never make a region failing or degraded."""
    results = [sample(o) for o in outcomes]
    status = verdict("westeurope", results, NOW).status
    assert status in (RegionStatus.HEALTHY, RegionStatus.UNKNOWN)


@given(
    st.lists(
        st.tuples(st.sampled_from(list(Outcome)), st.sampled_from(list(OnFailure))),
        min_size=1,
        max_size=10,
    )
)
def test_failing_is_exactly_a_failover_level_down(items: list[tuple[Outcome, OnFailure]]) -> None:
    """A region is failing iff some result is DOWN with failover meaning."""
    results = [
        CheckResult(f"c{i}", "https", "westeurope", o, NOW, timedelta(0), reason="x", on_failure=f)
        for i, (o, f) in enumerate(items)
    ]
    failing = any(o is Outcome.DOWN and f is OnFailure.FAILOVER for o, f in items)
    assert (verdict("westeurope", results, NOW).status is RegionStatus.FAILING) == failing

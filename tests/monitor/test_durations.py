"""Durations as written in YAML, and their shortest spelling back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.durations import MAX_DURATION, format_duration, parse_duration
from monitor.quoting import quoted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("10s", timedelta(seconds=10)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("30d", timedelta(days=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1m30s500ms", timedelta(minutes=1, seconds=30, milliseconds=500)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("1.5s", timedelta(seconds=1.5)),
    ],
)
def test_units_and_combinations_parse(text: str, expected: timedelta) -> None:
    """ms, s, m, h and d parse alone, combined, with spaces and with decimals."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [(10, timedelta(seconds=10)), (0.25, timedelta(milliseconds=250)), (0, timedelta(0))],
)
def test_bare_numbers_are_seconds(number: float, expected: timedelta) -> None:
    """A number without a unit is a number of seconds."""
    assert parse_duration(number) == expected


def test_timedelta_passes_through() -> None:
    """An already parsed duration is returned as is."""
    assert parse_duration(timedelta(minutes=2)) == timedelta(minutes=2)


def test_negative_number_is_rejected() -> None:
    """A negative number of seconds is refused with its own message."""
    with pytest.raises(ValueError, match=r"^expected a duration that is not negative, got -5$"):
        parse_duration(-5)


@pytest.mark.parametrize("value", ["-5s", "10 seconds", "10", "5x", "", "s", True, None, [10]])
def test_anything_else_is_rejected_with_examples(value: object) -> None:
    """Negative strings, unknown units, unitless strings, booleans and non-scalars are refused."""
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert str(caught.value) == f"expected a duration such as 10s, 5m or 1h, got {value!r}"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(milliseconds=1500), "1s500ms"),
        (timedelta(days=30), "30d"),
        (timedelta(hours=1, minutes=30), "1h30m"),
    ],
)
def test_format_gives_the_shortest_spelling_that_parses_back(value: timedelta, text: str) -> None:
    """format_duration writes the shortest exact spelling, and parse_duration reads it back."""
    assert format_duration(value) == text
    assert parse_duration(text) == value


@pytest.mark.parametrize(
    "value",
    ["9999999999d", "3650d1ms", f"1{'0' * 400}s", float("inf"), 10**400, timedelta(days=5000)],
)
def test_durations_beyond_the_maximum_are_refused(value: object) -> None:
    """Past MAX_DURATION (ten years) is a ValueError naming the bound, never an OverflowError."""
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert str(caught.value) == f"expected a duration of at most 3650d, got {quoted(value)}"


def test_a_negative_timedelta_is_refused_like_a_negative_number() -> None:
    """Below zero is refused whatever the type (a timedelta once passed through unchecked)."""
    with pytest.raises(ValueError) as caught:
        parse_duration(timedelta(seconds=-1))
    assert str(caught.value) == (
        "expected a duration that is not negative, got datetime.timedelta(days=-1, seconds=86399)"
    )


def test_nan_is_refused_with_examples() -> None:
    """NaN is no duration (it once leaked timedelta's own `cannot convert float NaN`)."""
    with pytest.raises(ValueError, match=r"^expected a duration such as 10s, 5m or 1h, got nan$"):
        parse_duration(float("nan"))


def test_the_maximum_itself_is_accepted_and_no_more() -> None:
    """MAX_DURATION is in range, as a string, a number of seconds or a timedelta; 1ms more is not."""
    with pytest.raises(ValueError):
        parse_duration(MAX_DURATION.total_seconds() + 0.001)
    assert parse_duration("3650d") == MAX_DURATION
    assert parse_duration(MAX_DURATION.total_seconds()) == MAX_DURATION
    assert parse_duration(MAX_DURATION) == MAX_DURATION


@pytest.mark.parametrize("text", ["10s10s", "1m30s1m", "1h 1h", "500ms1s500ms"])
def test_a_unit_given_twice_is_refused(text: str) -> None:
    """`10s10s` is more likely a slip than 20 seconds: each unit may be given once."""
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert str(caught.value) == (
        f"expected each unit (ms, s, m, h, d) at most once, such as 1h30m, got {text!r}"
    )


def test_a_long_duration_text_is_quoted_cut_with_its_length() -> None:
    """A megabyte of digits is shown as its first 80 characters and its length."""
    with pytest.raises(ValueError) as caught:
        parse_duration("9" * 100_000)
    assert str(caught.value) == (
        f"expected a duration such as 10s, 5m or 1h, got '{'9' * 80}…' (100,000 characters)"
    )

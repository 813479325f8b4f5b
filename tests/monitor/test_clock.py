"""The clocks of monitor/clock.py that the lab drives: real time plus a forward-only offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.clock import OffsetClock


def test_offset_clock_follows_real_time_until_advanced_and_then_runs_ahead() -> None:
    """Unadvanced it reads real time; `advance(s)` puts both readings `s` seconds ahead."""
    clock = OffsetClock()
    before = datetime.now(UTC)
    assert before <= clock.now() <= datetime.now(UTC)
    monotonic = clock.monotonic()
    clock.advance(3600)
    assert clock.now() - datetime.now(UTC) > timedelta(seconds=3599)
    assert clock.monotonic() - monotonic >= 3600


def test_offset_clock_refuses_to_go_backwards() -> None:
    """A negative advance is an error, and the clock keeps its offset."""
    clock = OffsetClock()
    clock.advance(10)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    assert clock.now() - datetime.now(UTC) > timedelta(seconds=9)

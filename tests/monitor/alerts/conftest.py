"""What the alert tests share: a real store on disk whose events are routed by `route_alerts`
(every event to `ops`, unless a test module overrides that fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.clock import ManualClock
from monitor.events import Event
from monitor.store import Store

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def route_alerts() -> Callable[[Event], list[str]]:
    return lambda e: ["ops"]


@pytest.fixture
async def store(tmp_path: Path, route_alerts: Callable[[Event], list[str]]) -> AsyncIterator[Store]:
    s = Store(
        tmp_path / "s.db",
        clock=ManualClock(START),
        retention=timedelta(days=1),
        route_alerts=route_alerts,
    )
    await s.open()
    yield s
    await s.close()

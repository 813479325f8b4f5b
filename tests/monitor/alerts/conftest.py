"""What the alert tests share: a real store on disk whose every event is routed to `ops`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.clock import ManualClock
from monitor.store import Store

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(
        tmp_path / "s.db",
        clock=ManualClock(START),
        retention=timedelta(days=1),
        route_alerts=lambda e: ["ops"],
    )
    await s.open()
    yield s
    await s.close()

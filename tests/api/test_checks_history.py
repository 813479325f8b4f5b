"""`GET /api/v1/regions/{name}/checks`: a region's check results over time, newest first,
filtered by check and time range and paged, over the real app with rounds submitted to the
engine on a manual clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
from servers import serving_service
from verdicts import START, verdict

from lab.origin import RegionalOrigin
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.evidence import RoundFinished
from monitor.results import RegionStatus

ConfigWriter = Callable[..., Path]


def iso(seconds: int) -> str:
    return (START + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


async def test_checks_history_pages_newest_first_within_a_time_range(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Five rounds a second apart: pages of two follow `next` through all five, newest first;
    `since` (included) and `until` (excluded) bound them; `check` filters; an unknown region
    is a 404 in the error shape."""
    clock = ManualClock(START)
    config = load_config(write_config(two_regions))
    async with (
        serving_service(config, schedule=False, clock=clock) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        statuses = [RegionStatus.HEALTHY, RegionStatus.FAILING] * 2 + [RegionStatus.HEALTHY]
        for status in statuses:
            clock.advance(1)
            await service.engine.apply(RoundFinished(verdict("westeurope", status, clock.now())))
        await service.engine.settle()

        seen: list[str] = []
        before: int | None = None
        for _ in range(5):
            params: dict[str, str | int] = {"limit": 2}
            if before is not None:
                params["before"] = before
            page = (await client.get("/api/v1/regions/westeurope/checks", params=params)).json()
            seen += [c["started_at"] for c in page["checks"]]
            before = page["next"]
            if before is None:
                break
        assert seen == [iso(s) for s in (5, 4, 3, 2, 1)]

        ranged = await client.get(
            "/api/v1/regions/westeurope/checks", params={"since": iso(2), "until": iso(4)}
        )
        assert [(c["started_at"], c["outcome"]) for c in ranged.json()["checks"]] == [
            (iso(3), "up"),
            (iso(2), "down"),
        ]
        other = await client.get("/api/v1/regions/westeurope/checks", params={"check": "admin"})
        assert other.json() == {"checks": [], "next": None}
        missing = await client.get("/api/v1/regions/nowhere/checks")
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"

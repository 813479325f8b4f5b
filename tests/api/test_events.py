"""`GET /api/v1/events` over the real app: newest first, filtered by type, region and time,
paged, and the same after a restart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from servers import serving_service
from verdicts import START, verdict

from lab.origin import RegionalOrigin
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.evidence import RoundFinished
from monitor.results import RegionStatus
from monitor.service import Service

ConfigWriter = Callable[..., Path]
# westeurope fails and recovers twice, centralus degrades once: six events, at known times.
HISTORY = [
    ("westeurope", RegionStatus.FAILING),
    ("westeurope", RegionStatus.HEALTHY),
    ("centralus", RegionStatus.DEGRADED),
    ("westeurope", RegionStatus.FAILING),
    ("centralus", RegionStatus.HEALTHY),
    ("westeurope", RegionStatus.HEALTHY),
]


async def play(service: Service, clock: ManualClock) -> None:
    for region, status in HISTORY:
        clock.advance(10)
        await service.engine.apply(RoundFinished(verdict(region, status, clock.now())))
    await service.engine.settle()


async def events(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    answer = await client.get("/api/v1/events", params=params)
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


def kinds(page: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["type"], e["region"]) for e in page["events"]]


async def test_events_are_listed_newest_first_filtered_and_paged(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Every change is one event; `type`, `region` and `since` filter; `limit` and `before`
    page through without gaps or repeats; a wrong filter is a 422 in the API's error shape."""
    config = load_config(write_config(two_regions))
    clock = ManualClock(START)
    async with (
        serving_service(config, schedule=False, clock=clock) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        await play(service, clock)
        everything = await events(client)
        assert kinds(everything) == [
            ("region.recovered", "westeurope"),
            ("region.recovered", "centralus"),
            ("region.failing", "westeurope"),
            ("region.degraded", "centralus"),
            ("region.recovered", "westeurope"),
            ("region.failing", "westeurope"),
        ]
        assert everything["next"] is None
        first = everything["events"][-1]
        assert first["severity"] == "critical"
        assert first["since"] == first["at"] == "2026-11-02T14:00:10Z"
        assert first["evidence"]["results"][0]["reason"] == "failing on purpose"
        assert first["instance"] == service.snapshot.instance

        assert (
            kinds(await events(client, type="region.failing"))
            == [("region.failing", "westeurope")] * 2
        )
        assert [k for k, _ in kinds(await events(client, region="centralus"))] == [
            "region.recovered",
            "region.degraded",
        ]
        since = (START + timedelta(seconds=40)).isoformat()
        assert len((await events(client, since=since))["events"]) == 3

        pages, before = [], None
        while True:
            page = await events(client, limit=4, **({"before": before} if before else {}))
            pages.append(page["events"])
            before = page["next"]
            if before is None:
                break
        assert [len(p) for p in pages] == [4, 2]
        assert [e["id"] for p in pages for e in p] == [e["id"] for e in everything["events"]]

        wrong = await client.get("/api/v1/events", params={"type": "region.exploded"})
        assert wrong.status_code == 422
        assert wrong.json()["error"] == "invalid_request"
        assert "type" in wrong.json()["detail"]


async def test_events_survive_a_restart_and_are_not_told_twice(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """After a restart over the same store the events are still listed, and a round that
    finds westeurope failing again (the condition still open) adds none."""
    config = load_config(write_config(two_regions))
    clock = ManualClock(START)
    async with (
        serving_service(config, schedule=False, clock=clock) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        await play(service, clock)
        clock.advance(10)
        service.engine.submit(
            RoundFinished(verdict("westeurope", RegionStatus.FAILING, clock.now()))
        )
        await service.engine.settle()
        before = await events(client)
    clock.advance(5)
    async with (
        serving_service(config, schedule=False, clock=clock) as (url, service),
        httpx.AsyncClient(base_url=url) as client,
    ):
        assert (await events(client)) == before
        service.engine.submit(
            RoundFinished(verdict("westeurope", RegionStatus.FAILING, clock.now()))
        )
        await service.engine.settle()
        assert (await events(client)) == before

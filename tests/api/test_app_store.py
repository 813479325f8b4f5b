"""The history store's failures through the real app on a loopback socket: an unreadable
history is a 503 with one JSON error, and failing writes show in /readyz and on the status
page while verdicts keep being served. (A corrupt store stops `Service.start`, before the app
listens: tests/monitor/test_service.py.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import structlog
from servers import eventually, serving_service
from storefaults import (
    disk_freed,
    disk_full,
    overwrite_pages,
    pages_of,
    read_only,
    store_with_history,
    touch_from_outside,
    writable,
)

from lab.origin import Fault, RegionalOrigin
from lab.sandbox import MODEL_REQUESTS
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.store import Store

ConfigWriter = Callable[..., Path]
StoreFault = Callable[[Store], Awaitable[None]]


async def test_a_history_read_that_fails_answers_503_with_one_json_error(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """History pages damaged while the service runs: GET /api/v1/regions/{name} answers 503
    {"detail": ...} with SQLite's short cause, no traceback and no SQL; the verdicts, served
    from memory, still answer."""
    config = load_config(write_config(two_regions))
    path = config.storage.path
    await store_with_history(path, datetime.now(UTC) - timedelta(hours=1))
    async with (
        serving_service(config, schedule=False) as (
            url,
            _,
        ),  # no rounds: nothing writes over the damage
        httpx.AsyncClient(base_url=url) as client,
    ):
        assert (await client.get("/api/v1/regions/westeurope")).status_code == 200
        overwrite_pages(path, pages_of(path, "verdicts", "verdicts_by_region_time"))
        touch_from_outside(path)
        answer = await client.get("/api/v1/regions/westeurope")
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == {
            "status": 503,
            "error": "store_unavailable",
            "detail": "the history store cannot be read: database disk image is malformed",
        }
        regions = await client.get("/api/v1/regions")
        assert regions.status_code == 200
        assert {r["name"] for r in regions.json()["regions"]} == set(two_regions)


@pytest.mark.parametrize(
    ("make_it_fail", "make_it_work", "error"),
    [
        (disk_full, disk_freed, "database or disk is full"),
        (read_only, writable, "attempt to write a readonly database"),
    ],
    ids=["disk full", "read-only"],
)
async def test_failing_history_writes_show_in_readyz_and_the_status_page(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    make_it_fail: StoreFault,
    make_it_work: StoreFault,
    error: str,
) -> None:
    """Writes failing round after round: /readyz stays 200 (the pod keeps serving /healthz)
    and says since when and why, so does the status page, verdicts keep following the region
    from memory; one warning when the failure starts and one info line when it ends."""
    west = two_regions["westeurope"]
    # The scheduler runs the first round at start; the test runs the next ones itself (the
    # same `run_round` the scheduler calls), so it knows which rounds met the failing store.
    https = {"interval": "1h", "jitter": "0s", "timeout": "1s", "requests": MODEL_REQUESTS}
    # Failover off: one region alone would add a warning that failover can never act.
    config = load_config(
        write_config({"westeurope": west}, checks={"https": https}, failover={"mode": "off"})
    )
    # The clock stands still, so every round writes rows of the same size: once the "full"
    # store refuses one, it refuses the next (one region: one set of index pages).
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    with structlog.testing.capture_logs() as logs:
        async with (
            serving_service(config, clock=clock) as (url, service),
            httpx.AsyncClient(base_url=url) as client,
        ):
            await eventually(lambda: service.snapshot.regions["westeurope"].rounds_done >= 1)
            clock.advance(60)
            since = clock.now()
            await make_it_fail(service.store)
            for _ in range(50):  # a full store shows once a write needs a new page
                await service.run_round("westeurope")
                if (await service.engine.settle()).warnings:
                    break
            await service.run_round("westeurope")
            await service.run_round("westeurope")
            await service.engine.settle()

            line = f"history store failing since {since:%Y-%m-%dT%H:%M:%SZ}: {error}"
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {
                "ready": True,
                "problems": [],
                "warnings": [line],
                "details": [
                    {
                        "code": "store_writes_failing",
                        "severity": "warning",
                        "message": line,
                        "subject": "storage",
                    }
                ],
            }
            assert line in (await client.get("/")).text

            west.inject(Fault.ERROR, status=503)
            await service.run_round("westeurope")
            await service.engine.settle()
            regions = (await client.get("/api/v1/regions")).json()["regions"]
            assert regions[0]["status"] == "failing"
            assert (await client.get("/readyz")).json()["warnings"] == [line]

            await make_it_work(service.store)
            await service.run_round("westeurope")
            await service.engine.settle()
            assert (await client.get("/readyz")).json()["warnings"] == []
            # The timeline keeps the story; the warning above the regions is gone.
            assert 'data-warning="store_writes_failing"' not in (await client.get("/")).text
            history = (await client.get("/api/v1/regions/westeurope")).json()["history"]
            assert history[0]["status"] == "failing"

    told = [(e["log_level"], e["event"]) for e in logs if "store" in e["event"]]
    assert told == [("warning", "store_writes_failing"), ("info", "store_writes_recovered")]
    assert not [e for e in logs if e["log_level"] in ("error", "critical")]
    assert not [e for e in logs if "exc_info" in e or "exception" in e]

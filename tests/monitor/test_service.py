"""The service end to end on loopback: rounds on schedule, verdicts, history across a restart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from servers import eventually
from storefaults import overwrite_pages, pages_of, store_with_history

from lab.origin import Fault, RegionalOrigin
from monitor.config import load_config
from monitor.errors import StoreCorrupt
from monitor.results import RegionStatus
from monitor.scheduler import RoundScheduler
from monitor.service import Service

ConfigWriter = Callable[..., Path]


async def test_rounds_run_on_schedule_for_every_region(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Each region gets round after round, and each round probes every request of that region."""
    service = Service(load_config(write_config(two_regions)))
    served_before = two_regions["centralus"].requests_served
    await service.start()
    try:
        await eventually(lambda: min(service.rounds_done(r) for r in two_regions) >= 3)
    finally:
        await service.stop()
    # 4 requests per round, at least 3 rounds.
    assert two_regions["centralus"].requests_served - served_before >= 12


async def test_a_fault_turns_the_region_failing_and_healing_brings_it_back(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """The verdict follows the region: failing while broken, healthy after it heals."""
    service = Service(load_config(write_config(two_regions)))
    await service.start()
    try:
        await eventually(lambda: min(service.rounds_done(r) for r in two_regions) >= 1)
        assert service.verdicts()["westeurope"].status is RegionStatus.HEALTHY
        two_regions["westeurope"].inject(Fault.ERROR, status=503)
        await eventually(lambda: service.verdicts()["westeurope"].status is RegionStatus.FAILING)
        assert service.verdicts()["centralus"].status is RegionStatus.HEALTHY
        two_regions["westeurope"].heal()
        await eventually(lambda: service.verdicts()["westeurope"].status is RegionStatus.HEALTHY)
    finally:
        await service.stop()


async def test_history_survives_a_restart(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A new process over the same store sees the old verdicts and results before its own round."""
    path = write_config(two_regions)
    two_regions["westeurope"].inject(Fault.ORIGIN_DOWN)
    first = Service(load_config(path))
    await first.start()
    try:
        await eventually(lambda: first.rounds_done("westeurope") >= 2)
    finally:
        await first.stop()
    rounds_before = len(await _verdicts(path, "westeurope"))
    assert rounds_before >= 2

    second = Service(load_config(path))
    await second.store.open()  # the store alone: no round runs
    try:
        assert second.verdicts()["westeurope"].status is RegionStatus.FAILING
        assert second.rounds_done("westeurope") == 0
        results = await second.store.results("westeurope", check="home-cached", limit=10)
        assert results and all("stale copy" in r.reason for r in results)
    finally:
        await second.store.close()


async def test_a_regions_first_verdict_is_info_and_a_change_is_a_warning(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """The first verdict of a region is logged at info, not as a change; a later change of
    status is a warning."""
    service = Service(load_config(write_config(two_regions)))
    await service.store.open()  # rounds driven by hand, no scheduler
    try:
        with structlog.testing.capture_logs() as logs:
            await service.run_round("westeurope")
            await service.run_round("westeurope")
            two_regions["westeurope"].inject(Fault.ERROR, status=503)
            await service.run_round("westeurope")
    finally:
        await service.store.close()
    noted = [
        (e["log_level"], e["event"], e.get("previous"), e["status"])
        for e in logs
        if e["event"] in ("region_first_verdict", "region_status_changed")
    ]
    assert noted == [
        ("info", "region_first_verdict", None, "healthy"),
        ("warning", "region_status_changed", "healthy", "failing"),
    ]


async def _verdicts(path: Path, region: str) -> list[object]:
    service = Service(load_config(path))
    await service.store.open()
    try:
        return list(await service.store.verdicts(region, limit=1000))
    finally:
        await service.store.close()


async def test_a_round_never_overlaps_itself() -> None:
    """A round slower than the interval is not started again until it finishes (max_instances=1)."""
    running: dict[str, int] = {"now": 0, "most": 0, "done": 0}

    async def slow_round(region: str) -> None:
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
        await asyncio.sleep(0.35)
        running["now"] -= 1
        running["done"] += 1

    async def nothing() -> None:
        return None

    scheduler = RoundScheduler(
        ["westeurope"],
        interval=timedelta(seconds=0.1),
        jitter=timedelta(0),
        run_round=slow_round,
        housekeeping=nothing,
    )
    scheduler.start()
    try:
        await eventually(lambda: running["done"] >= 3)
    finally:
        await scheduler.shutdown()
    assert running["most"] == 1
    assert running["now"] == 0  # the round in flight at shutdown was let finish


async def test_a_corrupt_store_stops_the_start_before_any_round(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A store with a damaged data page: Service.start raises StoreCorrupt naming the file,
    and nothing runs (no scheduler, so never ready)."""
    config = load_config(write_config(two_regions))
    path = config.storage.path
    await store_with_history(path, datetime.now(UTC) - timedelta(hours=1))
    leaves = pages_of(path, "results", kind="leaf")
    overwrite_pages(path, [leaves[len(leaves) // 2]])
    service = Service(config)
    with pytest.raises(StoreCorrupt, match=f"the store at {path} is corrupt"):
        await service.start()
    try:
        assert not service.scheduler.running
        assert "scheduler not running" in service.readiness()
        assert service.rounds_done("westeurope") == 0
    finally:
        await service.store.close()


async def test_a_stop_cancels_a_job_still_running_after_the_grace_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A round that never ends is cancelled once the grace has passed: the stop returns with
    the job over, and no error is logged for it."""
    stuck: list[asyncio.Task[object] | None] = []

    async def never_ending_round(region: str) -> None:
        stuck.append(asyncio.current_task())
        await asyncio.Event().wait()

    async def nothing() -> None:
        return None

    scheduler = RoundScheduler(
        ["westeurope"],
        interval=timedelta(hours=1),
        jitter=timedelta(0),
        run_round=never_ending_round,
        housekeeping=nothing,
    )
    scheduler.start()
    await eventually(lambda: bool(stuck))
    with structlog.testing.capture_logs() as logs:
        await asyncio.wait_for(scheduler.shutdown(grace=0.1), timeout=5)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert [e["event"] for e in logs] == ["job_cancelled_at_stop"]
    task = stuck[0]
    assert task is not None and task.done()
